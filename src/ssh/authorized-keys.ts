/**
 * authorized_keys lines as OpenSSH writes and reads them: key types, options (honoured or the
 * line skipped with a warning, never silently ignored) and comments. Reading the file is
 * authorized-keys-file.ts; the `from=` patterns are from-pattern.ts.
 */
import ssh2 from 'ssh2';
import type { ParsedKey } from 'ssh2';
import type { KeyOptions } from './identity.js';

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
