/**
 * The replay server's audit log: every replay, every live view (its start and its end) and every
 * refused request for data, each with the time, the recording and the client's address, so an
 * audit can say who watched what and who tried. Values a client chose (a path, a name) have their
 * control characters escaped by the log it writes to (escapingLogger), so a request cannot
 * forge or hide a line.
 */
import { escapingLogger, type Logger } from '../log.js';

/** The longest path quoted in a line. */
const MAX_PATH = 200;

/** Where a request came from: `ADDRESS:PORT`. */
export function clientOf(socket: { remoteAddress?: string; remotePort?: number }): string {
  const address = socket.remoteAddress ?? 'unknown';
  return `${address.includes(':') ? `[${address}]` : address}:${socket.remotePort ?? 0}`;
}

/** Writes the audit lines of one server, each starting with the time (ISO 8601, UTC). */
export class Audit {
  readonly #write: Logger;
  readonly #now: () => Date;

  constructor(log: Logger, now: () => Date = () => new Date()) {
    this.#write = escapingLogger(log);
    this.#now = now;
  }

  #line(text: string): void {
    this.#write(`${this.#now().toISOString()} ${text}`);
  }

  /** A whole recording was served for replay. */
  replay(recording: string, client: string): void {
    this.#line(`replay of ${recording} to ${client}`);
  }

  /** A live view's stream was opened (a reconnect counts again). */
  liveStart(recording: string, client: string, viewers: number): void {
    this.#line(`live view of ${recording} by ${client} started (${viewers} watching)`);
  }

  /** A live view's stream ended, after `seconds`, and why. */
  liveEnd(recording: string, client: string, seconds: number, why: string): void {
    this.#line(
      `live view of ${recording} by ${client} ended after ${seconds.toFixed(1)} s: ${why}`,
    );
  }

  /** A request for data was refused (status and reason). */
  refused(method: string, path: string, client: string, status: number, why: string): void {
    const shown = path.length > MAX_PATH ? `${path.slice(0, MAX_PATH)}…` : path;
    this.#line(`refused ${method} ${shown} from ${client}: ${status} ${why}`);
  }
}
