import { expect, it } from 'vitest';
import {
  AccountSwitchError,
  launchCommand,
  sessionEnvironment,
  SETPRIV,
} from '../../src/ssh/launcher.js';
import { exitStatus, signalFromClient, sshSignalName } from '../../src/ssh/exit.js';

const alice = { name: 'alice', uid: 1001, gid: 1002, home: '/home/alice', shell: '/bin/bash' };

it('as root, drops to the account with setpriv and its own groups; a login shell without a command', () => {
  const { file, args } = launchCommand({ account: alice, pty: true, serverUid: 0 });
  expect(file).toBe('/usr/bin/perl');
  const rest = args.slice(args.indexOf('--') - 3);
  expect(rest).toEqual([
    'tty',
    '1001',
    '1002',
    '--',
    SETPRIV,
    '--reuid=1001',
    '--regid=1002',
    '--init-groups',
    '--',
    '/bin/bash',
    '-l',
  ]);
});

it('runs a command with SHELL -c, and leaves the terminal alone without a pty', () => {
  const { args } = launchCommand({ account: alice, pty: false, command: 'echo hi', serverUid: 0 });
  expect(args.slice(-3)).toEqual(['/bin/bash', '-c', 'echo hi']);
  expect(args[args.indexOf('--') - 3]).toBe('-');
});

it('a server that is not root runs only its own account, without setpriv', () => {
  const { args } = launchCommand({ account: alice, pty: true, serverUid: 1001 });
  expect(args).not.toContain(SETPRIV);
  expect(args.slice(-2)).toEqual(['/bin/bash', '-l']);
  expect(() => launchCommand({ account: alice, pty: true, serverUid: 1000 })).toThrow(
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
