/**
 * A login as the system defines it: once a key has proven itself, PAM's account stage decides
 * whether this is a login at all (before any channel is served); a refused login gets PAM's
 * messages on the stderr of every session channel it opens, since ssh2 can send only a static
 * banner before authentication. What the sessions of an admitted login need (the client's
 * address, the PAM service for the session stage) travels on the Identity as `login`.
 */
import type ssh2 from 'ssh2';
import { ConfigError } from '../errors.js';
import type { Account } from './account.js';
import { accountStage, DEFAULT_PAM_SERVICE, pamServiceFile, type PamOptions } from './pam.js';
import { utmpSupport } from './utmp.js';

/** What the sessions of an admitted login need to know about it. */
export interface LoginInfo {
  /** The client's address: PAM_RHOST, and the host of the utmp entry. */
  remoteAddress: string;
  /** The PAM service of the session stage; undefined when PAM is off. */
  pamService?: string;
}

/** The answer to a login: admitted (with what its sessions need), or refused (with what to say). */
export type LoginVerdict =
  | { login: LoginInfo }
  | {
      /** The lines the client is shown on each channel's stderr. */
      refusal: string[];
      /** Why, for the server's log. */
      reason: string;
    };

/** What the client is shown when PAM refuses without saying why (sshd shows nothing). */
export const ACCESS_DENIED_MESSAGE = 'Access denied by PAM account configuration.';

/** The lines added for an expired password: sshcast changes no passwords (sshd would run passwd). */
export const PASSWORD_EXPIRED_MESSAGES = [
  'WARNING: Your password has expired.',
  'Password change required, and this server cannot change passwords: change it another way, then log in again.',
];

// How long a refused login may stay connected without opening a channel to read why.
const REFUSED_GRACE_MS = 10_000;

const SERVICE_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/;

/** The PAM service named by `pam` (undefined: PAM off); a name PAM cannot use is a ConfigError. */
export function pamServiceOf(pam: PamOptions | false | undefined): string | undefined {
  if (pam === false) return undefined;
  const service = pam?.service ?? DEFAULT_PAM_SERVICE;
  if (!SERVICE_NAME.test(service)) throw new ConfigError(`invalid PAM service name "${service}"`);
  return service;
}

/**
 * Decides whether `account`, whose key has been verified, may log in from `remoteAddress`: PAM's
 * account stage under the service of `pam` (default `sshcast`; `false` skips PAM). It runs as
 * whatever the server runs as: a server that is not root can still check its own account.
 */
export async function checkLogin(
  account: Account,
  remoteAddress: string,
  pam: PamOptions | false | undefined,
): Promise<LoginVerdict> {
  const service = pamServiceOf(pam);
  if (service === undefined) return { login: { remoteAddress } };
  const verdict = await accountStage(service, account.name, remoteAddress);
  if (verdict.result === 'ok') return { login: { remoteAddress, pamService: service } };
  const said = verdict.messages.flatMap((m) => m.replace(/\n+$/, '').split('\n'));
  const refusal =
    verdict.result === 'authtok'
      ? [...said, ...PASSWORD_EXPIRED_MESSAGES]
      : said.length > 0
        ? said
        : [ACCESS_DENIED_MESSAGE];
  return { refusal, reason: `PAM (service ${service}): ${verdict.reason}` };
}

/**
 * Serves a refused login: every session channel it opens gets `lines` on stderr and exit status
 * 1; the connection is hung up (`hangUp`) once such a channel closes, or after 10 s without one.
 */
export function refuseChannels(client: ssh2.Connection, lines: string[], hangUp: () => void): void {
  const timer = setTimeout(hangUp, REFUSED_GRACE_MS);
  timer.unref();
  client.once('close', () => clearTimeout(timer));
  client.on('session', (accept) => {
    const session = accept?.();
    if (!session) return;
    let pty = false;
    const deny = (open: (() => ssh2.ServerChannel) | undefined) => {
      const channel = open?.();
      if (!channel) return;
      const eol = pty ? '\r\n' : '\n';
      channel.stderr.write(lines.map((l) => l + eol).join(''));
      channel.exit(1);
      channel.end();
      channel.once('close', hangUp);
    };
    session.on('pty', (ok) => {
      pty = true;
      ok?.();
    });
    session.on('env', (ok) => ok?.());
    session.on('window-change', (ok) => ok?.());
    session.on('shell', (open) => deny(open));
    session.on('exec', (open) => deny(open));
    session.on('subsystem', (open) => deny(open));
    session.on('signal', (_ok, no) => no?.());
    session.on('auth-agent', (_ok, no) => no?.());
    session.on('x11', (_ok, no) => no?.());
  });
}

/**
 * Lines saying how logins are checked, for the host to print once at start: which PAM service
 * and file, what a server that is not root cannot do, and whether utmp entries are written. A
 * service name PAM cannot use throws a ConfigError (as `authenticate` does).
 */
export function describeLoginPolicy(
  options: { pam?: PamOptions | false; serverUid?: number } = {},
): string[] {
  const uid = options.serverUid ?? process.getuid?.() ?? 0;
  const service = pamServiceOf(options.pam);
  const lines: string[] = [];
  if (service === undefined) {
    lines.push('PAM: off (no account or session stage)');
  } else {
    const { file, fallback } = pamServiceFile(service);
    lines.push(
      fallback
        ? `PAM: service ${service}: ${`/etc/pam.d/${service}`} is missing, so PAM uses ${file} (see docs/pam.md)`
        : `PAM: service ${service} (${file})`,
    );
    if (uid !== 0)
      lines.push(
        'PAM: not root: the account stage runs for this account only; no session stage (pam_limits, pam_loginuid, logind need root)',
      );
  }
  const utmp = utmpSupport();
  lines.push('helper' in utmp ? 'utmp: pty sessions are recorded' : `utmp: none (${utmp.missing})`);
  return lines;
}
