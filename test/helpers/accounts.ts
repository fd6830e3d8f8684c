/**
 * Throwaway local accounts for tests that log in as someone other than root: made with useradd
 * under a random name, removed (with their home, group and any process left) by `remove()`.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

/** A throwaway account. */
export interface TestAccount {
  name: string;
  uid: number;
  gid: number;
  home: string;
  /** Writes `lines` as the account's own ~/.ssh/authorized_keys (0600, .ssh 0700, its own). */
  authorize(...lines: string[]): void;
  /** Kills what it left running and deletes it, its home and its group. */
  remove(): void;
}

/** A random name of at most 32 characters that starts with `prefix`. */
export function randomName(prefix: string): string {
  return `${prefix}${Math.random().toString(36).slice(2, 8)}`.slice(0, 32);
}

/**
 * Creates an account with useradd: a home of its own, `shell` (default /bin/bash), and any
 * further useradd arguments (`['-o', '-u', '1234']` for a second name on a uid).
 */
export function createAccount(
  options: { prefix?: string; shell?: string; args?: string[] } = {},
): TestAccount {
  if (process.getuid?.() !== 0) throw new Error('throwaway accounts need root (useradd)');
  const name = randomName(options.prefix ?? 'shc-');
  execFileSync('useradd', [
    '-m',
    '-s',
    options.shell ?? '/bin/bash',
    ...(options.args ?? []),
    '--',
    name,
  ]);
  const f = execFileSync('getent', ['passwd', name], { encoding: 'utf8' }).split(':');
  const uid = Number(f[2]);
  const gid = Number(f[3]);
  const home = f[5]!;
  return {
    name,
    uid,
    gid,
    home,
    authorize(...lines) {
      const dotSsh = path.join(home, '.ssh');
      fs.mkdirSync(dotSsh, { recursive: true, mode: 0o700 });
      const file = path.join(dotSsh, 'authorized_keys');
      fs.writeFileSync(file, lines.map((l) => l + '\n').join(''), { mode: 0o600 });
      fs.chownSync(dotSsh, uid, gid);
      fs.chownSync(file, uid, gid);
    },
    remove() {
      try {
        execFileSync('pkill', ['-KILL', '-u', String(uid)], { stdio: 'ignore' });
      } catch {
        /* nothing left running */
      }
      try {
        execFileSync('userdel', ['-r', '--', name], { stdio: 'ignore' });
      } catch {
        /* already gone, or only the mail spool was missing */
      }
    },
  };
}
