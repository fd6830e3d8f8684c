/**
 * How a session's process is started: through a small `perl` launcher that runs with the
 * server's privileges, closes every inherited descriptor from 3 up (node-pty 1.1.0 leaks pty
 * masters into every child), and then, as root:
 *
 * - with PAM (the login's `pamService`): opens PAM's session stage (`pam_setcred`,
 *   `pam_open_session`: pam_limits, pam_loginuid, pam_env, logind…) and stays the session's
 *   parent: it forks the session's process, which leads a session of its own on the terminal (as
 *   under sshd), forwards the signals it is sent to that process's group, waits for it, closes
 *   PAM's session, and then ends as the child did: the same exit status, or the same signal
 *   raised on itself, so the server sees exactly what the session's process did;
 * - without PAM: becomes the session's process itself.
 *
 * Either way the session's process becomes the account for good (groups looked up by login
 * name), enters the home directory as the account (`Could not chdir to home directory …` and `/`
 * when it cannot, as sshd), takes the session's environment (client variables, a key's
 * environment=, PAM's) only then, so nothing a user controls (LD_PRELOAD, PERL5OPT…) reaches a
 * privileged process, and execs the shell. The terminal is given to the account (group `tty`,
 * mode 0620, as sshd does) by the launcher before anything of the session runs, and by the server
 * as soon as it exists (`LaunchCommand.terminal`), before it records the login in utmp.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { SshcastError } from '../errors.js';
import type { PtyTerminal } from '../pty/pty.js';
import type { Account } from './account.js';
import type { LoginInfo } from './login.js';
import { PERL_PAM } from './pam.js';
import { PERL, PERL_ACCOUNT, ROOT_PATH, USER_PATH } from './perl.js';
import { addUtmpEntry } from './utmp.js';

export { PERL, ROOT_PATH, USER_PATH } from './perl.js';

// ARGS: KEY=VALUE… -- FILE ARGV0 ARGS…   Keys: user uid gid home (the account), become (drop
// root), tty (fd 0 is the session's terminal), shell (an interactive login: show PAM's messages
// unless ~/.hushlogin), pam + rhost (the session stage). The session's environment comes
// hex-encoded in SSHCAST_ENV, which perl, PAM and the loader all ignore.
const SCRIPT = String.raw`
use strict; use POSIX ();
${PERL_ACCOUNT}
${PERL_PAM}
my %o;
while (@ARGV && $ARGV[0] ne '--') { my ($k, $v) = split /=/, shift(@ARGV), 2; $o{$k} = $v }
shift @ARGV;
die "sshcast launcher: bad arguments\n" unless @ARGV >= 2 && defined $o{uid} && defined $o{home};
close_fds();
# The terminal is the account's (group tty, 0620) before anything of the session runs: the server
# gives it too (for utmp), but only once node-pty has started this process.
if ($o{tty} && $o{become}) {
  my $group = getgrnam('tty');
  chown $o{uid}, $group // $o{gid}, \*STDIN;
  chmod 0620, \*STDIN;
}
my %env = map { split /=/, $_, 2 } grep { length } split /\0/, pack('H*', delete $ENV{SSHCAST_ENV} // '');
# The signals the server sends (a client's, a hangup): forwarded to the session's process group.
my @FORWARD = qw(HUP INT QUIT TERM USR1 USR2 ALRM PIPE ABRT FPE ILL SEGV);
my $forward = POSIX::SigSet->new(map { POSIX->can("SIG$_")->() } @FORWARD);
for my $s (keys %SIG) { next if $s =~ /^(KILL|STOP|__.*)$/; $SIG{$s} = 'DEFAULT' }
POSIX::sigprocmask(POSIX::SIG_SETMASK(), $forward);
umask 022;

sub start_session {
  if ($o{become}) { eval { become($o{user}, $o{uid}, $o{gid}); 1 } or do { print STDERR $@; POSIX::_exit(1) } }
  if (!chdir $o{home}) {
    print STDERR "Could not chdir to home directory $o{home}: $!\n";
    chdir '/';
  }
  print STDOUT map { "$_\n" } @PAM_MESSAGES if $o{shell} && !-e "$o{home}/.hushlogin";
  %ENV = %env;
  POSIX::sigprocmask(POSIX::SIG_SETMASK(), POSIX::SigSet->new());
  my ($file, @argv) = @ARGV;
  exec { $file } @argv;
  print STDERR "sshcast: cannot run $file: $!\n";
  POSIX::_exit(127);
}

start_session() unless $o{pam};

# A terminal ioctl: asm-generic's number where that is the kernel's; elsewhere from the headers.
sub tioc {
  my ($name, $generic) = @_;
  return $generic if (POSIX::uname())[4] =~ /^(x86_64|i[3-6]86|aarch64|arm|riscv|s390|loongarch)/;
  require 'sys/ioctl.ph';
  return main->can($name)->();
}

my $h = eval { pam_begin($o{pam}, $o{user}, $o{rhost}) };
if (!$h) { print STDERR $@; exit 254 }
# As sshd: credentials, then the session; a failed setcred is not fatal for a key login.
$h->pam_setcred(Authen::PAM::PAM_ESTABLISH_CRED());
my $r = $h->pam_open_session(0);
if ($r != Authen::PAM::PAM_SUCCESS()) {
  print STDERR map { "$_\n" } @PAM_MESSAGES;
  print STDERR "sshcast: PAM: cannot open a session (service $o{pam}): ", $h->pam_strerror($r), "\n";
  exit 254;
}
# Authen::PAM's pam_getenvlist splits NAME=VALUE at the last '=': take the list whole. As sshd,
# PAM's variables override the session's, except its internal ones.
for (Authen::PAM::_pam_getenvlist($h)) {
  my ($k, $v) = split /=/, $_, 2;
  $env{$k} = $v unless $k =~ /^SSH_(AUTH_INFO|CONNECTION)/;
}
# The terminal is to be the session's own: this process lets go of it first (TIOCNOTTY, whose
# SIGHUP to this process's group is ignored for that moment), so that the session's process can
# take it without privilege.
# A hangup that came before (the client gone while PAM worked) is kept: no session then.
my $hangup = 0;
if ($o{tty}) {
  my $pending = POSIX::SigSet->new;
  POSIX::sigpending($pending);
  $hangup = $pending->ismember(POSIX::SIGHUP());
  my $hup = POSIX::SigSet->new(POSIX::SIGHUP());
  local $SIG{HUP} = 'IGNORE';
  POSIX::sigprocmask(POSIX::SIG_UNBLOCK(), $hup);
  ioctl(STDIN, tioc('TIOCNOTTY', 0x5422), 0);
  POSIX::sigprocmask(POSIX::SIG_BLOCK(), $hup);
}
my $child = $hangup ? -1 : fork;
if (!defined $child) { print STDERR "sshcast: fork: $!\n"; $child = -1 }
elsif ($child == 0) {
  for my $s (@FORWARD) { $SIG{$s} = 'DEFAULT' }
  POSIX::setsid();
  # The terminal becomes the session's: its process leads the terminal's session, as under sshd.
  # A terminal hung up meanwhile (EIO) is a hangup of this session: end by SIGHUP.
  if ($o{tty} && !ioctl(STDIN, tioc('TIOCSCTTY', 0x540E), 0)) {
    POSIX::sigprocmask(POSIX::SIG_SETMASK(), POSIX::SigSet->new());
    kill 'HUP', $$;
    POSIX::_exit(129);
  }
  close_fds();
  start_session();
}
my $status = $hangup ? POSIX::SIGHUP() : 255 << 8;
if ($child > 0) {
  for my $s (@FORWARD) { $SIG{$s} = sub { kill($s, -$child) or kill($s, $child) } }
  POSIX::sigprocmask(POSIX::SIG_SETMASK(), POSIX::SigSet->new());
  waitpid($child, 0);
  $status = $?;
  POSIX::sigprocmask(POSIX::SIG_SETMASK(), $forward);
}
$h->pam_close_session(0);
$h->pam_setcred(Authen::PAM::PAM_DELETE_CRED());
undef $h;
my $sig = $status & 127;
exit($status >> 8) unless $sig;
# Killed by a signal: end by the same signal, so the server reports it (exit-signal, 128 + n),
# with no core file of this root process: its core limit goes to 0 first (pam_limits may have
# raised it), or, failing that, the status says 128 + n.
my @core = map { my $n = POSIX->can("SIG$_"); $n ? $n->() : () } qw(QUIT ILL TRAP ABRT BUS FPE SEGV SYS XCPU XFSZ);
if (grep { $_ == $sig } @core) {
  my ($zero, $none) = (pack('QQ', 0, 0), 0);   # RLIMIT_CORE (4) of this process: 0, 0
  eval { require 'syscall.ph'; syscall(&SYS_prlimit64(), 0, 4, $zero, $none) == 0 } or exit 128 + $sig;
}
POSIX::sigaction($sig, POSIX::SigAction->new('DEFAULT'));
POSIX::sigprocmask(POSIX::SIG_SETMASK(), POSIX::SigSet->new());
kill $sig, $$;
exit 128 + $sig;
`;

/** The one variable the launcher's own environment holds besides PATH. */
export const LAUNCHER_ENV_VARIABLE = 'SSHCAST_ENV';

/** How a session's process is to be run. */
export interface LaunchSpec {
  /** The account the process runs as. */
  account: Account;
  /** The command for `SHELL -c`; undefined for an interactive login shell. */
  command?: string;
  /** Whether fd 0 is the session's terminal (given to the account when root). */
  pty: boolean;
  /** The session's environment, applied only once running as the account. */
  env: Record<string, string>;
  /** The server's own uid; defaults to process.getuid(). */
  serverUid?: number;
  /** The login the session belongs to: its PAM session stage (as root) and utmp entry (pty). */
  login?: LoginInfo;
}

/** The program, arguments and environment to spawn: perl, the launcher script, then what it execs. */
export interface LaunchCommand {
  file: string;
  args: string[];
  /** The launcher's own environment: PATH and the encoded session environment, nothing else. */
  env: Record<string, string>;
  /** Where to start it: `/` (the launcher enters the home directory as the account). */
  cwd?: string;
  /**
   * For a pty session: called by spawnSession once the terminal exists; gives it to the account
   * and records the login in utmp. Returns what to call before the master is closed.
   */
  terminal?: (terminal: PtyTerminal) => (() => void) | undefined;
  /**
   * The launcher stays the session's parent and forwards catchable signals to its process
   * group; SIGKILL, which it cannot catch, is for its child's group directly.
   */
  supervises?: boolean;
}

/** Thrown when the server cannot run a session as the account (not root, another account). */
export class AccountSwitchError extends SshcastError {
  constructor(message: string) {
    super('ERR_ACCOUNT_SWITCH', message);
  }
}

/**
 * The argv that runs `spec` as its account. As root: the launcher drops to the account (and,
 * with a PAM service, runs the session stage and stays). As any other user: only that user's own
 * account can be served, without PAM's session stage; another account throws an
 * AccountSwitchError.
 */
export function launchCommand(spec: LaunchSpec): LaunchCommand {
  const { account } = spec;
  const serverUid = spec.serverUid ?? process.getuid?.() ?? 0;
  const root = serverUid === 0;
  if (!root && account.uid !== serverUid) {
    throw new AccountSwitchError(
      `this server runs as uid ${serverUid}, not root: it can only run sessions as its own account`,
    );
  }
  const shell = account.shell || '/bin/sh';
  const name = path.basename(shell);
  // A login shell for an interactive session, named `-bash` as sshd and login(1) do.
  const shellArgs =
    spec.command === undefined ? [shell, `-${name}`] : [shell, name, '-c', spec.command];
  const pamService = root ? spec.login?.pamService : undefined;
  const options: Record<string, string | number> = {
    user: account.name,
    uid: account.uid,
    gid: account.gid,
    home: account.home,
    become: root ? 1 : 0,
    tty: spec.pty ? 1 : 0,
    shell: spec.command === undefined ? 1 : 0,
    ...(pamService ? { pam: pamService, rhost: spec.login?.remoteAddress ?? '' } : {}),
  };
  const login = spec.login;
  return {
    file: PERL,
    args: [
      '-e',
      SCRIPT,
      ...Object.entries(options).map(([k, v]) => `${k}=${v}`),
      '--',
      ...shellArgs,
    ],
    env: { PATH: ROOT_PATH, [LAUNCHER_ENV_VARIABLE]: encodeEnvironment(spec.env) },
    cwd: '/',
    supervises: pamService !== undefined,
    ...(spec.pty
      ? {
          terminal: (t: PtyTerminal) => {
            if (root) giveTerminal(t.path, account);
            const entry = login
              ? addUtmpEntry(t.fd, root ? account : undefined, login.remoteAddress)
              : undefined;
            return entry ? () => entry.remove() : undefined;
          },
        }
      : {}),
  };
}

// The `tty` group, looked up once (null: there is none, and the account's own group serves).
let ttyGroup: number | null | undefined;

/** The terminal belongs to the account, group `tty`, mode 0620, as sshd's pty_setowner. */
function giveTerminal(file: string, account: Account): void {
  if (ttyGroup === undefined) {
    try {
      const gid = Number(
        execFileSync('getent', ['group', 'tty'], { encoding: 'utf8', timeout: 10_000 }).split(
          ':',
        )[2],
      );
      ttyGroup = Number.isInteger(gid) ? gid : null;
    } catch {
      ttyGroup = null;
    }
  }
  try {
    fs.chownSync(file, account.uid, ttyGroup ?? account.gid);
    fs.chmodSync(file, 0o620);
  } catch {
    /* the terminal went away already */
  }
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
