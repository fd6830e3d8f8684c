/**
 * Public-key authentication for an ssh2 server connection, as strict as sshd's: a key admits a
 * connection only once its signature over this session is verified, the login name must be an
 * account exactly, keys come from files that pass sshd's StrictModes, failures and time are bounded.
 */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import ssh2 from 'ssh2';
import type { AuthContext, ClientInfo, Connection, ParsedKey, PublicKeyAuthContext } from 'ssh2';
import { lookupAccount, type Account } from './account.js';
import { hangUp } from './connection.js';
import type { Identity } from './identity.js';
import type { AuthorizedKey } from './authorized-keys.js';
import { loadAuthorizedKeys } from './authorized-keys-file.js';
import { matchFrom, normalizeAddress } from './from-pattern.js';
import { NOBODY, loadAuthorizedKeysAs } from './keys-as-user.js';
import { checkLogin, pamServiceOf, refuseChannels } from './login.js';
import type { PamOptions } from './pam.js';
import { defaultLog, type Logger } from '../log.js';

/** sshd's MaxAuthTries default. */
export const DEFAULT_MAX_AUTH_ATTEMPTS = 6;
/** sshd's LoginGraceTime default, in milliseconds. */
export const DEFAULT_AUTH_TIMEOUT_MS = 120_000;

/** How `authenticate` decides. */
export interface AuthOptions {
  /**
   * One authorized_keys file for every account, as sshd's `AuthorizedKeysFile` set to one
   * absolute path. It must be owned by root or the server's user. Without it, each account's
   * own `~/.ssh/authorized_keys` is used.
   */
  authorizedKeysFile?: string;
  /** Failed attempts (wrong or unauthorized keys, other methods) before disconnecting; default 6. */
  maxAttempts?: number;
  /** Time to finish authenticating before disconnecting, in ms; default 120000. */
  timeoutMs?: number;
  /** Receives one line per refusal, warning and login. Default: stderr ({@link defaultLog}). */
  log?: Logger;
  /** Account lookup; default `lookupAccount` (tests replace it). */
  lookup?: (name: string) => Promise<Account | undefined>;
  /** The uid the server runs as; default `process.getuid()`. Not root: only that account logs in. */
  serverUid?: number;
  /**
   * PAM: once a key is verified, the account stage of this service (default `sshcast`) decides
   * whether the login happens; its sessions then run PAM's session stage. `false`: no PAM.
   */
  pam?: PamOptions | false;
}

function serverUidOf(options: AuthOptions): number {
  return options.serverUid ?? process.getuid?.() ?? 0;
}

/**
 * One line saying which accounts this server can log in, for the host to print at start: all
 * accounts when running as root, else only its own.
 */
export function describeAuthPolicy(
  options: Pick<AuthOptions, 'authorizedKeysFile' | 'serverUid'> = {},
): string {
  const uid = serverUidOf(options);
  const who =
    uid === 0
      ? 'any local account'
      : `only this server's own account (uid ${uid}); run as root to serve other accounts`;
  const keys = options.authorizedKeysFile
    ? `keys from ${options.authorizedKeysFile}`
    : "keys from each account's ~/.ssh/authorized_keys";
  return `authentication: public key only, ${who}, ${keys}`;
}

// Stands in for a missing account (as sshd's fake "NOUSER" passwd entry does).
const NO_ACCOUNT: Account = {
  name: 'NOUSER',
  uid: -1,
  gid: -1,
  home: '/nonexistent',
  shell: '/bin/false',
};

function loadKeysFor(account: Account, options: AuthOptions, warn: (m: string) => void) {
  const serverUid = serverUidOf(options);
  if (options.authorizedKeysFile) {
    return loadAuthorizedKeys(options.authorizedKeysFile, { owners: [serverUid] }, warn);
  }
  const file = path.join(account.home, '.ssh', 'authorized_keys');
  const policy = { owners: [account.uid], stopAt: account.home };
  // As root, the account's own file is read as the account (sshd's temporarily_use_uid).
  if (serverUid === 0)
    return loadAuthorizedKeysAs(account === NO_ACCOUNT ? NOBODY : account, file, policy, warn);
  return loadAuthorizedKeys(file, policy, warn);
}

/**
 * Authenticates one ssh2 server connection. Attaches the connection's `authentication` handler
 * and resolves the Identity once a public key that the account authorizes has proven itself by
 * a signature over this session (an unsigned query only gets "this key would do"). Resolves
 * undefined, and ends the connection, after `maxAttempts` failures, after `timeoutMs`, or when
 * the client goes away first. Only `publickey` is offered. An unknown account, a numeric or
 * malformed login name, or (on a server not running as root) any account but the server's own
 * gets the same answer as a wrong key. Once a key has proven itself, PAM's account stage
 * (`options.pam`, service `sshcast` by default) decides whether the login happens: a refused one
 * resolves undefined, and each session channel it opens is told why on stderr and exits 1. Call
 * it from the server's `connection` listener.
 */
export function authenticate(
  client: Connection,
  info: ClientInfo,
  options: AuthOptions = {},
): Promise<Identity | undefined> {
  const maxAttempts = options.maxAttempts ?? DEFAULT_MAX_AUTH_ATTEMPTS;
  const timeoutMs = options.timeoutMs ?? DEFAULT_AUTH_TIMEOUT_MS;
  const log = options.log ?? defaultLog;
  const lookup = options.lookup ?? lookupAccount;
  const serverUid = serverUidOf(options);
  pamServiceOf(options.pam); // a PAM service name PAM cannot use is the host's error, at once
  const peer = `${normalizeAddress(info.ip)}:${info.port}`;

  // Per connection and login name: the account and its keys, looked up once.
  let cached:
    { name: string; result: Promise<{ account?: Account; keys: AuthorizedKey[] }> } | undefined;
  const accountAndKeys = (name: string) => {
    if (cached?.name !== name) {
      cached = {
        name,
        result: (async () => {
          const account = await lookup(name);
          if (!account || (serverUid !== 0 && account.uid !== serverUid)) {
            log(
              account
                ? `auth: ${peer}: account "${name}" refused: a server not running as root serves only its own account`
                : `auth: ${peer}: no account "${printable(name)}"`,
            );
            // Read a key file anyway, as for a real account, and use none of it: the answer
            // and (roughly) the time must not tell whether the account exists.
            await loadKeysFor(NO_ACCOUNT, options, () => {});
            return { keys: [] };
          }
          const warn = (m: string) => log(`auth: ${m}`);
          const { keys, refused } = await loadKeysFor(account, options, warn);
          if (refused) log(`auth: authorized keys refused: ${refused}`);
          // sshd's allowed_user(): an account whose shell is missing or not executable is refused.
          if (!(await isExecutable(account.shell))) {
            log(
              `auth: ${peer}: account "${name}" refused: shell ${account.shell} is not executable`,
            );
            return { keys: [] };
          }
          return { account, keys };
        })(),
      };
    }
    return cached.result;
  };

  return new Promise((resolve) => {
    let done = false;
    let failures = 0;
    const finish = (identity: Identity | undefined) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      client.removeListener('authentication', onAuth);
      client.removeListener('close', onClose);
      resolve(identity);
    };
    const fail = (why: string) => {
      finish(undefined);
      log(`auth: ${peer}: ${why}; disconnecting`);
      hangUp(client);
    };
    const timer = setTimeout(() => fail(`not authenticated within ${timeoutMs} ms`), timeoutMs);
    timer.unref?.();
    const onClose = () => finish(undefined);

    const refuse = (ctx: AuthContext, counts: boolean) => {
      if (done) return;
      if (counts) failures++;
      if (counts && failures >= maxAttempts) {
        fail(`too many authentication failures (${failures})`);
        return;
      }
      ctx.reject(['publickey']);
    };

    const onAuth = (ctx: AuthContext) => {
      if (done) return;
      if (ctx.method !== 'publickey') {
        // `none` is how a client asks which methods exist; sshd does not count it either.
        refuse(ctx, ctx.method !== 'none');
        return;
      }
      void checkKey(ctx).catch((err: unknown) => {
        log(`auth: ${peer}: error: ${(err as Error).message}`);
        refuse(ctx, true);
      });
    };

    const checkKey = async (ctx: PublicKeyAuthContext) => {
      const { account, keys } = await accountAndKeys(ctx.username);
      if (done) return;
      // The same work whether or not the account exists: parse the offered key, look for it,
      // and verify any signature with it.
      const offered = parseOffered(ctx.key.data);
      const now = Date.now();
      // As sshd: the first line with this key whose own restrictions (from=, expiry-time) pass.
      let entry: AuthorizedKey | undefined;
      for (const k of keys) {
        if (!k.blob.equals(ctx.key.data)) continue;
        if (k.expiresAt !== undefined && now >= k.expiresAt) {
          log(`auth: ${peer}: key at line ${k.line} expired`);
        } else if (k.from !== undefined && !matchFrom(info.ip, k.from)) {
          log(
            `auth: ${peer}: key at line ${k.line} not allowed from this address (from="${k.from}")`,
          );
        } else {
          entry = k;
          break;
        }
      }
      // The algorithm named must be the key's own (rsa-sha2-* arrive as ssh-rsa).
      let usable = entry !== undefined && offered !== undefined && offered.type === ctx.key.algo;
      // OpenSSH 8.8 and later refuse RSA signatures made with SHA-1 (`ssh-rsa`).
      if (entry && entry.type === 'ssh-rsa' && !ctx.hashAlgo) {
        log(`auth: ${peer}: ssh-rsa (SHA-1) signature refused; use rsa-sha2-256 or rsa-sha2-512`);
        usable = false;
      }
      if (!ctx.signature || !ctx.blob) {
        if (usable)
          ctx.accept(); // PK_OK: "this key would do"; admits nothing by itself
        else refuse(ctx, true);
        return;
      }
      const verified = offered ? safeVerify(offered, ctx.blob, ctx.signature, ctx.hashAlgo) : false;
      if (usable && verified && account && entry) {
        const key = `${entry.type} key (line ${entry.line}${entry.comment ? `, ${printable(entry.comment)}` : ''})`;
        // A login as the system defines it: PAM's account stage, before any channel.
        const verdict = await checkLogin(account, normalizeAddress(info.ip), options.pam);
        if (done) return;
        if ('refusal' in verdict) {
          log(
            `auth: ${peer}: ${key} for ${account.name} verified; login refused by ${verdict.reason}`,
          );
          finish(undefined);
          ctx.accept();
          refuseChannels(client, verdict.refusal, () => hangUp(client));
          return;
        }
        log(`auth: ${peer}: accepted ${key} for ${account.name}`);
        finish({ account, keyOptions: entry.options, login: verdict.login });
        ctx.accept();
        return;
      }
      if (usable && !verified) log(`auth: ${peer}: bad signature for ${ctx.username}`);
      refuse(ctx, true);
    };

    client.on('authentication', onAuth);
    client.once('close', onClose);
  });
}

async function isExecutable(file: string): Promise<boolean> {
  try {
    const st = await stat(file);
    return st.isFile() && (st.mode & 0o111) !== 0;
  } catch {
    return false;
  }
}

function parseOffered(blob: Buffer): ParsedKey | undefined {
  const k = ssh2.utils.parseKey(blob);
  if (k instanceof Error || Array.isArray(k)) return undefined;
  return k;
}

function safeVerify(key: ParsedKey, data: Buffer, sig: Buffer, hashAlgo?: string): boolean {
  try {
    return key.verify(data, sig, hashAlgo) === true;
  } catch {
    return false;
  }
}

function printable(s: string): string {
  return s.replace(/[^\x20-\x7e]/g, '?').slice(0, 64);
}
