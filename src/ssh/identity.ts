/**
 * What authentication hands to the session layer: the local account a connection logged in as,
 * and the restrictions of the authorized_keys line that admitted it.
 */
import type { Account } from './account.js';
import type { LoginInfo } from './login.js';

/** Restrictions from the options of the authorized_keys line that matched (sshd's semantics). */
export interface KeyOptions {
  /** `command="…"`: run this instead of whatever the client asked for. */
  command?: string;
  /** `no-pty` (or `restrict` without `pty`): refuse pty requests. */
  noPty?: boolean;
  /** `environment="NAME=value"`: extra environment variables for the session. */
  environment?: Record<string, string>;
  /** `no-port-forwarding`, `no-agent-forwarding`, `no-X11-forwarding`, `restrict`: nothing of these is offered anyway. */
  restrict?: boolean;
}

/** An authenticated connection's identity. */
export interface Identity {
  /** The local account sessions run as. */
  account: Account;
  /** Restrictions from the key that admitted the connection; empty for none. */
  keyOptions: KeyOptions;
  /**
   * The login as PAM's account stage admitted it (`authenticate` sets it): the client's address
   * and the PAM service whose session stage runs around each session. Without it, sessions run
   * with no PAM session stage and no utmp entry.
   */
  login?: LoginInfo;
}
