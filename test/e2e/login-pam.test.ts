/**
 * A login is a login as the system defines it (issue 13, item 1): PAM's account stage (expiry,
 * an expired password, pam_nologin), its session stage (pam_loginuid, pam_limits) and utmp, with
 * the real OpenSSH client against the built example server (a test-only PAM service installed
 * from the file sshcast ships) and against Debian's sshd with `UsePAM yes` as the reference.
 * Each attack is first shown working against the naive server: sshcast's sessions with no PAM,
 * as before.
 */
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import ssh2 from 'ssh2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Recorder } from '../../src/recording/recorder.js';
import { authenticate } from '../../src/ssh/auth.js';
import { generateEd25519KeyPair } from '../../src/ssh/keys.js';
import { serveSessions } from '../../src/ssh/serve.js';
import { UTMP_FILE } from '../../src/ssh/utmp.js';
import { createAccount, type TestAccount } from '../helpers/accounts.js';
import {
  makeKey,
  requireTool,
  serverJsForOthers,
  ssh,
  sshOptions,
  startExampleServer,
  tempDir,
  until,
  type ExampleServer,
} from '../helpers/e2e.js';
import { installTestPamService, type TestPamService } from '../helpers/pam.js';
import { startSshd, type ReferenceSshd } from '../helpers/sshd.js';

let work: string;
let key: { file: string; pub: string };
let pam: TestPamService;
let server: ExampleServer;
let sshd: ReferenceSshd;
let naive: { port: number; close(): void };
const accounts: TestAccount[] = [];

function account(): TestAccount {
  const a = createAccount({ prefix: 'shc-l-' });
  a.authorize(key.pub);
  accounts.push(a);
  return a;
}

/** sshcast as it was: the same session layer, no PAM, no login (in this process, on a free port). */
async function startNaive(): Promise<{ port: number; close(): void }> {
  const recorder = new Recorder({ enabled: false });
  const s = new ssh2.Server({ hostKeys: [generateEd25519KeyPair().private] }, (client, info) => {
    client.on('error', () => {});
    void authenticate(client, info, { pam: false }).then((identity) => {
      if (!identity) return;
      const { account, keyOptions } = identity;
      serveSessions(client, { identity: { account, keyOptions }, recorder, log: () => {} });
    });
  });
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  return { port: (s.address() as AddressInfo).port, close: () => s.close() };
}

/** Every line the client printed, for comparing what sshd and sshcast tell the user. */
function said(r: { stdout: Buffer; stderr: string }): string[] {
  return (r.stdout.toString() + r.stderr)
    .split(/\r?\n/)
    .filter(
      (l) => l !== '' && !/^(Connection (to|closed by) |Warning: Permanently added )/.test(l),
    );
}

const INFO = ['-o', 'LogLevel=INFO'];

beforeAll(async () => {
  for (const tool of ['ssh', 'ssh-keygen', 'useradd', 'usermod', 'chage', 'perl'])
    requireTool(tool);
  if (process.getuid?.() !== 0) throw new Error('these tests need root (useradd, PAM, sshd)');
  work = tempDir('login-');
  key = await makeKey(work);
  pam = installTestPamService();
  server = await startExampleServer({
    env: { TS_DEBUG_LOG_SSH: '1' },
    args: [
      '--host-key',
      path.join(work, 'hk'),
      '--dir',
      path.join(work, 'rec'),
      '--pam-service',
      pam.name,
    ],
  });
  sshd = await startSshd();
  naive = await startNaive();
});

afterAll(async () => {
  await server?.stop();
  await sshd?.stop();
  naive?.close();
  for (const a of accounts) a.remove();
  pam?.remove();
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

describe('the account stage, before any channel', () => {
  it('says at start which PAM service it uses', () => {
    expect(server.output()).toContain(`PAM: service ${pam.name} (/etc/pam.d/${pam.name})`);
  });

  it('an expired account: naive lets it in; sshd and sshcast refuse it with PAM’s message', async () => {
    const user = account();
    execFileSync('usermod', ['--expiredate', '1', user.name]);
    const before = await ssh(naive.port, key.file, user.name, 'echo in');
    expect(before.stdout.toString()).toBe('in\n');

    const message = 'Your account has expired; please contact your system administrator.';
    const ref = await ssh(sshd.port, key.file, user.name, 'echo in', { pre: INFO });
    expect(said(ref)).toContain(message);
    expect(ref.stdout.toString()).toBe('');
    const recordings = fs.existsSync(path.join(work, 'rec'))
      ? fs.readdirSync(path.join(work, 'rec')).length
      : 0;
    for (const pre of [[], ['-tt']]) {
      const r = await ssh(server.port, key.file, user.name, 'echo in', { pre: [...INFO, ...pre] });
      expect(said(r)).toEqual([message]);
      expect(r.code).toBe(1);
    }
    await server.waitFor(`for ${user.name} verified; login refused by PAM (service ${pam.name})`);
    // No session ran, so nothing was recorded.
    expect(
      fs.existsSync(path.join(work, 'rec')) ? fs.readdirSync(path.join(work, 'rec')) : [],
    ).toHaveLength(recordings);
    console.log(
      `expired: naive ${JSON.stringify(said(before))}; sshd ${JSON.stringify(said(ref))} (exit ${ref.code}); sshcast ${JSON.stringify([message])} (exit 1)`,
    );
  });

  it('an expired password (PAM_NEW_AUTHTOK_REQD) is refused with its message', async () => {
    const user = account();
    execFileSync('chage', ['-d', '0', user.name]);
    const before = await ssh(naive.port, key.file, user.name, 'echo in');
    expect(before.stdout.toString()).toBe('in\n');
    const ref = await ssh(sshd.port, key.file, user.name, 'echo in', { pre: INFO });
    expect(ref.stdout.toString()).toBe('');
    expect(said(ref)).toContain('WARNING: Your password has expired.');
    const r = await ssh(server.port, key.file, user.name, 'echo in', { pre: INFO });
    expect(r.code).toBe(1);
    expect(r.stdout.toString()).toBe('');
    expect(said(r)).toEqual([
      'You are required to change your password immediately (administrator enforced).',
      'WARNING: Your password has expired.',
      'Password change required, and this server cannot change passwords: change it another way, then log in again.',
    ]);
    console.log(
      `expired password: sshd ${JSON.stringify(said(ref))}; sshcast ${JSON.stringify(said(r))}`,
    );
  });

  it('pam_nologin: while the nologin file exists, its text and no login', async () => {
    const user = account();
    const text = `down for maintenance (${path.basename(pam.nologin)})`;
    fs.writeFileSync(pam.nologin, text + '\n');
    try {
      const before = await ssh(naive.port, key.file, user.name, 'echo in');
      expect(before.stdout.toString()).toBe('in\n');
      const r = await ssh(server.port, key.file, user.name, 'echo in', { pre: INFO });
      expect(said(r)).toEqual([text]);
      expect(r.code).toBe(1);
    } finally {
      fs.rmSync(pam.nologin, { force: true });
    }
    const after = await ssh(server.port, key.file, user.name, 'echo in');
    expect(after.stdout.toString()).toBe('in\n');
  });

  it('pam_nologin under sshd, once, with /etc/nologin for a moment: the same text', async () => {
    if (fs.existsSync('/etc/nologin')) throw new Error('/etc/nologin exists: logins are off here');
    const user = account();
    const text = `sshd reference ${Math.random().toString(36).slice(2)}`;
    let ref;
    try {
      fs.writeFileSync('/etc/nologin', text + '\n', { flag: 'wx' });
      ref = await ssh(sshd.port, key.file, user.name, 'echo in', { pre: INFO });
    } finally {
      fs.rmSync('/etc/nologin', { force: true });
    }
    expect(ref.stdout.toString()).toBe('');
    expect(said(ref)).toEqual([text]);
  });
});

describe('the session stage, around each session', () => {
  it('pam_loginuid: /proc/self/loginuid is the account’s uid, as under sshd (unset when naive)', async () => {
    const user = account();
    const cmd = 'cat /proc/self/loginuid';
    const before = await ssh(naive.port, key.file, user.name, cmd);
    expect(before.stdout.toString()).toBe('4294967295');
    const ref = await ssh(sshd.port, key.file, user.name, cmd);
    expect(ref.stdout.toString()).toBe(String(user.uid));
    for (const pre of [[], ['-tt']]) {
      const r = await ssh(server.port, key.file, user.name, cmd, { pre });
      expect(r.stdout.toString()).toBe(String(user.uid));
    }
  });

  it('pam_limits: a limit from the service’s limits file applies to the session', async () => {
    const user = account();
    const cmd = 'ulimit -Sn; ulimit -Hn';
    const before = await ssh(naive.port, key.file, user.name, cmd);
    fs.writeFileSync(pam.limits, `${user.name} soft nofile 1234\n${user.name} hard nofile 2345\n`);
    try {
      expect(before.stdout.toString()).not.toBe('1234\n2345\n');
      const r = await ssh(server.port, key.file, user.name, cmd);
      expect(r.stdout.toString()).toBe('1234\n2345\n');
    } finally {
      fs.writeFileSync(pam.limits, '');
    }
  });
});

describe('utmp', () => {
  /** `who`'s lines for `name` (reads the system's utmp, as anyone may). */
  function who(name: string): string[] {
    return execFileSync('who', [], { encoding: 'utf8' })
      .split('\n')
      .filter((l) => l.split(/\s+/)[0] === name);
  }

  /** Opens `ssh -tt` with a shell that waits, returns once `who` shows it (or not), then ends it. */
  async function duringAndAfter(port: number, name: string, waitMs = 5_000) {
    const child = spawn(
      'ssh',
      [...sshOptions(port, key.file), '-tt', `${name}@127.0.0.1`, '--', 'echo up; read x'],
      {
        stdio: ['pipe', 'pipe', 'pipe'],
      },
    );
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    await until(() => (out.includes('up') ? true : undefined), 'the session');
    let during: string[] = [];
    try {
      during = await until(
        () => (who(name).length > 0 ? who(name) : undefined),
        'a utmp entry',
        waitMs,
      );
    } catch {
      during = [];
    }
    child.stdin.write('\n');
    await new Promise((r) => child.once('close', r));
    const after = await until(
      () => (who(name).length === 0 ? true : undefined),
      'the entry to go',
      5_000,
    ).then(
      () => who(name),
      () => who(name),
    );
    return { during, after };
  }

  it('a pty session is in utmp while it lasts, with its terminal and client address, as under sshd', async () => {
    // utmp is kept only where /var/run/utmp exists (systemd makes it at boot); make it for a moment.
    const made = !fs.existsSync(UTMP_FILE);
    if (made) {
      fs.writeFileSync(UTMP_FILE, '', { flag: 'wx' });
      fs.chmodSync(UTMP_FILE, 0o664);
      fs.chownSync(
        UTMP_FILE,
        0,
        Number(execFileSync('getent', ['group', 'utmp'], { encoding: 'utf8' }).split(':')[2]),
      );
    }
    try {
      const user = account();
      const naiveRun = await duringAndAfter(naive.port, user.name, 1_000);
      expect(naiveRun.during).toEqual([]);
      const ref = await duringAndAfter(sshd.port, user.name);
      const ours = await duringAndAfter(server.port, user.name);
      for (const run of [ref, ours]) {
        expect(run.during).toHaveLength(1);
        expect(run.during[0]).toMatch(
          new RegExp(`^${user.name}\\s+pts/\\d+\\s+.*\\(127\\.0\\.0\\.1\\)$`),
        );
        expect(run.after).toEqual([]);
      }
      console.log(
        `utmp during: sshd ${JSON.stringify(ref.during)}; sshcast ${JSON.stringify(ours.during)}`,
      );
    } finally {
      if (made) fs.rmSync(UTMP_FILE, { force: true });
    }
  });
});

describe('a server that is not root', () => {
  it('says once what it cannot do, and still runs the account stage for its own account', async () => {
    const user = account();
    const own = path.join(user.home, 'server');
    fs.mkdirSync(own, { mode: 0o700 });
    fs.writeFileSync(path.join(own, 'keys'), key.pub + '\n', { mode: 0o600 });
    execFileSync('chown', ['-R', `${user.uid}:${user.gid}`, own]);
    const reach = serverJsForOthers();
    const s = await startExampleServer({
      serverJs: reach.serverJs,
      prefix: ['setpriv', `--reuid=${user.uid}`, `--regid=${user.gid}`, '--init-groups', '--'],
      env: { TS_DEBUG_LOG_SSH: undefined },
      args: [
        '--host-key',
        path.join(own, 'hk'),
        '--authorized-keys',
        path.join(own, 'keys'),
        '--pam-service',
        pam.name,
      ],
    });
    try {
      expect(
        s
          .output()
          .match(/PAM: not root: the account stage runs for this account only; no session stage/g),
      ).toHaveLength(1);
      const ok = await ssh(s.port, key.file, user.name, 'echo in; cat /proc/self/loginuid');
      expect(ok.stdout.toString()).toBe('in\n4294967295');
      execFileSync('usermod', ['--expiredate', '1', user.name]);
      const r = await ssh(s.port, key.file, user.name, 'echo in', { pre: INFO });
      expect(said(r)).toEqual([
        'Your account has expired; please contact your system administrator.',
      ]);
      expect(r.code).toBe(1);
    } finally {
      await s.stop();
      reach.release();
    }
  });
});
