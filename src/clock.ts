/**
 * The clock sshcast reads: a monotonic one for event times and the sealing key's moves, a wall one
 * for headers and ledger entries.
 */
export interface Clock {
  /** Monotonic time in integer microseconds (any origin). */
  monotonic(): number;
  /** Wall-clock time in milliseconds since the Unix epoch. */
  wall(): number;
}

/** The real clock: `process.hrtime` and `Date.now()`. */
export const systemClock: Clock = {
  monotonic: () => Number(process.hrtime.bigint() / 1000n),
  wall: () => Date.now(),
};

/** A clock that moves only when told to; for tests. */
export class ManualClock implements Clock {
  #us = 0;
  #wallMs: number;

  constructor(wallMs = 1_700_000_000_000) {
    this.#wallMs = wallMs;
  }

  monotonic(): number {
    return this.#us;
  }

  wall(): number {
    return this.#wallMs + Math.floor(this.#us / 1000);
  }

  /** Moves time forward by `seconds`. */
  advance(seconds: number): void {
    this.#us += Math.round(seconds * 1_000_000);
  }
}
