/**
 * Tickets for the live views' Server-Sent Events. An EventSource cannot send an `Authorization`
 * header, so the page asks for a ticket with its token, and the stream's URL carries the ticket
 * instead: random, for one recording only, and short-lived. A ticket must be used within
 * `firstUseMs` of being issued; it then belongs to that stream: one connection at a time, and a
 * reconnect (EventSource reconnects by itself when a connection drops) is accepted within
 * `reconnectMs` of the last connection's end. Once the stream has ended with `done`, the ticket
 * is spent. Tickets are kept by their SHA-256, so looking one up reveals nothing of another.
 */
import { createHash, randomBytes } from 'node:crypto';

/** Options for {@link Tickets}. */
export interface TicketOptions {
  /** How long an unused ticket stays valid. Default 30 s. */
  firstUseMs?: number;
  /** How long after a connection ends its ticket may reconnect. Default 30 s. */
  reconnectMs?: number;
  /** The most tickets kept; past it, the oldest not in use are dropped. Default 1000. */
  max?: number;
  /** Milliseconds, monotonic. */
  now?: () => number;
}

interface Entry {
  recording: string;
  /** Until when it may (re)connect; Infinity while a connection holds it. */
  validUntil: number;
  inUse: boolean;
}

/** A connection's hold on its ticket. */
export interface TicketLease {
  /** The connection ended; `spent` when its stream ended (`done`), so no reconnect is wanted. */
  release(spent: boolean): void;
}

/** Why a ticket was refused. */
export type TicketRefusal = 'unknown' | 'expired' | 'another recording' | 'in use';

export class Tickets {
  readonly #entries = new Map<string, Entry>();
  readonly #firstUseMs: number;
  readonly #reconnectMs: number;
  readonly #max: number;
  readonly #now: () => number;

  constructor(options: TicketOptions = {}) {
    this.#firstUseMs = options.firstUseMs ?? 30_000;
    this.#reconnectMs = options.reconnectMs ?? 30_000;
    this.#max = options.max ?? 1000;
    this.#now = options.now ?? (() => performance.now());
  }

  /** Seconds an unused ticket lives, for the page. */
  get firstUseSeconds(): number {
    return this.#firstUseMs / 1000;
  }

  /** A new ticket for `recording`'s stream. */
  issue(recording: string): string {
    this.#sweep();
    const ticket = randomBytes(32).toString('base64url');
    this.#entries.set(key(ticket), {
      recording,
      validUntil: this.#now() + this.#firstUseMs,
      inUse: false,
    });
    return ticket;
  }

  /** Opens a connection of `recording`'s stream with `ticket`: its lease, or why not. */
  use(ticket: string, recording: string): TicketLease | TicketRefusal {
    const k = key(ticket);
    const entry = this.#entries.get(k);
    if (!entry) return 'unknown';
    if (entry.recording !== recording) return 'another recording';
    if (entry.inUse) return 'in use';
    if (this.#now() > entry.validUntil) {
      this.#entries.delete(k);
      return 'expired';
    }
    entry.inUse = true;
    entry.validUntil = Infinity;
    let released = false;
    return {
      release: (spent) => {
        if (released) return;
        released = true;
        entry.inUse = false;
        if (spent) this.#entries.delete(k);
        else entry.validUntil = this.#now() + this.#reconnectMs;
      },
    };
  }

  #sweep(): void {
    const now = this.#now();
    for (const [k, e] of this.#entries) if (!e.inUse && now > e.validUntil) this.#entries.delete(k);
    // Oldest first (a Map keeps insertion order).
    for (const [k, e] of this.#entries) {
      if (this.#entries.size < this.#max) break;
      if (!e.inUse) this.#entries.delete(k);
    }
  }
}

function key(ticket: string): string {
  return createHash('sha256').update(ticket).digest('hex');
}
