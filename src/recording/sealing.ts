/**
 * What the Recorder asks of sealing, in one place: sealing is on for a directory set up with
 * `sshcast seal init`; each file recording gets a line hook and an `open` entry when it starts
 * and a `close` entry when it is finished; a failed ledger or key-state write is a recording
 * failure under the Recorder's write-failure policy.
 */
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import type { WrittenBytes } from '../sealing/hasher.js';
import { isSealed } from '../sealing/layout.js';
import { Sealer, type SealedRecording } from '../sealing/sealer.js';
import type { SealFileOps } from '../sealing/store.js';
import type { WriteFailurePolicy } from './policy.js';
import type { Recording } from './recording.js';

/** What a host can read of a Recorder's sealing (`Recorder.sealing`). */
export interface SealingStatus {
  /** How often the key moves and the ledger is sealed, in seconds (the interval D). */
  readonly interval: number;
}

/** The sealing of one Recorder's directory. */
export class RecorderSealing implements SealingStatus {
  readonly #sealer: Sealer;
  readonly #log: Logger;
  readonly #live = new Map<string, { recording: Recording; policy: WriteFailurePolicy }>();

  private constructor(sealer: Sealer, log: Logger) {
    this.#sealer = sealer;
    this.#log = log;
    sealer.on('failure', (err, files) => {
      const live = files.flatMap((f) => this.#live.get(f) ?? []);
      if (live.length === 0) this.#log(`sshcast: ${err.message}`);
      for (const { recording, policy } of live) recording.emit('failure', err, policy);
    });
  }

  /**
   * Starts sealing `dir` (writes `start`) when it has been set up, else returns undefined. Throws
   * a SealingError when it is set up but cannot be sealed (another process seals it, say).
   */
  static open(
    dir: string,
    options: { clock?: Clock; log: Logger; ops?: SealFileOps },
  ): RecorderSealing | undefined {
    if (!isSealed(dir)) return undefined;
    const sealer = Sealer.open(dir, options);
    try {
      sealer.start();
    } catch (err) {
      void sealer.stop();
      throw err;
    }
    return new RecorderSealing(sealer, options.log);
  }

  /** The interval D in seconds. */
  get interval(): number {
    return this.#sealer.interval;
  }

  /** Starts sealing the recording `file`; its `onLine` goes to the writer, then `open()`. */
  track(
    file: string,
    written: WrittenBytes,
    options: { hashed?: boolean; slabs?: boolean } = {},
  ): SealedRecording {
    return this.#sealer.track(file, written, options);
  }

  /** Seals the recording's failures under `policy`, and its `close` when it is finished. */
  watch(sealed: SealedRecording, recording: Recording, policy: WriteFailurePolicy): void {
    this.#live.set(sealed.file, { recording, policy });
    recording.once('close', () => {
      void sealed.close().finally(() => this.#live.delete(sealed.file));
    });
  }

  /** Forgets a recording that did not start. */
  abandon(sealed: SealedRecording): void {
    this.#sealer.abandon(sealed);
  }

  /** Writes the pending `close` entries and `stop`, moves the key once more, and releases. */
  stop(): Promise<void> {
    return this.#sealer.stop();
  }
}
