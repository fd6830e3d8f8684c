/**
 * The perl that runs privileged work outside the server (perl-base is essential on Debian; PAM
 * needs Debian's libauthen-pam-perl): the fragments that the session launcher and the helpers
 * acting as an account share, so each step is written once.
 */

/** The perl interpreter of the launcher and the helpers. */
export const PERL = '/usr/bin/perl';

/** The PATH of an ordinary account's session (sshd's default). */
export const USER_PATH = '/usr/local/bin:/usr/bin:/bin:/usr/games';
/** The PATH of root's session (sshd's default), and of the launcher and helpers themselves. */
export const ROOT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * Where the account's groups are looked up by login name: `getent initgroups NAME` asks NSS for
 * the groups of that name exactly as initgroups(3) does (`id -G NAME` does not: it takes the
 * primary group of the uid's first name).
 */
export const GETENT = '/usr/bin/getent';

/**
 * `close_fds()`: closes every descriptor from 3 up (node-pty 1.1.0 leaks pty masters into every
 * child, and PAM modules may leave sockets open). `become(NAME, UID, GID)`: drops root for the
 * account for good: its primary group and the groups NSS gives its login name (as sshd's
 * initgroups; `setpriv --init-groups` looks them up by uid and so gives a second name on a uid
 * the first one's groups), then gid and uid; dies unless all took.
 */
export const PERL_ACCOUNT = String.raw`
sub close_fds {
  opendir(my $d, '/proc/self/fd') or die "sshcast: /proc/self/fd: $!\n";
  my @fds = grep { /^\d+$/ && $_ > 2 } readdir $d;
  closedir $d;
  POSIX::close($_) for @fds;
}
sub become {
  my ($name, $uid, $gid) = @_;
  open(my $nss, '-|', '${GETENT}', 'initgroups', '--', $name) or die "sshcast: cannot run getent: $!\n";
  my $line = <$nss>;
  close $nss;
  my ($who, @groups) = split ' ', $line // '';
  die "sshcast: cannot look up the groups of $name\n"
    if $? || !defined $who || $who ne $name || grep { !/^\d+$/ } @groups;
  unshift @groups, $gid;
  $! = 0;
  $) = "$gid @groups";
  die "sshcast: setgroups: $!\n" if $!;
  POSIX::setgid($gid) or die "sshcast: setgid $gid: $!\n";
  POSIX::setuid($uid) or die "sshcast: setuid $uid: $!\n";
  my %have = map { $_ => 1 } split ' ', $);
  die "sshcast: could not become $name\n"
    if $< != $uid || $> != $uid || $( + 0 != $gid || $) + 0 != $gid || grep { !$have{$_} } @groups;
}
`;
