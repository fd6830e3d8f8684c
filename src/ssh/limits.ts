/**
 * Bounds on what one peer can hold before and after logging in: connections that have not
 * authenticated (sshd's MaxStartups and LoginGraceTime, at the TCP level, so a peer that never
 * even sends its version line counts) and channels per connection (sshd's MaxSessions).
 */
import net from 'node:net';
import type { Connection, Server } from 'ssh2';
import { interceptChannelOpens } from './connection.js';
import { defaultLog, type Logger } from '../log.js';

/** Unauthenticated connections held at once before new ones are dropped (sshd MaxStartups starts at 10). */
export const DEFAULT_MAX_UNAUTHENTICATED = 10;
/** Time from TCP accept to authentication, in ms (sshd LoginGraceTime). */
export const DEFAULT_LOGIN_GRACE_MS = 120_000;
/** Channels open at once on one connection (sshd MaxSessions). */
export const DEFAULT_MAX_CHANNELS = 10;

/** Options of {@link limitConnections}. */
export interface ConnectionLimitOptions {
  /** Unauthenticated connections at once; a new one beyond it is closed at accept. Default 10. */
  maxUnauthenticated?: number;
  /** A connection not authenticated this long after TCP accept is closed. Default 120000 ms. */
  loginGraceMs?: number;
  /** Receives one line per dropped connection. Default: stderr ({@link defaultLog}). */
  log?: Logger;
}

/** The listening side returned by {@link limitConnections}. */
export interface ConnectionGate {
  /** The TCP server to `listen()` on, instead of the ssh2 server's own `listen()`. */
  server: net.Server;
  /** Connections accepted and not yet authenticated. */
  readonly unauthenticated: number;
  /** Connections closed at accept because the limit was reached. */
  readonly dropped: number;
}

/**
 * Puts a TCP front in front of an ssh2 server: it counts connections from accept until the
 * ssh2 connection emits `ready` (authenticated), closes a new one at once while
 * `maxUnauthenticated` are pending, and closes any that is not authenticated within
 * `loginGraceMs`, including peers that never send a byte. Accepted sockets are handed to the
 * ssh2 server with its public `injectSocket()`. Listen on the returned `server`, not on the ssh2
 * server. The gate learns of authentication only through `ready`, so any authentication
 * handler works.
 */
export function limitConnections(
  sshServer: Server,
  options: ConnectionLimitOptions = {},
): ConnectionGate {
  const max = options.maxUnauthenticated ?? DEFAULT_MAX_UNAUTHENTICATED;
  const graceMs = options.loginGraceMs ?? DEFAULT_LOGIN_GRACE_MS;
  const log = options.log ?? defaultLog;
  // Keyed by the peer's address and port, which ssh2 reports as ClientInfo for the same socket.
  const pending = new Map<string, { socket: net.Socket; timer: NodeJS.Timeout }>();
  let dropped = 0;
  const keyOf = (ip: string | undefined, port: number | undefined) => `${ip}|${port}`;

  const front = net.createServer((socket) => {
    const key = keyOf(socket.remoteAddress, socket.remotePort);
    if (pending.size >= max || socket.remoteAddress === undefined) {
      dropped++;
      log(
        `limits: ${socket.remoteAddress}:${socket.remotePort}: dropped, ${pending.size} connections not yet authenticated (max ${max})`,
      );
      socket.destroy();
      return;
    }
    const timer = setTimeout(() => {
      log(
        `limits: ${socket.remoteAddress}:${socket.remotePort}: not authenticated within ${graceMs} ms; closing`,
      );
      socket.destroy();
    }, graceMs);
    timer.unref();
    pending.set(key, { socket, timer });
    socket.once('close', () => {
      const entry = pending.get(key);
      if (entry?.socket === socket) {
        clearTimeout(entry.timer);
        pending.delete(key);
      }
    });
    sshServer.injectSocket(socket);
  });
  front.on('error', (err) => sshServer.emit('error', err));

  sshServer.on('connection', (client: Connection, info: { ip: string; port: number }) => {
    const key = keyOf(info.ip, info.port);
    client.once('ready', () => {
      const entry = pending.get(key);
      if (entry) {
        clearTimeout(entry.timer);
        pending.delete(key);
      }
    });
  });

  return {
    server: front,
    get unauthenticated() {
      return pending.size;
    },
    get dropped() {
      return dropped;
    },
  };
}

/** What {@link limitChannels} reports. */
export interface ChannelLimit {
  /** Channels open or being opened on the connection now. */
  readonly open: number;
  /** Channel opens refused because the limit was reached. */
  readonly refused: number;
}

type Accept = (...args: unknown[]) => { once(event: 'close', fn: () => void): unknown } | undefined;
type Reject = (...args: unknown[]) => void;

/**
 * Bounds the channels one connection has open at once: an open request beyond `max` is refused
 * (SSH_MSG_CHANNEL_OPEN_FAILURE) before any `session`/`tcpip` listener sees it; a slot is freed
 * when the channel closes or the listener rejects it. Call it once per connection, before the
 * connection's own channel listeners run (it wraps the connection's event dispatch for channel
 * opens only).
 */
export function limitChannels(
  client: Connection,
  max: number = DEFAULT_MAX_CHANNELS,
  log: Logger = defaultLog,
): ChannelLimit {
  let open = 0;
  let refused = 0;
  interceptChannelOpens(client, (event, accept, reject) => {
    if (open >= max) {
      refused++;
      log(`limits: ${event} channel refused: ${open} channels open (max ${max})`);
      reject();
      return undefined;
    }
    open++;
    let released = false;
    const release = () => {
      if (!released) {
        released = true;
        open--;
      }
    };
    const wrappedAccept = (...a: unknown[]) => {
      const channel = (accept as Accept)(...a);
      if (channel) channel.once('close', release);
      else release();
      return channel;
    };
    const wrappedReject: Reject = (...a) => {
      release();
      reject(...a);
    };
    return [wrappedAccept, wrappedReject];
  });
  return {
    get open() {
      return open;
    },
    get refused() {
      return refused;
    },
  };
}
