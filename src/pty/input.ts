/**
 * Input to a pty master with a bound. node-pty's own writer retries EAGAIN with setImmediate,
 * which spins a CPU for as long as a raw-mode process leaves its input unread (measured: 76% of a
 * core), and queues without bound. This one backs off with a timer and says when to stop reading.
 */
import fs from 'node:fs';

/** Input held for a terminal whose process is not reading, before the writer says stop. */
export const INPUT_HIGH_WATER = 64 * 1024;
const MAX_RETRY_MS = 100;

export class PtyInput {
  readonly #fd: number;
  readonly #onDrain: () => void;
  readonly #queue: Buffer[] = [];
  #pending = 0;
  #writing = false;
  #blocked = false;
  #retry = 1;
  #timer: NodeJS.Timeout | undefined;
  #disposed = false;

  /** Writes to `fd` (a non-blocking pty master); `onDrain` after `write()` returned false. */
  constructor(fd: number, onDrain: () => void) {
    this.#fd = fd;
    this.#onDrain = onDrain;
  }

  /** Queues input; false when more than {@link INPUT_HIGH_WATER} bytes wait. */
  write(data: Buffer): boolean {
    if (this.#disposed || data.length === 0) return true;
    this.#queue.push(data);
    this.#pending += data.length;
    if (!this.#writing && !this.#timer) this.#flush();
    if (this.#pending > INPUT_HIGH_WATER) this.#blocked = true;
    return !this.#blocked;
  }

  #flush(): void {
    const head = this.#queue[0];
    if (this.#disposed || !head) return;
    this.#writing = true;
    fs.write(this.#fd, head, 0, head.length, null, (err, written) => {
      this.#writing = false;
      if (this.#disposed) return;
      if (err) {
        if (err.code !== 'EAGAIN') return this.dispose();
        this.#timer = setTimeout(() => {
          this.#timer = undefined;
          this.#flush();
        }, this.#retry);
        this.#retry = Math.min(this.#retry * 2, MAX_RETRY_MS);
        return;
      }
      this.#retry = 1;
      this.#pending -= written;
      if (written >= head.length) this.#queue.shift();
      else this.#queue[0] = head.subarray(written);
      if (this.#blocked && this.#pending <= INPUT_HIGH_WATER / 2) {
        this.#blocked = false;
        this.#onDrain();
      }
      this.#flush();
    });
  }

  /** Drops what is queued and writes nothing more (the descriptor may be closed after this). */
  dispose(): void {
    this.#disposed = true;
    clearTimeout(this.#timer);
    this.#queue.length = 0;
    this.#pending = 0;
    if (this.#blocked) {
      this.#blocked = false;
      this.#onDrain();
    }
  }
}
