/**
 * Work for a user is done as that user (issue 13, items 6 and 7), against the built example
 * server and, as the reference, Debian's sshd, with the real OpenSSH client and throwaway
 * accounts. Each attack is first shown working the naive way (what sshcast did before: the
 * server's own view of the file system, its own chdir, `setpriv --init-groups`).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadAuthorizedKeys } from '../../src/ssh/authorized-keys-file.js';
import { createAccount, type TestAccount } from '../helpers/accounts.js';
import {
  makeKey,
  requireTool,
  ssh,
  startExampleServer,
  tempDir,
  type ExampleServer,
} from '../helpers/e2e.js';
import { startSshd, type ReferenceSshd } from '../helpers/sshd.js';

let work: string;
let server: ExampleServer;
let sshd: ReferenceSshd;
const accounts: TestAccount[] = [];

function account(options?: Parameters<typeof createAccount>[0]): TestAccount {
  const a = createAccount(options);
  accounts.push(a);
  return a;
}

beforeAll(async () => {
  for (const tool of ['ssh', 'ssh-keygen', 'useradd', 'perl']) requireTool(tool);
  if (process.getuid?.() !== 0) throw new Error('these tests need root (useradd, sshd)');
  work = tempDir('as-user-');
  server = await startExampleServer({
    env: { TS_DEBUG_LOG_SSH: undefined },
    args: ['--host-key', path.join(work, 'hk'), '--dir', path.join(work, 'rec')],
  });
  sshd = await startSshd();
});

afterAll(async () => {
  await server?.stop();
  await sshd?.stop();
  for (const a of accounts) a.remove();
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

describe('authorized_keys is read with the account’s permissions', () => {
  it('a ~/.ssh pointed at a root-only directory does not tell whether a key is listed there', async () => {
    const user = account({ prefix: 'shc-k-' });
    const key = await makeKey(work, 'probe');
    // A root-only directory (0700, as /root/.ssh) that lists the key the user holds.
    const secret = path.join(work, 'root-only');
    fs.mkdirSync(secret, { mode: 0o700 });
    fs.writeFileSync(path.join(secret, 'authorized_keys'), key.pub + '\n', { mode: 0o600 });
    fs.symlinkSync(secret, path.join(user.home, '.ssh'));
    const file = path.join(user.home, '.ssh', 'authorized_keys');

    // Naive: the server's own view of the file passes every StrictModes check and lists the key.
    const naive = await loadAuthorizedKeys(file, { owners: [user.uid], stopAt: user.home });
    expect(naive.refused).toBeUndefined();
    expect(naive.keys.map((k) => k.blob.toString('base64'))).toEqual([key.pub.split(' ')[1]]);
    // The user cannot read it themselves.
    const own = execFileSync('setpriv', [
      `--reuid=${user.uid}`,
      `--regid=${user.gid}`,
      '--init-groups',
      '--',
      'sh',
      '-c',
      `cat ${file} 2>&1 || true`,
    ]).toString();
    expect(own).toMatch(/Permission denied/);

    // sshd reads the file as the user: no login.
    const ref = await ssh(sshd.port, key.file, user.name, 'echo in');
    expect(ref.stdout.toString()).toBe('');
    expect(ref.stderr).toMatch(/Permission denied \(publickey\)/);
    // sshcast likewise, and says why in its log.
    const r = await ssh(server.port, key.file, user.name, 'echo in');
    expect(r.stdout.toString()).toBe('');
    expect(r.stderr).toMatch(/Permission denied \(publickey\)/);
    expect(r.code).toBe(255);
    await server.waitFor(`cannot open ${file}: EACCES`);
    console.log(
      `root-only ~/.ssh: naive loader found ${naive.keys.length} key; sshd: ${ref.stderr.trim()}; sshcast: ${r.stderr.trim()}`,
    );
  });

  it('the account’s own readable file still logs it in, with StrictModes kept', async () => {
    const user = account({ prefix: 'shc-k-' });
    const key = await makeKey(work, 'own');
    user.authorize(key.pub);
    const r = await ssh(server.port, key.file, user.name, 'id -un');
    expect(r.stdout.toString()).toBe(`${user.name}\n`);
    // A group-writable ~/.ssh is still refused (StrictModes), as the account sees it.
    fs.chmodSync(path.join(user.home, '.ssh'), 0o770);
    try {
      const bad = await ssh(server.port, key.file, user.name, 'id -un');
      expect(bad.code).toBe(255);
      await server.waitFor(`bad modes for directory ${path.join(user.home, '.ssh')}`);
    } finally {
      fs.chmodSync(path.join(user.home, '.ssh'), 0o700);
    }
  });
});

/** A key file for every account, readable by all (0644, root's), outside any home. */
async function sharedKeys(name: string): Promise<{ file: string; keys: string; dir: string }> {
  const dir = path.join(work, name);
  fs.mkdirSync(dir, { mode: 0o755 });
  fs.chmodSync(work, 0o755);
  const key = await makeKey(dir, 'key');
  const keys = path.join(dir, 'authorized_keys');
  fs.writeFileSync(keys, key.pub + '\n', { mode: 0o644 });
  return { file: key.file, keys, dir };
}

describe('the working directory is entered as the account', () => {
  it('a home below a root-only directory: sshd and sshcast say they cannot chdir there and start in /', async () => {
    const { file, keys } = await sharedKeys('chdir');
    const locked = path.join(work, 'locked');
    fs.mkdirSync(locked, { mode: 0o700 });
    const home = path.join(locked, 'home');
    const user = account({ prefix: 'shc-d-', args: ['-d', home] });
    // Naive: the server enters the directory as root, then drops to the account.
    const naive = execFileSync(
      'setpriv',
      [`--reuid=${user.uid}`, `--regid=${user.gid}`, '--init-groups', '--', 'pwd'],
      { cwd: home, encoding: 'utf8' },
    );
    expect(naive).toBe(`${home}\n`);

    const message = `Could not chdir to home directory ${home}: Permission denied`;
    const ref = await startSshd([`AuthorizedKeysFile ${keys}`]);
    const ours = await startExampleServer({
      env: { TS_DEBUG_LOG_SSH: undefined },
      args: [
        '--host-key',
        path.join(work, 'hk2'),
        '--dir',
        path.join(work, 'rec2'),
        '--authorized-keys',
        keys,
      ],
    });
    try {
      for (const port of [ref.port, ours.port]) {
        for (const pre of [[], ['-tt']]) {
          const r = await ssh(port, file, user.name, 'pwd', { pre });
          const out = r.stdout.toString().replace(/\r/g, '');
          expect(`${r.stderr}${pre.length ? out : ''}`).toContain(message);
          // (bash, run by sshd, reads ~/.bashrc, which it cannot either)
          const lines = out
            .split('\n')
            .filter((l) => l !== '' && l !== message && !l.startsWith('bash: '));
          expect(lines, `${port === ref.port ? 'sshd' : 'sshcast'} ${pre}`).toEqual(['/']);
        }
      }
    } finally {
      await ref.stop();
      await ours.stop();
    }
  });
});

describe('supplementary groups come from the login name', () => {
  it('a second name on a uid gets its own groups, not the first name’s', async () => {
    const groups = [
      `shc-ga${Math.random().toString(36).slice(2, 7)}`,
      `shc-gb${Math.random().toString(36).slice(2, 7)}`,
    ];
    for (const g of groups) execFileSync('groupadd', [g]);
    try {
      const first = account({ prefix: 'shc-u1-', args: ['-G', groups[0]!] });
      const second = account({
        prefix: 'shc-u2-',
        args: ['-o', '-u', String(first.uid), '-G', groups[1]!],
      });
      const key = await makeKey(work, 'second');
      second.authorize(key.pub);
      // Its own primary group and the group it was given (`id -G NAME` would not do: it takes
      // the primary group of the uid's first name).
      const own = [second.name, groups[1]!].sort();
      // Naive: setpriv --init-groups looks the name up by uid, and finds the first.
      const naive = execFileSync(
        'setpriv',
        [`--reuid=${second.uid}`, `--regid=${second.gid}`, '--init-groups', '--', 'id', '-Gn'],
        { encoding: 'utf8' },
      );
      expect(naive.trim().split(' ')).toContain(groups[0]);
      expect(naive.trim().split(' ')).not.toContain(groups[1]);

      for (const port of [sshd.port, server.port]) {
        for (const pre of [[], ['-tt']]) {
          const r = await ssh(port, key.file, second.name, 'id -Gn', { pre });
          expect(
            r.stdout.toString().trim().split(' ').sort(),
            `${port === sshd.port ? 'sshd' : 'sshcast'} ${pre}`,
          ).toEqual(own);
        }
      }
    } finally {
      for (const a of accounts.splice(0)) a.remove();
      for (const g of groups) execFileSync('groupdel', [g], { stdio: 'ignore' });
    }
  });
});
