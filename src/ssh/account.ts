/**
 * Local accounts, looked up by name through the system account database (NSS, via `getent`), so
 * LDAP or sssd accounts work as they do for sshd.
 */
import { execFile } from 'node:child_process';
import { SshcastError } from '../errors.js';

/** A local device account. */
export interface Account {
  /** The login name, exactly as the account database spells it. */
  name: string;
  uid: number;
  gid: number;
  home: string;
  shell: string;
}

// What getent and sshd accept as a login name; rejects uids, options and path tricks up front.
const NAME = /^[A-Za-z_][A-Za-z0-9_.-]{0,31}\$?$/;

/** Whether `name` has the shape of a login name (not a number, not an option). */
export function isValidAccountName(name: string): boolean {
  return NAME.test(name);
}

/** Parses one `getent passwd` line. */
export function parsePasswdLine(line: string): Account | undefined {
  const f = line.replace(/\n$/, '').split(':');
  if (f.length < 7) return undefined;
  const uid = Number(f[2]);
  const gid = Number(f[3]);
  if (!Number.isInteger(uid) || !Number.isInteger(gid) || uid < 0 || gid < 0) return undefined;
  return { name: f[0]!, uid, gid, home: f[5] || '/', shell: f[6] || '/bin/sh' };
}

/**
 * Looks an account up by name. Resolves undefined when there is no such account, or when the
 * database answers with a different name (`getent passwd 0` answers root: a lookup by name must
 * find exactly that name).
 */
export function lookupAccount(name: string): Promise<Account | undefined> {
  if (!isValidAccountName(name)) return Promise.resolve(undefined);
  return new Promise((resolve) => {
    execFile(
      'getent',
      ['passwd', '--', name],
      { timeout: 10_000, maxBuffer: 64 * 1024 },
      (err, stdout) => {
        if (err) return resolve(undefined);
        const account = parsePasswdLine(stdout.split('\n')[0] ?? '');
        resolve(account && account.name === name ? account : undefined);
      },
    );
  });
}

function noAccount(uid: number): SshcastError {
  return new SshcastError('ERR_ACCOUNT_LOOKUP', `no account for uid ${uid}`);
}

/** The account this process runs as. */
export async function currentAccount(): Promise<Account> {
  const uid = process.getuid?.() ?? 0;
  const out = await new Promise<string>((resolve, reject) =>
    execFile('getent', ['passwd', String(uid)], { timeout: 10_000 }, (err, stdout) =>
      err ? reject(noAccount(uid)) : resolve(stdout),
    ),
  );
  const account = parsePasswdLine(out.split('\n')[0] ?? '');
  if (!account) throw noAccount(uid);
  return account;
}
