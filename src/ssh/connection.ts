/**
 * What sshcast does to an ssh2 connection that ssh2 1.17 has no public API for, in one place
 * (test/ssh/connection.test.ts pins each use): the TCP socket behind a connection (`_sock`), for
 * hanging up for good (ssh2's `end()` only half-closes), and channel opens seen before the host's
 * own listeners (ssh2 dispatches them as `emit('session' | 'tcpip' | …, accept, reject, info)`).
 */
import type { Socket } from 'node:net';
import type { Client, Connection } from 'ssh2';

/** The TCP socket of a server-side connection or a client, while ssh2 holds one. */
export function socketOf(connection: Connection | Client): Socket | undefined {
  const sock = (connection as unknown as { _sock?: unknown })._sock;
  return typeof sock === 'object' && sock !== null && typeof (sock as Socket).destroy === 'function'
    ? (sock as Socket)
    : undefined;
}

/** Whether the connection's socket is gone (or was never there). */
export function isClosed(connection: Connection | Client): boolean {
  return socketOf(connection)?.destroyed !== false;
}

/** Options for {@link hangUp}. */
export interface HangUpOptions {
  /**
   * How long a peer that does not read may hold the goodbye up before the socket is destroyed, in
   * ms. 0 destroys it at once (a peer that is gone). Default 1000.
   */
  graceMs?: number;
}

/**
 * Ends a connection for good: sends SSH_MSG_DISCONNECT, closes the TCP socket once that is
 * flushed, and destroys it after `graceMs` if the peer does not take it. ssh2's own `end()` only
 * half-closes, which a client that never answers could hold open forever. Its sessions then hang
 * up: their processes get SIGHUP and their recordings end with `x`.
 */
export function hangUp(connection: Connection | Client, options: HangUpOptions = {}): void {
  const graceMs = options.graceMs ?? 1000;
  const sock = socketOf(connection);
  if (sock && graceMs > 0) {
    if (sock.writableFinished) sock.destroy();
    else sock.once('finish', () => sock.destroy());
    setTimeout(() => sock.destroy(), graceMs).unref();
  }
  connection.end();
  // ssh2 does not end a socket it thinks is unwritable; make sure it goes.
  if (sock && (graceMs <= 0 || !sock.writable)) sock.destroy();
}

/** The channel-open events of an ssh2 server connection. */
export const CHANNEL_OPEN_EVENTS: ReadonlySet<string> = new Set([
  'session',
  'tcpip',
  'openssh.streamlocal',
]);

type Accept = (...args: unknown[]) => unknown;
type Reject = (...args: unknown[]) => void;

/**
 * Sees every channel open of `connection` before any of its listeners: `intercept` gets the event
 * name and ssh2's accept and reject, and returns those to hand on (wrapped, say), or undefined
 * when it rejected the open itself. Call it before the host adds its own listeners.
 */
export function interceptChannelOpens(
  connection: Connection,
  intercept: (event: string, accept: Accept, reject: Reject) => [Accept, Reject] | undefined,
): void {
  type Emit = (event: string | symbol, ...args: unknown[]) => boolean;
  const emit = connection.emit.bind(connection) as Emit;
  (connection as { emit: Emit }).emit = (event, ...args) => {
    if (typeof event !== 'string' || !CHANNEL_OPEN_EVENTS.has(event)) return emit(event, ...args);
    const [accept, reject, ...rest] = args as [Accept, Reject, ...unknown[]];
    const handed = intercept(event, accept, reject);
    if (!handed) return true;
    return emit(event, handed[0], handed[1], ...rest);
  };
}
