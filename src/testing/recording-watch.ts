/**
 * Which recordings of a recorder started and which finished, and waiting, by event, for a number
 * of them to be done: `waitForRecordings` of startTestServer and of memoryRecorder.
 */
import { SshcastError } from '../errors.js';
import type { Recorder } from '../recording/recorder.js';
import type { Recording } from '../recording/recording.js';

/**
 * @internal Watches a recorder: which recordings started and which finished, and waits, by event,
 * for a number of them to be done.
 */
export class RecordingWatch {
  readonly #started = new Set<Recording>();
  readonly #finished = new Set<Recording>();
  readonly #waiters = new Set<() => void>();

  constructor(recorder: Recorder) {
    recorder.on('start', (rec) => {
      this.#started.add(rec);
      rec.once('close', () => {
        this.#finished.add(rec);
        this.#wake();
      });
      this.#wake();
    });
  }

  #wake(): void {
    for (const f of [...this.#waiters]) f();
  }

  /** Resolves once `count` recordings started and every started one finished. */
  wait(count: number, ms: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (this.#started.size < count || this.#finished.size !== this.#started.size) return;
        this.#waiters.delete(check);
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(check);
        reject(
          new SshcastError(
            'ERR_TEST_WAIT',
            `waitForRecordings(${count}): ${this.#started.size} started, ${this.#finished.size} finished after ${ms} ms`,
          ),
        );
      }, ms);
      this.#waiters.add(check);
      check();
    });
  }
}
