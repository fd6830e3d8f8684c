/**
 * How a session's process is started: through a small `perl` launcher (perl-base is essential on
 * Debian) that runs with the server's privileges, closes every inherited descriptor from 3 up
 * (node-pty 1.1.0 leaks pty masters into every child), hands the session's terminal to the
 * account (group `tty`, mode 0620, as sshd does), resets signal dispositions and the umask, and
 * then execs `setpriv --reuid --regid --init-groups` so the shell gets exactly the account's uid,
 * gid and supplementary groups.
 */
import path from 'node:path';
import { SshcastError } from '../errors.js';
import type { Account } from './account.js';

/** Where the launcher looks for setpriv (util-linux). */
export const SETPRIV = '/usr/bin/setpriv';

/** The perl interpreter the launcher runs under. */
export const PERL = '/usr/bin/perl';

/** The PATH of an ordinary account's session (sshd's default). */
export const USER_PATH = '/usr/local/bin:/usr/bin:/bin:/usr/games';
/** The PATH of root's session (sshd's default). */
export const ROOT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

// Two stages. `launch` runs with the server's privileges: it closes inherited descriptors, hands
// the terminal to the account, resets signals and the umask, then execs its arguments (setpriv,
// which drops to the account). `exec` runs as the account: only there does the session's
// environment (client variables, a key's environment=) take effect, so nothing a user controls
// (LD_PRELOAD, PERL5OPT, GCONV_PATH, LOCPATH…) reaches a privileged process. The environment
// travels hex-encoded in one variable that perl, setpriv and the loader all ignore.
// launch TTYMODE UID GID -- PROGRAM ARGS…   TTYMODE "tty" gives fd 0's terminal to UID.
// exec FILE ARGV0 ARGS…
const SCRIPT = String.raw`
use strict; use POSIX ();
my $mode = shift @ARGV // '';
if ($mode eq 'exec') {
  my %env = map { split /=/, $_, 2 } grep { length } split /\0/, pack('H*', $ENV{SSHCAST_ENV} // '');
  %ENV = %env;
  my $file = shift @ARGV;
  exec { $file } @ARGV;
  print STDERR "sshcast: cannot run $file: $!\n";
  exit 127;
}
die "sshcast launcher: bad arguments\n" unless $mode eq 'launch';
my ($tty, $uid, $gid, $sep) = splice @ARGV, 0, 4;
die "sshcast launcher: bad arguments\n" unless defined $sep && $sep eq '--' && @ARGV;
opendir(my $d, '/proc/self/fd') or die "sshcast launcher: /proc/self/fd: $!\n";
my @fds = grep { /^\d+$/ && $_ > 2 } readdir $d;
closedir $d;
POSIX::close($_) for @fds;
if ($tty eq 'tty') {
  my $t = POSIX::ttyname(0);
  if (defined $t) {
    my $g = getgrnam('tty');
    chown $uid, (defined $g ? $g : $gid), $t;
    chmod 0620, $t;
  }
}
for my $s (keys %SIG) { next if $s =~ /^(KILL|STOP|__.*)$/; $SIG{$s} = 'DEFAULT' }
POSIX::sigprocmask(POSIX::SIG_SETMASK(), POSIX::SigSet->new());
umask 022;
exec { $ARGV[0] } @ARGV;
print STDERR "sshcast: cannot run $ARGV[0]: $!\n";
exit 127;
`;

/** The one variable the launcher's own environment holds besides PATH. */
export const LAUNCHER_ENV_VARIABLE = 'SSHCAST_ENV';

/** How a session's process is to be run. */
export interface LaunchSpec {
  /** The account the process runs as. */
  account: Account;
  /** The command for `SHELL -c`; undefined for an interactive login shell. */
  command?: string;
  /** Whether fd 0 is the session's terminal (chowned to the account when root). */
  pty: boolean;
  /** The session's environment, applied only once running as the account. */
  env: Record<string, string>;
  /** The server's own uid; defaults to process.getuid(). */
  serverUid?: number;
}

/** The program, arguments and environment to spawn: perl, the launcher script, then what it execs. */
export interface LaunchCommand {
  file: string;
  args: string[];
  /** The launcher's own environment: PATH and the encoded session environment, nothing else. */
  env: Record<string, string>;
}

/** Thrown when the server cannot run a session as the account (not root, another account). */
export class AccountSwitchError extends SshcastError {
  constructor(message: string) {
    super('ERR_ACCOUNT_SWITCH', message);
  }
}

/**
 * The argv that runs `spec` as its account. As root: launcher, then setpriv. As any other user:
 * only that user's own account can be served (launcher, then the shell directly); another
 * account throws an AccountSwitchError.
 */
export function launchCommand(spec: LaunchSpec): LaunchCommand {
  const { account } = spec;
  const serverUid = spec.serverUid ?? process.getuid?.() ?? 0;
  const shell = account.shell || '/bin/sh';
  const name = path.basename(shell);
  // A login shell for an interactive session, named `-bash` as sshd and login(1) do.
  const shellArgs =
    spec.command === undefined ? [shell, `-${name}`] : [shell, name, '-c', spec.command];
  const final = [PERL, '-e', SCRIPT, 'exec', ...shellArgs];
  let target: string[];
  if (serverUid === 0) {
    target = [
      SETPRIV,
      `--reuid=${account.uid}`,
      `--regid=${account.gid}`,
      '--init-groups',
      '--',
      ...final,
    ];
  } else if (account.uid === serverUid) {
    target = final;
  } else {
    throw new AccountSwitchError(
      `this server runs as uid ${serverUid}, not root: it can only run sessions as its own account`,
    );
  }
  const tty = spec.pty && serverUid === 0 ? 'tty' : '-';
  return {
    file: PERL,
    args: ['-e', SCRIPT, 'launch', tty, String(account.uid), String(account.gid), '--', ...target],
    env: { PATH: ROOT_PATH, [LAUNCHER_ENV_VARIABLE]: encodeEnvironment(spec.env) },
  };
}

function encodeEnvironment(env: Record<string, string>): string {
  const pairs = Object.entries(env)
    .filter(([k, v]) => k !== '' && !k.includes('=') && !k.includes('\0') && !v.includes('\0'))
    .map(([k, v]) => `${k}=${v}\0`)
    .join('');
  return Buffer.from(pairs, 'utf8').toString('hex');
}

/** The base environment of a session: nothing of the server's own environment. */
export function sessionEnvironment(
  account: Account,
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    ...extra,
    HOME: account.home,
    USER: account.name,
    LOGNAME: account.name,
    SHELL: account.shell || '/bin/sh',
    PATH: account.uid === 0 ? ROOT_PATH : USER_PATH,
  };
}
