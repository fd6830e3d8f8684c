/**
 * PAM, reached through Debian's libauthen-pam-perl (Authen::PAM) in perl: the account stage as
 * a short helper per connection (here), the session stage in the session launcher (launcher.ts).
 * Both set PAM_RHOST to the client's address and PAM_TTY to `ssh`, as OpenSSH's sshd does, and
 * keep what PAM says (PAM_ERROR_MSG, PAM_TEXT_INFO) to show the client; PAM's prompts are
 * answered with an error, since a public-key login has no one to ask.
 */
import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { PERL, ROOT_PATH } from './perl.js';

/** The PAM service sshcast uses: `/etc/pam.d/sshcast`, which a site writes like sshd's. */
export const DEFAULT_PAM_SERVICE = 'sshcast';

/** Where PAM reads a service's configuration. */
export const PAM_DIR = '/etc/pam.d';

/** How sshcast uses PAM. */
export interface PamOptions {
  /** The PAM service name; default `sshcast` (PAM uses `other` when its file is missing). */
  service?: string;
}

/**
 * `pam_begin(SERVICE, USER, RHOST)`: loads Authen::PAM, starts a PAM transaction with its items
 * set, and returns the handle (dies with one line if it cannot); the messages PAM gives go to
 * `@PAM_MESSAGES`.
 */
export const PERL_PAM = String.raw`
our @PAM_MESSAGES;
sub pam_conv {
  my @replies;
  while (@_) {
    my ($style, $msg) = splice @_, 0, 2;
    return Authen::PAM::PAM_CONV_ERR()
      unless $style == Authen::PAM::PAM_ERROR_MSG() || $style == Authen::PAM::PAM_TEXT_INFO();
    push @PAM_MESSAGES, $msg;
    push @replies, Authen::PAM::PAM_SUCCESS(), '';
  }
  return (@replies, Authen::PAM::PAM_SUCCESS());
}
sub pam_begin {
  my ($service, $user, $rhost) = @_;
  eval { require Authen::PAM; 1 }
    or die "sshcast: PAM: Authen::PAM is not installed (Debian: libauthen-pam-perl)\n";
  my $h = Authen::PAM->new($service, $user, \&pam_conv);
  die "sshcast: PAM: pam_start($service) failed: $h\n" unless ref $h;
  $h->pam_set_item(Authen::PAM::PAM_RHOST(), $rhost) if length $rhost;
  $h->pam_set_item(Authen::PAM::PAM_TTY(), 'ssh');
  return $h;
}
`;

// ARGS: SERVICE USER RHOST. Out: "M HEX" per message, then "R ok|authtok|denied HEXSTRERROR".
const ACCOUNT = String.raw`
use strict;
${PERL_PAM}
my ($service, $user, $rhost) = @ARGV;
my $h = pam_begin($service, $user, $rhost);
my $r = $h->pam_acct_mgmt(0);
print "M ", unpack('H*', $_), "\n" for @PAM_MESSAGES;
my $verdict = $r == Authen::PAM::PAM_SUCCESS() ? 'ok'
  : $r == Authen::PAM::PAM_NEW_AUTHTOK_REQD() ? 'authtok' : 'denied';
print "R $verdict ", unpack('H*', $h->pam_strerror($r)), "\n";
`;

/** What PAM's account stage said about a login. */
export interface AccountVerdict {
  /** `ok`: allowed; `authtok`: the password has expired (PAM_NEW_AUTHTOK_REQD); `denied`. */
  result: 'ok' | 'authtok' | 'denied';
  /** PAM's messages for the user, in order (an expiry notice, /etc/nologin's text, …). */
  messages: string[];
  /** PAM's own words for the result (pam_strerror), or why PAM could not be asked. */
  reason: string;
}

/**
 * Runs PAM's account stage (`pam_acct_mgmt`: expiry, pam_access, pam_time, pam_nologin, …) for
 * `user` logging in from `rhost`. A PAM that cannot be reached at all (Authen::PAM missing, a
 * broken service) is a denial whose `reason` says why.
 */
export function accountStage(
  service: string,
  user: string,
  rhost: string,
): Promise<AccountVerdict> {
  return new Promise((resolve) => {
    execFile(
      PERL,
      ['-e', ACCOUNT, service, user, rhost],
      { env: { PATH: ROOT_PATH }, timeout: 30_000, maxBuffer: 1024 * 1024 },
      (err, stdout, stderr) => {
        const messages: string[] = [];
        let verdict: AccountVerdict | undefined;
        for (const line of stdout.split('\n')) {
          const [tag, a, b] = line.split(' ');
          if (tag === 'M') messages.push(Buffer.from(a ?? '', 'hex').toString('utf8'));
          if (tag === 'R' && (a === 'ok' || a === 'authtok' || a === 'denied'))
            verdict = { result: a, messages, reason: Buffer.from(b ?? '', 'hex').toString('utf8') };
        }
        if (err || !verdict) {
          const why = (stderr.trim() || err?.message || 'no answer').split('\n')[0]!;
          return resolve({ result: 'denied', messages: [], reason: `PAM unavailable: ${why}` });
        }
        resolve(verdict);
      },
    );
  });
}

/** Why PAM cannot be reached through perl here (Authen::PAM missing), or undefined when it can. */
export function pamUnavailable(): string | undefined {
  try {
    execFileSync(PERL, ['-MAuthen::PAM', '-e', '1'], {
      env: { PATH: ROOT_PATH },
      stdio: 'ignore',
      timeout: 30_000,
    });
    return undefined;
  } catch {
    return 'Authen::PAM is not installed (Debian: apt-get install libauthen-pam-perl)';
  }
}

/** Which file PAM reads for `service`: its own, or `other`'s when it has none. */
export function pamServiceFile(service: string): { file: string; fallback: boolean } {
  const own = `${PAM_DIR}/${service}`;
  return fs.existsSync(own)
    ? { file: own, fallback: false }
    : { file: `${PAM_DIR}/other`, fallback: true };
}
