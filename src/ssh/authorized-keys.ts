/**
 * authorized_keys as OpenSSH writes and reads it: parsing (options, key types, comments), the
 * `from=` address patterns, and loading the file with sshd's StrictModes checks, without ever
 * blocking the event loop on a FIFO or reading an unbounded file.
 */
import { constants as fsc } from 'node:fs';
import { open, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import net from 'node:net';
import ssh2 from 'ssh2';
import type { ParsedKey } from 'ssh2';
import type { KeyOptions } from './identity.js';

/** A file larger than this is refused (sshd reads line by line; we read the file whole). */
export const MAX_AUTHORIZED_KEYS_BYTES = 1024 * 1024;

/** One usable key line of an authorized_keys file. */
export interface AuthorizedKey {
  /** 1-based line number in the file, for log lines. */
  line: number;
  /** The key type as written (`ssh-ed25519`, `ssh-rsa`, …). */
  type: string;
  /** The comment after the key, if any. */
  comment: string;
  /** The parsed public key. */
  key: ParsedKey;
  /** The public key blob in SSH wire format, compared with what the client offers. */
  blob: Buffer;
  /** What the session must honour. */
  options: KeyOptions;
  /** `from="…"`: the client address must match this pattern list; undefined for any address. */
  from?: string;
  /** `expiry-time="…"`: the key is refused at and after this time (ms since the epoch). */
  expiresAt?: number;
}

/** Logs one line of warning about the file; auth passes its logger here. */
export type WarnFn = (msg: string) => void;

const KEY_TYPES = new Set([
  'ssh-ed25519',
  'ssh-rsa',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
]);

// Types OpenSSH knows but ssh2 cannot verify (or modern sshd refuses): the line is skipped with a warning.
const UNSUPPORTED_KEY_TYPES = new Set([
  'sk-ssh-ed25519@openssh.com',
  'sk-ecdsa-sha2-nistp256@openssh.com',
  'ssh-dss',
  'ssh-ed25519-cert-v01@openssh.com',
  'ssh-rsa-cert-v01@openssh.com',
  'ecdsa-sha2-nistp256-cert-v01@openssh.com',
  'ecdsa-sha2-nistp384-cert-v01@openssh.com',
  'ecdsa-sha2-nistp521-cert-v01@openssh.com',
  'sk-ssh-ed25519-cert-v01@openssh.com',
  'sk-ecdsa-sha2-nistp256-cert-v01@openssh.com',
  'ssh-dss-cert-v01@openssh.com',
]);

/**
 * Key options and what happens to them. `honoured`: enforced (or, for the forwarding options,
 * satisfied because sshcast offers no forwarding, agent, X11 or rc at all). Every other option,
 * including `cert-authority`, `principals`, `tunnel`, `permitopen`, `permitlisten` and any
 * unknown name, makes the whole line skipped with a warning.
 */
export const KEY_OPTIONS = {
  honoured: [
    'command',
    'environment',
    'expiry-time',
    'from',
    'no-agent-forwarding',
    'no-port-forwarding',
    'no-pty',
    'no-user-rc',
    'no-x11-forwarding',
    'pty',
    'restrict',
  ],
  skipped: [
    'agent-forwarding',
    'cert-authority',
    'no-touch-required',
    'permitlisten',
    'permitopen',
    'port-forwarding',
    'principals',
    'tunnel',
    'user-rc',
    'verify-required',
    'x11-forwarding',
  ],
} as const;

const VALUE_OPTIONS = new Set<string>(['command', 'environment', 'expiry-time', 'from']);
/** The honoured options that take no value. */
const FLAG_OPTIONS = new Set<string>(KEY_OPTIONS.honoured.filter((o) => !VALUE_OPTIONS.has(o)));
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

class LineError extends Error {}

/**
 * Splits the options field of a line (everything before the key type) into `name[=value]`
 * pieces, as OpenSSH does: commas separate options except inside double quotes, where `\"`
 * stands for a quote. Returns the options and where the key type starts.
 */
function splitOptions(s: string): { opts: { name: string; value?: string }[]; rest: string } {
  const opts: { name: string; value?: string }[] = [];
  let i = 0;
  for (;;) {
    const m = /^[A-Za-z0-9_-]+/.exec(s.slice(i));
    if (!m) throw new LineError(`bad option syntax at "${s.slice(i, i + 20)}"`);
    const name = m[0].toLowerCase();
    i += m[0].length;
    let value: string | undefined;
    if (s[i] === '=') {
      i++;
      if (s[i] !== '"') throw new LineError(`option ${name} needs a quoted value`);
      i++;
      let v = '';
      for (;;) {
        if (i >= s.length) throw new LineError(`unterminated quote in option ${name}`);
        const c = s[i]!;
        if (c === '\\' && s[i + 1] === '"') {
          v += '"';
          i += 2;
        } else if (c === '"') {
          i++;
          break;
        } else {
          v += c;
          i++;
        }
      }
      value = v;
    }
    opts.push(value === undefined ? { name } : { name, value });
    if (s[i] === ',') {
      i++;
      continue;
    }
    if (s[i] === ' ' || s[i] === '\t') break;
    throw new LineError(`bad option syntax after ${name}`);
  }
  return { opts, rest: s.slice(i).replace(/^[ \t]+/, '') };
}

// OpenSSH's expiry-time: YYYYMMDD[HHMM[SS]], local time unless it ends in Z (UTC).
function parseExpiry(v: string): number {
  const m = /^(\d{4})(\d{2})(\d{2})(?:(\d{2})(\d{2})(\d{2})?)?(Z?)$/.exec(v);
  if (!m) throw new LineError(`bad expiry-time "${v}"`);
  const [y, mo, d, h = '0', mi = '0', se = '0'] = m.slice(1, 7).map((x) => x ?? '0') as string[];
  const parts = [Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(se)] as const;
  const t = m[7] ? Date.UTC(...parts) : new Date(...parts).getTime();
  if (!Number.isFinite(t)) throw new LineError(`bad expiry-time "${v}"`);
  return t;
}

function applyOptions(
  opts: { name: string; value?: string }[],
): Pick<AuthorizedKey, 'options' | 'from' | 'expiresAt'> {
  const options: KeyOptions = {};
  let from: string | undefined;
  let expiresAt: number | undefined;
  let restrict = false;
  let pty = false;
  let noPty = false;
  const seen = new Set<string>();
  for (const { name, value } of opts) {
    if (FLAG_OPTIONS.has(name)) {
      if (value !== undefined) throw new LineError(`option ${name} takes no value`);
    } else if (VALUE_OPTIONS.has(name)) {
      if (value === undefined) throw new LineError(`option ${name} needs a value`);
      if (name !== 'environment' && seen.has(name)) throw new LineError(`duplicate ${name} option`);
    } else {
      throw new LineError(`unsupported option "${name}"`);
    }
    seen.add(name);
    switch (name) {
      case 'restrict':
        restrict = true;
        break;
      case 'pty':
        pty = true;
        break;
      case 'no-pty':
        noPty = true;
        break;
      case 'command':
        options.command = value!;
        break;
      case 'from':
        from = value!;
        break;
      case 'expiry-time':
        expiresAt = parseExpiry(value!);
        break;
      case 'environment': {
        const eq = value!.indexOf('=');
        const envName = eq > 0 ? value!.slice(0, eq) : '';
        if (!ENV_NAME.test(envName)) throw new LineError(`bad environment "${value}"`);
        options.environment ??= {};
        // sshd keeps the first value given for a name.
        if (!(envName in options.environment)) options.environment[envName] = value!.slice(eq + 1);
        break;
      }
      // The no-*-forwarding and no-user-rc flags remove what sshcast never offers.
    }
  }
  if (restrict) options.restrict = true;
  if (noPty || (restrict && !pty)) options.noPty = true;
  const out: Pick<AuthorizedKey, 'options' | 'from' | 'expiresAt'> = { options };
  if (from !== undefined) out.from = from;
  if (expiresAt !== undefined) out.expiresAt = expiresAt;
  return out;
}

/**
 * Parses one line. Returns undefined for blank and comment lines; throws LineError (with the
 * reason) for a line that must be skipped.
 */
function parseLine(text: string, line: number): AuthorizedKey | undefined {
  let s = text.replace(/^[ \t]+/, '').replace(/[\r\n]+$/, '');
  if (s === '' || s.startsWith('#')) return undefined;
  let opts: { name: string; value?: string }[] = [];
  const first = /^\S+/.exec(s)![0];
  if (!KEY_TYPES.has(first) && !UNSUPPORTED_KEY_TYPES.has(first)) {
    ({ opts, rest: s } = splitOptions(s));
  }
  const m = /^(\S+)[ \t]+([A-Za-z0-9+/=]+)(?:[ \t]+(.*))?$/.exec(s);
  if (!m) throw new LineError('no key type and key');
  const [, type, b64, comment = ''] = m as unknown as [string, string, string, string?];
  if (UNSUPPORTED_KEY_TYPES.has(type)) throw new LineError(`key type ${type} is not supported`);
  if (!KEY_TYPES.has(type)) throw new LineError(`unknown key type "${type.slice(0, 40)}"`);
  const parsed = ssh2.utils.parseKey(`${type} ${b64}`);
  if (parsed instanceof Error || Array.isArray(parsed)) throw new LineError('key does not parse');
  if (parsed.type !== type) throw new LineError(`key is ${parsed.type}, not ${type}`);
  return {
    line,
    type,
    comment: comment.trim(),
    key: parsed,
    blob: parsed.getPublicSSH(),
    ...applyOptions(opts),
  };
}

/**
 * Parses authorized_keys text. Blank lines and `#` comments are ignored; every line that cannot
 * be used exactly as sshd would (an unknown or unsupported option, an unsupported key type, a
 * syntax error) is skipped and reported through `warn` with its line number, never silently.
 */
export function parseAuthorizedKeys(
  text: string,
  warn: WarnFn = () => {},
  source = 'authorized_keys',
): AuthorizedKey[] {
  const keys: AuthorizedKey[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    try {
      const k = parseLine(lines[i]!, i + 1);
      if (k) keys.push(k);
    } catch (err) {
      if (!(err instanceof LineError)) throw err;
      warn(`${source}:${i + 1}: key skipped: ${err.message}`);
    }
  }
  return keys;
}

// OpenSSH's match_pattern: `*` any run, `?` one character; case-insensitive for hosts.
function globMatch(s: string, pattern: string): boolean {
  const re = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${re}$`, 'i').test(s);
}

function cidrMatch(ip: string, cidr: string): boolean | undefined {
  const [addr, bitsText] = cidr.split('/') as [string, string];
  const family = net.isIP(addr);
  const bits = Number(bitsText);
  if (!family || !/^\d+$/.test(bitsText) || bits > (family === 4 ? 32 : 128)) return undefined;
  if (net.isIP(ip) !== family) return false;
  const list = new net.BlockList();
  list.addSubnet(addr, bits, family === 4 ? 'ipv4' : 'ipv6');
  return list.check(ip, family === 4 ? 'ipv4' : 'ipv6');
}

/** The client address as sshd sees it: an IPv4-mapped IPv6 address becomes plain IPv4. */
export function normalizeAddress(ip: string): string {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  return m ? m[1]! : ip;
}

/**
 * Whether a client address matches a `from=` pattern list, with sshd's rules: entries are
 * comma-separated wildcard patterns (`*`, `?`) or CIDR blocks, `!` negates; a negated match
 * refuses outright, otherwise one positive match is needed. A malformed CIDR entry refuses.
 * Host names are not resolved (sshd's UseDNS is off by default), so only addresses match.
 */
export function matchFrom(ip: string, patternList: string): boolean {
  const addr = normalizeAddress(ip);
  let positive = false;
  for (const raw of patternList.split(',')) {
    const negated = raw.startsWith('!');
    const pattern = negated ? raw.slice(1) : raw;
    if (pattern === '') continue;
    const hit = pattern.includes('/') ? cidrMatch(addr, pattern) : globMatch(addr, pattern);
    if (hit === undefined) return false;
    if (hit && negated) return false;
    if (hit) positive = true;
  }
  return positive;
}

/** Who may own the file and the directories leading to it, and where the directory walk stops. */
export interface OwnershipPolicy {
  /** Allowed owners (uids); root is always allowed. */
  owners: number[];
  /** Stop the directory walk after this directory (the account's home); otherwise walk to `/`. */
  stopAt?: string;
}

/** Why a file was refused, for a log line; undefined when it was read. */
export interface LoadResult {
  keys: AuthorizedKey[];
  /** Set when the file exists but was refused (unsafe, not a regular file, too big). */
  refused?: string;
}

/** An open authorized_keys file, as the loader uses it (node's FileHandle is one). */
export interface KeysFileHandle {
  stat(): Promise<{ uid: number; mode: number; size: number; isFile(): boolean }>;
  read(
    buf: Buffer,
    offset: number,
    length: number,
    position: number,
  ): Promise<{ bytesRead: number }>;
  close(): Promise<void>;
}

/**
 * The file system calls the loader makes: by default the server's own (`node:fs/promises`);
 * keys-as-user.ts answers them from what the account itself could see.
 */
export interface KeysFileSystem {
  open(file: string, flags: number): Promise<KeysFileHandle>;
  realpath(p: string): Promise<string>;
  stat(p: string): Promise<{ uid: number; mode: number }>;
}

const SERVER_FS: KeysFileSystem = { open, realpath, stat };

function ownerOk(uid: number, owners: number[]): boolean {
  return uid === 0 || owners.includes(uid);
}

async function checkDirectories(
  file: string,
  policy: OwnershipPolicy,
  io: KeysFileSystem,
): Promise<string | undefined> {
  let dir = await io.realpath(path.dirname(file));
  const stopAt = policy.stopAt
    ? await io.realpath(policy.stopAt).catch(() => undefined)
    : undefined;
  for (let depth = 0; depth < 64; depth++) {
    const st = await io.stat(dir);
    if (!ownerOk(st.uid, policy.owners)) return `bad ownership of directory ${dir}`;
    if (st.mode & 0o022) return `bad modes for directory ${dir} (writable by group or others)`;
    if (dir === stopAt || dir === '/') return undefined;
    dir = path.dirname(dir);
  }
  return `directory path of ${file} too deep`;
}

/**
 * Reads an authorized_keys file with sshd's StrictModes checks, never blocking: it is opened
 * with O_NOFOLLOW|O_NONBLOCK (a symlink is refused, a FIFO opens at once), then must be a regular
 * file of at most MAX_AUTHORIZED_KEYS_BYTES, owned by root or one of `policy.owners`, not
 * writable by group or others; each directory up to `policy.stopAt` (or `/`) likewise. A missing
 * file gives no keys and no `refused`; any other problem gives no keys and the reason. `io` is
 * whose view of the file system is checked (the server's own by default).
 */
export async function loadAuthorizedKeys(
  file: string,
  policy: OwnershipPolicy,
  warn: WarnFn = () => {},
  io: KeysFileSystem = SERVER_FS,
): Promise<LoadResult> {
  let fh;
  try {
    fh = await io.open(file, fsc.O_RDONLY | fsc.O_NOFOLLOW | fsc.O_NONBLOCK | fsc.O_NOCTTY);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return { keys: [] };
    if (code === 'ELOOP') return { keys: [], refused: `${file} is a symbolic link` };
    return { keys: [], refused: `cannot open ${file}: ${code ?? String(err)}` };
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) return { keys: [], refused: `${file} is not a regular file` };
    if (!ownerOk(st.uid, policy.owners)) return { keys: [], refused: `bad ownership of ${file}` };
    if (st.mode & 0o022)
      return { keys: [], refused: `bad modes for ${file} (writable by group or others)` };
    if (st.size > MAX_AUTHORIZED_KEYS_BYTES)
      return { keys: [], refused: `${file} is larger than ${MAX_AUTHORIZED_KEYS_BYTES} bytes` };
    const dirProblem = await checkDirectories(file, policy, io);
    if (dirProblem) return { keys: [], refused: dirProblem };
    // Read at most one byte past the limit, so a file growing under us is still bounded.
    const buf = Buffer.alloc(Math.min(st.size, MAX_AUTHORIZED_KEYS_BYTES) + 1);
    let n = 0;
    while (n < buf.length) {
      const { bytesRead } = await fh.read(buf, n, buf.length - n, n);
      if (bytesRead === 0) break;
      n += bytesRead;
    }
    if (n > MAX_AUTHORIZED_KEYS_BYTES)
      return { keys: [], refused: `${file} is larger than ${MAX_AUTHORIZED_KEYS_BYTES} bytes` };
    return { keys: parseAuthorizedKeys(buf.subarray(0, n).toString('utf8'), warn, file) };
  } catch (err) {
    return { keys: [], refused: `cannot read ${file}: ${(err as Error).message}` };
  } finally {
    await fh.close().catch(() => {});
  }
}
