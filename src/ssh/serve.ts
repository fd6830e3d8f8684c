/**
 * The one line a host adds to ssh2's `ready` handler: every session of an authenticated
 * connection served by {@link handleSession}, and a connection whose peer stopped answering
 * keepalives dropped at once.
 */
import type ssh2 from 'ssh2';
import { hangUp } from './connection.js';
import { handleSession, type SessionOptions } from './session.js';
import { defaultLog, type Logger } from '../log.js';

/**
 * Serves every session of an authenticated connection with {@link handleSession}: the one line
 * to add in ssh2's `ready` handler. When the server's keepalive gives up on the peer, the
 * connection is dropped at once, so its sessions hang up and their recordings end.
 */
export function serveSessions(client: ssh2.Connection, options: SessionOptions): void {
  // ssh2 answers a keepalive timeout with end(), a half-close that a frozen peer never
  // completes, so the connection would never close and its sessions never hang up.
  client.on('error', (err: Error & { level?: string }) => {
    if (err.level !== 'client-timeout') return;
    (options.log ?? defaultLog)(`sshcast: ${err.message}; dropping the connection`);
    hangUp(client, { graceMs: 0 });
  });
  client.on('session', (accept) => {
    const session = accept?.();
    if (session) handleSession(session, options);
  });
}
