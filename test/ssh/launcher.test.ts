import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import {
  AccountSwitchError,
  launchCommand,
  sessionEnvironment,
  SETPRIV,
  PERL,
} from '../../src/ssh/launcher.js';
import { exitStatus } from '../../src/asciicast/event.js';
import { signalFromClient, sshSignalName } from '../../src/ssh/exit.js';
import { currentAccount } from '../../src/ssh/account.js';
import { tempDir } from '../helpers/e2e.js';

const alice = { name: 'alice', uid: 1001, gid: 1002, home: '/home/alice', shell: '/bin/bash' };
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

/** The argv after the launcher's first `--`. */
function target(args: string[]): string[] {
  return args.slice(args.indexOf('--') + 1);
}

it('as root: launch (privileged), then setpriv with the account’s own groups, then the account’s stage', () => {
  const { file, args, env } = launchCommand({
    account: alice,
    pty: true,
    env: { LANG: 'C' },
    serverUid: 0,
  });
  expect(file).toBe(PERL);
  expect(args.slice(2, 7)).toEqual(['launch', 'tty', '1001', '1002', '--']);
  const t = target(args);
  expect(t.slice(0, 5)).toEqual([SETPRIV, '--reuid=1001', '--regid=1002', '--init-groups', '--']);
  expect(t.slice(5, 7)).toEqual([PERL, '-e']);
  // A login shell named as sshd names it.
  expect(t.slice(-3)).toEqual(['exec', '/bin/bash', '-bash']);
  // The launcher's own environment: PATH and the encoded session environment, nothing else.
  expect(Object.keys(env).sort()).toEqual(['PATH', 'SSHCAST_ENV']);
});

it('runs a command with SHELL -c, and leaves the terminal alone without a pty', () => {
  const { args } = launchCommand({
    account: alice,
    pty: false,
    env: {},
    command: 'echo hi',
    serverUid: 0,
  });
  expect(args.slice(-4)).toEqual(['/bin/bash', 'bash', '-c', 'echo hi']);
  expect(args[3]).toBe('-');
});

it('a server that is not root runs only its own account, without setpriv', () => {
  const { args } = launchCommand({ account: alice, pty: true, env: {}, serverUid: 1001 });
  expect(args).not.toContain(SETPRIV);
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
