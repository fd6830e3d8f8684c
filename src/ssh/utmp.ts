/**
 * utmp and wtmp entries for pty sessions, as sshd writes them (`who` and `last` show the account,
 * the terminal and the client address; the entry goes at logout), through libutempter's helper,
 * the setgid-utmp program terminal emulators and tmux use: it records the pty whose master is its
 * stdin, for its real uid, and only when that uid owns the terminal.
 *
 * A small perl holder started by the server keeps a copy of the master for the session's life:
 * it runs `utempter add HOST`, waits until the server closes a pipe (or dies), then runs
 * `utempter del`, so the removal can neither overtake the entry nor miss the terminal.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { PERL, ROOT_PATH } from './perl.js';

/** The utmp file the helper writes (glibc's _PATH_UTMP); none there, no entries, as for sshd. */
export const UTMP_FILE = '/var/run/utmp';

/** libutempter's helper, wherever the distribution puts it; undefined when not installed. */
export function findUtempter(): string | undefined {
  const candidates = ['/usr/libexec/utempter/utempter', '/usr/lib/utempter/utempter'];
  try {
    for (const d of fs.readdirSync('/usr/lib'))
      candidates.push(path.join('/usr/lib', d, 'utempter/utempter'));
  } catch {
    /* no /usr/lib */
  }
  return candidates.find((f) => {
    try {
      fs.accessSync(f, fs.constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** Whether this system keeps utmp entries sshcast can write, and if not, why not. */
export function utmpSupport(): { helper: string } | { missing: string } {
  if (!fs.existsSync(UTMP_FILE)) return { missing: `${UTMP_FILE} does not exist` };
  const helper = findUtempter();
  return helper ? { helper } : { missing: "libutempter's helper is not installed (libutempter0)" };
}

// fd 0: the pty master, fd 3: the pipe from the server. ARGS: HELPER UID GID HOST (UID -1: as is).
// The helper runs with the account's real uid (it records that uid's name), and is never started
// by a process the account could trace: the holder stays root, its child drops straight to exec.
const HOLDER = String.raw`
use strict; use POSIX ();
my ($helper, $uid, $gid, $host) = @ARGV;
opendir(my $d, '/proc/self/fd') or exit 1;
my @fds = grep { /^\d+$/ && $_ > 3 } readdir $d;
closedir $d;
POSIX::close($_) for @fds;
sub utempter {
  my $pid = fork // return;
  if ($pid == 0) {
    POSIX::close(3);
    if ($uid >= 0) {
      $) = "$gid $gid";
      POSIX::setgid($gid) && POSIX::setuid($uid) or POSIX::_exit(1);
    }
    exec { $helper } 'utempter', @_;
    POSIX::_exit(127);
  }
  waitpid $pid, 0;
}
$SIG{HUP} = $SIG{INT} = $SIG{TERM} = $SIG{PIPE} = 'IGNORE';
utempter('add', $host);
my $buf;
open(my $pipe, '<&=', 3) or exit 1;
1 while sysread($pipe, $buf, 4096);
utempter('del');
`;

/** A utmp entry of a running session: `remove()` ends it (once). */
export interface UtmpEntry {
  remove(): void;
}

/**
 * Records the login on the pty whose master is `masterFd` (node-pty's), for `owner` (the
 * account, when the server is root and the terminal is the account's; undefined: the server's
 * own account), from `host`. Returns undefined when the system keeps no utmp or the helper is
 * missing. The entry is removed by `remove()`, or when the server process dies.
 */
export function addUtmpEntry(
  masterFd: number,
  owner: { uid: number; gid: number } | undefined,
  host: string,
): UtmpEntry | undefined {
  const support = utmpSupport();
  if (!('helper' in support)) return undefined;
  const args = [
    '-e',
    HOLDER,
    support.helper,
    String(owner?.uid ?? -1),
    String(owner?.gid ?? -1),
    host.slice(0, 255),
  ];
  let child;
  try {
    child = spawn(PERL, args, {
      stdio: [masterFd, 'ignore', 'ignore', 'pipe'],
      env: { PATH: ROOT_PATH },
      detached: true,
    });
  } catch {
    return undefined;
  }
  child.on('error', () => {});
  child.unref();
  const pipe = child.stdio[3] as NodeJS.WritableStream & { destroy(): void; unref?(): void };
  pipe.on('error', () => {});
  pipe.unref?.();
  let removed = false;
  return {
    remove: () => {
      if (removed) return;
      removed = true;
      pipe.destroy();
    },
  };
}
