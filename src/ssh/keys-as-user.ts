/**
 * An account's own authorized_keys read with the account's permissions, as sshd reads it (its
 * temporarily_use_uid): a small perl helper started by the root server becomes the account
 * (uid, gid and the groups of its login name), opens and reads the file and walks its directories
 * exactly as the StrictModes loader does, and reports what it found. The loader then runs its
 * usual checks on that report, so a key in a file the account cannot read (a `~/.ssh` pointed at
 * a root-only directory) logs no one in, and the server reveals nothing the account could not see.
 */
import { execFile } from 'node:child_process';
import type { Account } from './account.js';
import type { WarnFn } from './authorized-keys.js';
import {
  MAX_AUTHORIZED_KEYS_BYTES,
  loadAuthorizedKeys,
  type KeysFileHandle,
  type KeysFileSystem,
  type LoadResult,
  type OwnershipPolicy,
} from './authorized-keys-file.js';
import { PERL, PERL_ACCOUNT, ROOT_PATH } from './perl.js';

// ARGS: NAME UID GID FILE STOPAT MAX. Lines out (paths and data hex-encoded):
//   open ok MODE UID SIZE | open ! ERRNO        data HEX
//   realpath PATH RESULT | realpath PATH ! ERRNO     stat PATH UID MODE | stat PATH ! ERRNO
const READER = String.raw`
use strict; use POSIX (); use Fcntl (); use Cwd ();
${PERL_ACCOUNT}
my ($name, $uid, $gid, $file, $stop, $max) = @ARGV;
close_fds();
become($name, $uid, $gid);
sub errno { my $e = shift; for (keys %!) { return $_ if $!{$_} } return "E$e" }
sub h { unpack('H*', $_[0]) }
sub parent { my $p = shift; $p =~ s{/[^/]*$}{}; $p eq '' ? '/' : $p }
sub real {
  my $p = shift;
  my $r = Cwd::realpath($p);
  print defined $r ? "realpath @{[h($p)]} @{[h($r)]}\n" : "realpath @{[h($p)]} ! @{[errno($!+0)]}\n";
  return $r;
}
if (sysopen(my $fh, $file, Fcntl::O_RDONLY() | Fcntl::O_NOFOLLOW() | Fcntl::O_NONBLOCK() | Fcntl::O_NOCTTY())) {
  my @st = stat $fh;
  printf "open ok %d %d %d\n", $st[2], $st[4], $st[7];
  if (Fcntl::S_ISREG($st[2]) && $st[7] <= $max) {
    my ($buf, $n) = ('', 0);
    while ($n <= $max) {
      my $got = sysread($fh, $buf, $max + 1 - $n, $n);
      last unless $got;
      $n += $got;
    }
    print "data @{[h($buf)]}\n";
  }
} else {
  print "open ! @{[errno($!+0)]}\n";
}
my $dir = real(parent($file));
my $top = length $stop ? real($stop) : undef;
for (my $depth = 0; defined $dir && $depth < 64; $depth++) {
  my @st = stat $dir;
  if (!@st) { print "stat @{[h($dir)]} ! @{[errno($!+0)]}\n"; last }
  print "stat @{[h($dir)]} $st[4] $st[2]\n";
  last if (defined $top && $dir eq $top) || $dir eq '/';
  $dir = parent($dir);
}
`;

const S_IFMT = 0o170000;
const S_IFREG = 0o100000;

/** What the helper saw, as the account. */
interface Report {
  open: { error: string } | { mode: number; uid: number; size: number };
  data?: Buffer;
  realpaths: Map<string, string | { error: string }>;
  stats: Map<string, { uid: number; mode: number } | { error: string }>;
}

function parseReport(out: string): Report {
  const unhex = (s: string | undefined) => Buffer.from(s ?? '', 'hex').toString('utf8');
  const report: Report = {
    open: { error: 'EIO' },
    realpaths: new Map(),
    stats: new Map(),
  };
  for (const line of out.split('\n')) {
    const f = line.split(' ');
    if (f[0] === 'open') {
      report.open =
        f[1] === 'ok'
          ? { mode: Number(f[2]), uid: Number(f[3]), size: Number(f[4]) }
          : { error: f[2] ?? 'EIO' };
    } else if (f[0] === 'data') {
      report.data = Buffer.from(f[1] ?? '', 'hex');
    } else if (f[0] === 'realpath') {
      report.realpaths.set(unhex(f[1]), f[2] === '!' ? { error: f[3] ?? 'EIO' } : unhex(f[2]));
    } else if (f[0] === 'stat') {
      report.stats.set(
        unhex(f[1]),
        f[2] === '!' ? { error: f[3] ?? 'EIO' } : { uid: Number(f[2]), mode: Number(f[3]) },
      );
    }
  }
  return report;
}

function fsError(code: string, op: string, p: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: ${op} '${p}'`), { code });
}

/** The loader's file system, answered from what the account could see. */
function replay(file: string, report: Report): KeysFileSystem {
  return {
    open: async (p) => {
      const o = report.open;
      if (p !== file) throw fsError('EACCES', 'open', p);
      if ('error' in o) throw fsError(o.error, 'open', p);
      const data = report.data ?? Buffer.alloc(0);
      const handle: KeysFileHandle = {
        stat: async () => ({
          uid: o.uid,
          mode: o.mode,
          size: o.size,
          isFile: () => (o.mode & S_IFMT) === S_IFREG,
        }),
        read: async (buf, offset, length, position) => {
          if (report.data === undefined) throw fsError('EIO', 'read', file);
          const bytesRead = data.copy(
            buf,
            offset,
            position,
            Math.min(data.length, position + length),
          );
          return { bytesRead };
        },
        close: async () => {},
      };
      return handle;
    },
    realpath: async (p) => {
      const r = report.realpaths.get(p);
      if (r === undefined) throw fsError('EACCES', 'realpath', p);
      if (typeof r !== 'string') throw fsError(r.error, 'realpath', p);
      return r;
    },
    stat: async (p) => {
      const s = report.stats.get(p);
      if (s === undefined) throw fsError('EACCES', 'stat', p);
      if ('error' in s) throw fsError(s.error, 'stat', p);
      return s;
    },
  };
}

/** Who reads the file: an account, or `nobody` for a login name with no account. */
export type Reader = Pick<Account, 'name' | 'uid' | 'gid'>;

/** The reader for a login name with no account: the same work, as an account that sees nothing. */
export const NOBODY: Reader = { name: 'nobody', uid: 65534, gid: 65534 };

/**
 * loadAuthorizedKeys as `reader`: a helper process (started by the root server) reads `file`
 * and the directories up to `policy.stopAt` with the account's uid, gid and groups, and the
 * StrictModes checks run on what it saw. A helper that fails refuses the file, with its reason.
 */
export function loadAuthorizedKeysAs(
  reader: Reader,
  file: string,
  policy: OwnershipPolicy,
  warn: WarnFn = () => {},
): Promise<LoadResult> {
  const args = [
    '-e',
    READER,
    reader.name,
    String(reader.uid),
    String(reader.gid),
    file,
    policy.stopAt ?? '',
    String(MAX_AUTHORIZED_KEYS_BYTES),
  ];
  return new Promise((resolve) => {
    execFile(
      PERL,
      args,
      {
        env: { PATH: ROOT_PATH },
        timeout: 10_000,
        maxBuffer: 4 * MAX_AUTHORIZED_KEYS_BYTES + 64 * 1024,
      },
      (err, stdout, stderr) => {
        if (err) {
          const why = (stderr.trim() || err.message).split('\n')[0]!;
          return resolve({ keys: [], refused: `cannot read ${file} as ${reader.name}: ${why}` });
        }
        resolve(loadAuthorizedKeys(file, policy, warn, replay(file, parseReport(stdout))));
      },
    );
  });
}
