/**
 * The collector's tus Locker (`@tus/utils`' interface). Within the process, one request at a time
 * per upload; a newer request asks the one holding the lock to let go (as @tus/server's
 * MemoryLocker does, so that a retry replaces a request that hangs). Across collectors, the lock
 * is the upload's lease in the bucket, taken here before the request touches the upload
 * (UploadStore.prepare), and fenced at every write (leases.ts).
 */
import type { Lock, Locker, RequestRelease } from '@tus/utils';
import { TusError } from './errors.js';
import type { UploadStore } from './tus-store.js';

interface Held {
  release: RequestRelease;
  done: Promise<void>;
  unlock: () => void;
}

export class LeaseLocker implements Locker {
  readonly #store: UploadStore;
  readonly #timeoutMs: number;
  readonly #locks = new Map<string, Held>();

  /** `timeoutMs`: how long a request waits for the lock before it gets a 423. */
  constructor(store: UploadStore, timeoutMs = 20_000) {
    this.#store = store;
    this.#timeoutMs = timeoutMs;
  }

  newLock(id: string): Lock {
    let mine: Held | undefined;
    return {
      lock: async (signal: AbortSignal, requestRelease: RequestRelease) => {
        const deadline = Date.now() + this.#timeoutMs;
        for (;;) {
          if (signal.aborted) throw new TusError(499, 'request aborted');
          const current = this.#locks.get(id);
          if (!current) break;
          await current.release();
          const left = deadline - Date.now();
          if (left <= 0) throw new TusError(423, 'the upload is busy; retry');
          await Promise.race([
            current.done,
            new Promise((r) => setTimeout(r, Math.min(left, 1000))),
          ]);
        }
        let unlock!: () => void;
        const done = new Promise<void>((r) => (unlock = r));
        mine = { release: requestRelease, done, unlock };
        this.#locks.set(id, mine);
        try {
          await this.#store.prepare(id);
        } catch (err) {
          this.#release(id, mine);
          mine = undefined;
          throw err;
        }
      },
      unlock: async () => {
        if (mine) this.#release(id, mine);
        mine = undefined;
      },
    };
  }

  #release(id: string, held: Held): void {
    if (this.#locks.get(id) === held) this.#locks.delete(id);
    held.unlock();
  }
}
