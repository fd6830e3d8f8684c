/**
 * The drain after a pty's child exits (see pty.ts): a random sentinel written through the slave
 * comes out of the master after everything the child wrote before its exit, so once it is read,
 * that output has been read.
 */
import { randomBytes } from 'node:crypto';
import { PtyInput } from './input.js';
import { QuietTimer } from './quiet-timer.js';

/**
 * How long reading (while not paused) may go without the sentinel before the drain gives up:
 * only a terminal whose output was stopped (^S) keeps it back.
 */
export const DRAIN_TIMEOUT_MS = 5000;

/**
 * Waits for a sentinel written through the slave to come out of the master, passing on the output
 * around it (and holding back an end that may be the sentinel's start).
 */
export class Drain {
  readonly #sentinel = Buffer.from(`SSHCASTDRAIN${randomBytes(12).toString('hex').toUpperCase()}`);
  readonly #writer: PtyInput;
  readonly #emit: (chunk: Buffer) => void;
  readonly #done: () => void;
  #held: Buffer = Buffer.alloc(0);
  readonly #timer: QuietTimer;
  #finished = false;

  constructor(
    slave: number,
    emit: (chunk: Buffer) => void,
    done: () => void,
    timeoutMs = DRAIN_TIMEOUT_MS,
  ) {
    this.#emit = emit;
    this.#done = done;
    this.#timer = new QuietTimer(timeoutMs, () => this.end());
    this.#writer = new PtyInput(slave, () => {});
    this.#writer.write(this.#sentinel);
  }

  /** Starts (or restarts) the timeout; only while output is being read. */
  arm(): void {
    if (!this.#finished) this.#timer.arm();
  }

  disarm(): void {
    this.#timer.cancel();
  }

  /** Output read from the master while draining. */
  take(chunk: Buffer): void {
    if (this.#finished) return this.#emit(chunk);
    if (this.#timer.armed) this.arm();
    const buf = this.#held.length ? Buffer.concat([this.#held, chunk]) : chunk;
    this.#held = Buffer.alloc(0);
    const at = buf.indexOf(this.#sentinel);
    if (at !== -1) {
      this.#emit(buf.subarray(0, at));
      this.#finish();
      this.#emit(buf.subarray(at + this.#sentinel.length));
      return;
    }
    let keep = 0;
    for (let n = Math.min(this.#sentinel.length - 1, buf.length); n > 0; n--) {
      if (buf.subarray(buf.length - n).equals(this.#sentinel.subarray(0, n))) {
        keep = n;
        break;
      }
    }
    this.#emit(buf.subarray(0, buf.length - keep));
    this.#held = Buffer.from(buf.subarray(buf.length - keep));
  }

  /** Gives up waiting: what was held back is output after all. */
  end(): void {
    if (this.#finished) return;
    const held = this.#held;
    this.#held = Buffer.alloc(0);
    this.#emit(held);
    this.#finish();
  }

  /** Stops without passing anything on (a hangup discards output). */
  dispose(): void {
    this.#finished = true;
    this.#held = Buffer.alloc(0);
    this.#timer.cancel();
    this.#writer.dispose();
  }

  #finish(): void {
    this.#finished = true;
    this.#timer.cancel();
    this.#writer.dispose();
    this.#done();
  }
}
