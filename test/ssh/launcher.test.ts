import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { once } from 'node:events';
import { afterAll, expect, it } from 'vitest';
import {
  AccountSwitchError,
  launchCommand,
  sessionEnvironment,
  PERL,
} from '../../src/ssh/launcher.js';
import { exitStatus } from '../../src/asciicast/event.js';
import { signalFromClient, sshSignalName } from '../../src/ssh/exit.js';
import { currentAccount } from '../../src/ssh/account.js';
import { spawnSession } from '../../src/ssh/process.js';
import { tempDir } from '../helpers/e2e.js';
import { needs, notRoot } from '../helpers/needs.js';

const alice = { name: 'alice', uid: 1001, gid: 1002, home: '/home/alice', shell: '/bin/bash' };
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

/** The launcher's KEY=VALUE options, before its `--`. */
function options(args: string[]): Record<string, string> {
  return Object.fromEntries(
    args
      .slice(2, args.indexOf('--'))
      .map((o) => [o.slice(0, o.indexOf('=')), o.slice(o.indexOf('=') + 1)]),
  );
}

it('as root: the launcher drops to the account by name; with a PAM login it runs the session stage and supervises', () => {
  const login = { remoteAddress: '192.0.2.7', pamService: 'sshcast' };
  const { file, args, env, cwd, supervises, terminal } = launchCommand({
    account: alice,
    pty: true,
    env: { LANG: 'C' },
    serverUid: 0,
    login,
  });
  expect(file).toBe(PERL);
  expect(options(args)).toEqual({
    user: 'alice',
    uid: '1001',
    gid: '1002',
    home: '/home/alice',
    become: '1',
    tty: '1',
    shell: '1',
    pam: 'sshcast',
    rhost: '192.0.2.7',
  });
  // A login shell named as sshd names it, started in / (the launcher enters HOME as the account).
  expect(args.slice(args.indexOf('--') + 1)).toEqual(['/bin/bash', '-bash']);
  expect(cwd).toBe('/');
  expect(supervises).toBe(true);
  expect(terminal).toBeTypeOf('function');
  // The launcher's own environment: PATH and the encoded session environment, nothing else.
  expect(Object.keys(env).sort()).toEqual(['PATH', 'SSHCAST_ENV']);
  // Without PAM it becomes the session's process itself.
  const plain = launchCommand({ account: alice, pty: false, env: {}, serverUid: 0 });
  expect(options(plain.args).pam).toBeUndefined();
  expect(plain.supervises).toBe(false);
  expect(plain.terminal).toBeUndefined();
});

it('runs a command with SHELL -c', () => {
  const { args } = launchCommand({
    account: alice,
    pty: false,
    env: {},
    command: 'echo hi',
    serverUid: 0,
  });
  expect(args.slice(-4)).toEqual(['/bin/bash', 'bash', '-c', 'echo hi']);
  expect(options(args)).toMatchObject({ tty: '0', shell: '0' });
});

it('a server that is not root runs only its own account, with no drop and no PAM session stage', () => {
  const login = { remoteAddress: '192.0.2.7', pamService: 'sshcast' };
  const { args, supervises } = launchCommand({
    account: alice,
    pty: true,
    env: {},
    serverUid: 1001,
    login,
  });
  expect(options(args)).toMatchObject({ become: '0' });
  expect(options(args).pam).toBeUndefined();
  expect(supervises).toBe(false);
  expect(() => launchCommand({ account: alice, pty: true, env: {}, serverUid: 1000 })).toThrow(
    AccountSwitchError,
  );
});

it('the environment names the account and cannot be overridden by extra variables', () => {
  const env = sessionEnvironment(alice, { LANG: 'C.UTF-8', HOME: '/evil', USER: 'root' });
  expect(env).toEqual({
    LANG: 'C.UTF-8',
    HOME: '/home/alice',
    USER: 'alice',
    LOGNAME: 'alice',
    SHELL: '/bin/bash',
    PATH: '/usr/local/bin:/usr/bin:/bin:/usr/games',
  });
});

it('the session gets exactly its environment (values with = and UTF-8 intact)', async () => {
  const me = await currentAccount();
  const env = {
    ...sessionEnvironment({ ...me, shell: '/bin/sh' }),
    X: 'a=b',
    Y: 'héllo ☃',
    EMPTY: '',
  };
  const {
    file,
    args,
    env: launcherEnv,
  } = launchCommand({ account: { ...me, shell: '/bin/sh' }, pty: false, env, command: 'env' });
  const out = execFileSync(file, args, { env: launcherEnv, encoding: 'utf8' });
  const seen = Object.fromEntries(
    out
      .trim()
      .split('\n')
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
  delete seen.PWD; // set by the shell itself
  expect(seen).toEqual(env);
});

it('a variable a user controls (a key’s environment=) never reaches a privileged process', async () => {
  // The attack: PERL5LIB + PERL5OPT make any perl started with them load a module of the
  // user's choosing. Against a launcher that runs with the session's environment, the module
  // runs with the launcher's privileges.
  const me = await currentAccount();
  const dir = tempDir();
  dirs.push(dir);
  const proof = path.join(dir, 'ran-as');
  fs.writeFileSync(
    path.join(dir, 'Evil.pm'),
    `package Evil; open(my $f, '>>', '${proof}'); print $f "uid=$<\\n"; 1;\n`,
  );
  const hostile = { PERL5LIB: dir, PERL5OPT: '-MEvil' };
  // Naive: the privileged perl gets the session's environment.
  spawnSync(PERL, ['-e', '1'], { env: { PATH: '/usr/bin:/bin', ...hostile } });
  expect(fs.readFileSync(proof, 'utf8')).toBe(`uid=${me.uid}\n`);
  fs.rmSync(proof);
  // sshcast: the launcher's stages run clean; only the session's own shell has the variables.
  const { file, args, env } = launchCommand({
    account: { ...me, shell: '/bin/sh' },
    pty: false,
    env: { ...sessionEnvironment(me), ...hostile },
    command: 'echo $PERL5OPT',
  });
  const out = execFileSync(file, args, { env, encoding: 'utf8' });
  expect(out).toBe('-MEvil\n');
  expect(fs.existsSync(proof)).toBe(false);
});

it('the terminal is the account’s before its shell runs, however late the server gets to it', async (ctx) => {
  needs(ctx, notRoot); // chown to the account and group tty
  const me = await currentAccount();
  const command = launchCommand({
    account: { ...me, shell: '/bin/sh' },
    pty: true,
    env: sessionEnvironment(me),
    command: 'stat -c "%U %G %a" $(tty)',
  });
  // The server gives the terminal once node-pty has started the launcher: on a busy machine the
  // shell may be running by then. A server held up for 300 ms first shows what the shell sees.
  const late = {
    ...command,
    terminal: (t: { fd: number; path: string }) => {
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 300);
      return command.terminal?.(t);
    },
  };
  const proc = spawnSession({
    command: late,
    env: command.env,
    cwd: '/',
    pty: { cols: 80, rows: 24, term: 'xterm' },
  });
  let out = '';
  proc.on('data', (chunk) => (out += chunk.toString()));
  const [exit] = await once(proc, 'exit');
  expect(exit).toEqual({ status: 0 });
  expect(out).toBe(`${me.name} tty 620\r\n`);
});

it('maps signals between the process and the channel', () => {
  expect(signalFromClient('INT')).toBe('SIGINT');
  expect(signalFromClient('SIGTERM')).toBe('SIGTERM');
  expect(signalFromClient('BUS')).toBeUndefined();
  expect(signalFromClient('WINCH')).toBeUndefined();
  expect(sshSignalName(15)).toBe('TERM');
  expect(sshSignalName(7)).toBeUndefined(); // SIGBUS
  expect(exitStatus({ signal: 7 })).toBe(135);
  expect(exitStatus({ status: 3 })).toBe(3);
});
