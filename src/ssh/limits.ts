/**
 * Bounds on what peers can hold before and after logging in: connections that have not
 * authenticated (sshd's MaxStartups with its random early drop, a per-source bound like
 * OpenSSH 9.8's PerSourceMaxStartups, and LoginGraceTime, at the TCP level, so a peer that never
 * even sends its version line counts) and channels per connection (sshd's MaxSessions).
 */
import { randomInt } from 'node:crypto';
import net from 'node:net';
import type { Connection, Server } from 'ssh2';
import { ConfigError } from '../errors.js';
import { interceptChannelOpens } from './connection.js';
import { normalizeAddress } from './from-pattern.js';
import { escapingLogger, type Logger } from '../log.js';

/**
 * sshd's MaxStartups `start:rate:full`: with `start` connections not yet authenticated, a new
 * one is dropped with probability `rate`%, rising linearly to 100% at `full`. `start` equal to
 * `full` is a hard cap (sshd's single-number form).
 */
export interface MaxStartups {
  start: number;
  /** Percent, 0 to 100. */
  rate: number;
  full: number;
}

/** sshd's default MaxStartups, 10:30:100. */
export const DEFAULT_MAX_STARTUPS: Readonly<MaxStartups> = Object.freeze({
  start: 10,
  rate: 30,
  full: 100,
});
/**
 * Unauthenticated connections at once from one source (an IPv4 address, an IPv6 /64): half of
 * MaxStartups' start, so that one address holding all it may still leaves room for five other
 * handshakes at once before anyone's new connections start to drop.
 */
export const DEFAULT_PER_SOURCE_MAX_STARTUPS = DEFAULT_MAX_STARTUPS.start / 2;
/** MaxStartups' first step, which was a hard cap before sshcast had the random early drop. */
export const DEFAULT_MAX_UNAUTHENTICATED = DEFAULT_MAX_STARTUPS.start;
/** Time from TCP accept to authentication, in ms (sshd LoginGraceTime). */
export const DEFAULT_LOGIN_GRACE_MS = 120_000;
/** Channels open at once on one connection (sshd MaxSessions). */
export const DEFAULT_MAX_CHANNELS = 10;

/** A line per kind of drop at most this often; the drops between are counted in the next. */
const DROP_LOG_INTERVAL_MS = 1000;

/** Options of {@link limitConnections}. */
export interface ConnectionLimitOptions {
  /**
   * Random early drop of new connections while others are not yet authenticated; a number is a
   * hard cap (`start` = `full`). Default {@link DEFAULT_MAX_STARTUPS}, 10:30:100.
   */
  maxStartups?: MaxStartups | number;
  /** A hard cap on unauthenticated connections: the same as `maxStartups: n`. */
  maxUnauthenticated?: number;
  /**
   * Unauthenticated connections at once from one source (an IPv4 address; an IPv6 /64, what
   * one host is usually given); a new one beyond it is closed at accept. Infinity turns it off.
   * Default {@link DEFAULT_PER_SOURCE_MAX_STARTUPS}, 5.
   */
  perSourceMaxStartups?: number;
  /** A connection not authenticated this long after TCP accept is closed. Default 120000 ms. */
  loginGraceMs?: number;
  /**
   * Receives the dropped connections, at most one line a second per kind (the rest are counted).
   * Default: stderr, escaped ({@link escapingLogger}).
   */
  log?: Logger;
  /** @internal A number in [0, 100) per decision; default crypto's randomInt. */
  random?: () => number;
}

/** The listening side returned by {@link limitConnections}. */
export interface ConnectionGate {
  /** The TCP server to `listen()` on, instead of the ssh2 server's own `listen()`. */
  server: net.Server;
  /** Connections accepted and not yet authenticated. */
  readonly unauthenticated: number;
  /** Connections closed at accept, by MaxStartups or the per-source bound. */
  readonly dropped: number;
  /** Of those, the ones closed because their source already held its share. */
  readonly droppedPerSource: number;
}

/** Parses sshd's MaxStartups syntax: `start:rate:full`, or one number for a hard cap. */
export function parseMaxStartups(text: string, name = 'MaxStartups'): MaxStartups {
  const m = /^(\d+)(?::(\d+):(\d+))?$/.exec(text.trim());
  const bad = () =>
    new ConfigError(
      `invalid ${name} ${JSON.stringify(text)}: use START:RATE:FULL (sshd's 10:30:100) or one number`,
    );
  if (!m) throw bad();
  const start = Number(m[1]);
  const value =
    m[2] === undefined
      ? { start, rate: 100, full: start }
      : { start, rate: Number(m[2]), full: Number(m[3]) };
  checkMaxStartups(value, bad);
  return value;
}

function checkMaxStartups(v: MaxStartups, bad: () => Error): void {
  const ok =
    Number.isSafeInteger(v.start) &&
    Number.isSafeInteger(v.full) &&
    v.start >= 1 &&
    v.full >= v.start &&
    Number.isFinite(v.rate) &&
    v.rate >= 0 &&
    v.rate <= 100;
  if (!ok) throw bad();
}

function resolveMaxStartups(options: ConnectionLimitOptions): MaxStartups {
  const given = options.maxStartups ?? options.maxUnauthenticated;
  if (given === undefined) return DEFAULT_MAX_STARTUPS;
  const value = typeof given === 'number' ? { start: given, rate: 100, full: given } : given;
  checkMaxStartups(
    value,
    () =>
      new ConfigError(
        `invalid maxStartups ${JSON.stringify(given)}: 1 <= start <= full, rate 0-100`,
      ),
  );
  return value;
}

/** `10:30:100`, or `10` for a hard cap. */
function describeMaxStartups(m: MaxStartups): string {
  return m.start === m.full ? String(m.full) : `${m.start}:${m.rate}:${m.full}`;
}

/**
 * sshd's drop_connection(): whether a new connection is dropped with `count` already waiting.
 * Exported for its test.
 */
export function dropsAt(m: MaxStartups, count: number, random: () => number): boolean {
  if (count < m.start) return false;
  if (count >= m.full) return true;
  // sshd's integer arithmetic: at 99 of 10:30:100, p is 99, so 1 in 100 still gets through.
  const p = m.rate + Math.floor(((100 - m.rate) * (count - m.start)) / (m.full - m.start));
  return random() < p;
}

/**
 * The source a connection counts against for the per-source bound: an IPv4 address (an
 * IPv4-mapped IPv6 one too), or the /64 of an IPv6 address.
 */
export function sourceOf(ip: string): string {
  const address = normalizeAddress(ip);
  if (net.isIPv6(address)) {
    const [head = '', tail = ''] = address.split('%')[0]!.split('::');
    const left = head ? head.split(':') : [];
    const right = tail ? tail.split(':') : [];
    const groups = address.includes('::')
      ? [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right]
      : left;
    return `${groups
      .slice(0, 4)
      .map((g) => parseInt(g, 16).toString(16))
      .join(':')}::/64`;
  }
  return address;
}

/**
 * Puts a TCP front in front of an ssh2 server: it counts connections from accept until the
 * ssh2 connection emits `ready` (authenticated); a new one is closed at once when its source
 * already has `perSourceMaxStartups` waiting, or by MaxStartups' random early drop (10:30:100:
 * from 10 waiting, 30% of new ones, rising to all at 100); and any that is not authenticated
 * within `loginGraceMs` is closed, including peers that never send a byte. Accepted sockets are
 * handed to the ssh2 server with its public `injectSocket()`. Listen on the returned `server`,
 * not on the ssh2 server. The gate learns of authentication only through `ready`, so any
 * authentication handler works.
 */
export function limitConnections(
  sshServer: Server,
  options: ConnectionLimitOptions = {},
): ConnectionGate {
  const startups = resolveMaxStartups(options);
  const perSource = options.perSourceMaxStartups ?? DEFAULT_PER_SOURCE_MAX_STARTUPS;
  const graceMs = options.loginGraceMs ?? DEFAULT_LOGIN_GRACE_MS;
  const log = escapingLogger(options.log);
  const random = options.random ?? (() => randomInt(100));
  // Keyed by the peer's address and port, which ssh2 reports as ClientInfo for the same socket.
  const pending = new Map<string, { socket: net.Socket; timer: NodeJS.Timeout; source: string }>();
  const bySource = new Map<string, number>();
  let dropped = 0;
  let droppedPerSource = 0;
  const keyOf = (ip: string | undefined, port: number | undefined) => `${ip}|${port}`;
  const throttled = throttledLog(log);

  const release = (key: string, socket?: net.Socket) => {
    const entry = pending.get(key);
    if (!entry || (socket && entry.socket !== socket)) return;
    clearTimeout(entry.timer);
    pending.delete(key);
    const n = (bySource.get(entry.source) ?? 1) - 1;
    if (n > 0) bySource.set(entry.source, n);
    else bySource.delete(entry.source);
  };

  const front = net.createServer((socket) => {
    const peer = `${socket.remoteAddress}:${socket.remotePort}`;
    if (socket.remoteAddress === undefined) {
      socket.destroy(); // already gone
      return;
    }
    const source = sourceOf(socket.remoteAddress);
    const fromSource = bySource.get(source) ?? 0;
    if (fromSource >= perSource) {
      dropped++;
      droppedPerSource++;
      throttled(
        'source',
        `limits: ${peer}: dropped, ${fromSource} connections from ${source} not yet authenticated (per-source max ${perSource})`,
      );
      socket.destroy();
      return;
    }
    if (dropsAt(startups, pending.size, random)) {
      dropped++;
      throttled(
        'startups',
        `limits: ${peer}: dropped, ${pending.size} connections not yet authenticated (${startups.start === startups.full ? 'max' : 'MaxStartups'} ${describeMaxStartups(startups)})`,
      );
      socket.destroy();
      return;
    }
    const key = keyOf(socket.remoteAddress, socket.remotePort);
    const timer = setTimeout(() => {
      log(`limits: ${peer}: not authenticated within ${graceMs} ms; closing`);
      socket.destroy();
    }, graceMs);
    timer.unref();
    pending.set(key, { socket, timer, source });
    bySource.set(source, fromSource + 1);
    socket.once('close', () => release(key, socket));
    sshServer.injectSocket(socket);
  });
  front.on('error', (err) => sshServer.emit('error', err));

  sshServer.on('connection', (client: Connection, info: { ip: string; port: number }) => {
    const key = keyOf(info.ip, info.port);
    client.once('ready', () => release(key));
  });

  return {
    server: front,
    get unauthenticated() {
      return pending.size;
    },
    get dropped() {
      return dropped;
    },
    get droppedPerSource() {
      return droppedPerSource;
    },
  };
}

/**
 * A logger for floods: the first line of a kind at once, then at most one a second, saying how
 * many of that kind were not logged since.
 */
function throttledLog(log: Logger): (kind: string, message: string) => void {
  const state = new Map<string, { last: number; unlogged: number }>();
  return (kind, message) => {
    const now = Date.now();
    const s = state.get(kind) ?? { last: -Infinity, unlogged: 0 };
    state.set(kind, s);
    if (now - s.last < DROP_LOG_INTERVAL_MS) {
      s.unlogged++;
      return;
    }
    log(s.unlogged > 0 ? `${message}; ${s.unlogged} more dropped since the last line` : message);
    s.last = now;
    s.unlogged = 0;
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
  log?: Logger,
): ChannelLimit {
  const logTo = escapingLogger(log);
  let open = 0;
  let refused = 0;
  interceptChannelOpens(client, (event, accept, reject) => {
    if (open >= max) {
      refused++;
      logTo(`limits: ${event} channel refused: ${open} channels open (max ${max})`);
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
