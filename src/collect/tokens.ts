/**
 * The collector's tokens file: one `DEVICE TOKEN` per line (blank lines and `#` comments allowed),
 * optionally one `@metrics TOKEN` for GET /metrics and one `@read TOKEN` for reading the stored
 * copies back (GET /copies/, collect/read.ts). It must be a regular file readable by its owner
 * only (0600 or stricter): anyone who reads it can write as every device.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import { ConfigError } from '../errors.js';
import { DEVICE_PATTERN } from '../storage/layout.js';

/** The name in the tokens file whose token reads /metrics. */
export const METRICS_NAME = '@metrics';
/** The name in the tokens file whose token reads every device's stored copies (GET /copies/). */
export const READ_NAME = '@read';
const ROLES = new Set([METRICS_NAME, READ_NAME]);
/** Shorter tokens are refused: they could be guessed. */
export const MIN_TOKEN_LENGTH = 16;

/** Who a request's token belongs to. */
export interface Tokens {
  /** The device `token` belongs to, or undefined. */
  device(token: string): string | undefined;
  /** Whether `token` is the metrics token. */
  metrics(token: string): boolean;
  /** Whether `token` is the read token (never a device's: devices cannot read anything back). */
  reader(token: string): boolean;
  /** The devices named in the file. */
  readonly devices: string[];
}

const digest = (token: string) => crypto.createHash('sha256').update(token).digest('hex');

/** Parses the text of a tokens file; `file` names it in errors. */
export function parseTokens(text: string, file = 'tokens file'): Tokens {
  // Looked up by a digest of the token, so that the lookup takes no time that depends on it.
  const byDigest = new Map<string, string>();
  const names = new Set<string>();
  for (const [i, raw] of text.split('\n').entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const fields = line.split(/\s+/);
    const where = `${file} line ${i + 1}`;
    if (fields.length !== 2) throw new ConfigError(`${where}: expected "DEVICE TOKEN"`);
    const [name, token] = fields as [string, string];
    if (!ROLES.has(name) && !DEVICE_PATTERN.test(name))
      throw new ConfigError(
        `${where}: a device name is letters, digits, ".", "_" and "-" (at most 64, not starting with "." or "-")`,
      );
    if (token.length < MIN_TOKEN_LENGTH)
      throw new ConfigError(`${where}: the token is shorter than ${MIN_TOKEN_LENGTH} characters`);
    if (names.has(name)) throw new ConfigError(`${where}: ${name} is named twice`);
    if (byDigest.has(digest(token))) throw new ConfigError(`${where}: the token is used twice`);
    names.add(name);
    byDigest.set(digest(token), name);
  }
  const devices = [...names].filter((n) => !ROLES.has(n));
  if (devices.length === 0) throw new ConfigError(`${file}: no devices`);
  return {
    devices,
    device(token) {
      const name = byDigest.get(digest(token));
      return name === undefined || ROLES.has(name) ? undefined : name;
    },
    metrics(token) {
      return byDigest.get(digest(token)) === METRICS_NAME;
    },
    reader(token) {
      return byDigest.get(digest(token)) === READ_NAME;
    },
  };
}

/** Reads and checks a tokens file: a regular file, not readable or writable by group or others. */
export function loadTokens(file: string): Tokens {
  let fd: number;
  try {
    fd = fs.openSync(
      file,
      fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK,
    );
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigError(
      `tokens file ${file}: ${code === 'ENOENT' ? 'no such file' : code === 'ELOOP' ? 'is a symlink' : String(code ?? err)}`,
    );
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) throw new ConfigError(`tokens file ${file}: not a regular file`);
    if ((st.mode & 0o077) !== 0)
      throw new ConfigError(
        `tokens file ${file} is open to group or others (mode ${(st.mode & 0o777).toString(8).padStart(4, '0')}): chmod 600 ${file}`,
      );
    return parseTokens(fs.readFileSync(fd, 'utf8'), `tokens file ${file}`);
  } finally {
    fs.closeSync(fd);
  }
}

/** The token of an `Authorization: Bearer TOKEN` header, or undefined. */
export function bearer(header: string | null | undefined): string | undefined {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  return m?.[1];
}
