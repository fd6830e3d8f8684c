/**
 * Sealing in a process (DESIGN section 7, "When entries are written"): the one process that
 * writes ticks for a directory. `start` when it begins; `open` when a recording's header is
 * written; at the end of every epoch, with that epoch's key, a `seal` for each recording that
 * grew and the epoch's `tick`, then the key moves on; `close` when a recording is finished;
 * `stop`, then one more move of the key, on a clean shutdown.
 *
 * The key moves when the wall clock passes the epoch's end or when D seconds of monotonic time
 * have passed since the last move, whichever is first, so a clock stepped back does not stall
 * forward security. A late timer (a busy event loop, a suspended machine) catches up: every epoch
 * that ended gets its tick, none is skipped.
 */
import { EventEmitter } from 'node:events';
import { SealingError, SealWriteError, SshcastError, type SinkWriteError } from '../errors.js';
import { escapingLogger, type Logger } from '../log.js';
import { systemClock, type Clock } from '../clock.js';
import { epochOf, epochStart } from './key.js';
import { LineHasher, type WrittenBytes } from './hasher.js';
import type { ChainPoint, LedgerEntry } from './ledger.js';
import { SealStore, type LedgerTx, type NewEntry, type SealFileOps } from './store.js';

/**
 * More epochs than this to catch up at once (a clock stepped years ahead, a machine suspended
 * for months at a short interval) are written as a pause, a `stop` and a `start`, rather than a
 * tick for each.
 */
export const MAX_CATCH_UP = 10_000;

/** Thrown inside a transaction to abandon it. */
const REFUSED = new SealingError('refused');

/** The longest a timer sleeps, so that a wall clock stepped ahead is noticed within a second. */
const MAX_SLEEP_MS = 1000;

/** Options for {@link Sealer.open}. */
export interface SealerOptions {
  /** The clock (monotonic microseconds, wall milliseconds). Default: the system clock. */
  clock?: Clock;
  /** Where problems are logged, one line each. Default: stderr, escaped ({@link escapingLogger}). */
  log?: Logger;
  /** Who this process is, for another process's error message. Default `server`. */
  role?: string;
  /** File system calls for the ledger and key state; injectable to test faults. */
  ops?: SealFileOps;
  /** Schedule epoch ends with timers. Default true; tests with a manual clock call poll(). */
  timers?: boolean;
  /** Hash recordings on a worker thread. Default true. */
  hashWorker?: boolean;
}

export interface SealerEvents {
  /** A ledger append or key move failed; `files` are the recordings it concerned. */
  failure: [error: SinkWriteError, files: string[]];
}

/** One recording being sealed: its chain, and what its last entry covered. */
export class SealedRecording {
  /** The recording's name in the directory. */
  readonly file: string;
  /** Follows the chain; its `onLine` is the writer's line hook. */
  readonly hasher: LineHasher;
  /** Lines its last entry covered (0 before `open`). */
  sealedLines = 0;
  readonly #sealer: Sealer;

  /** @internal Use Sealer.track(). */
  constructor(sealer: Sealer, file: string, hasher: LineHasher) {
    this.#sealer = sealer;
    this.file = file;
    this.hasher = hasher;
  }

  /** The writer's line hook. */
  get onLine(): (line: Buffer) => void {
    return this.hasher.onLine;
  }

  /** Writes the `open` entry, once the header is written. Throws when it cannot. */
  open(): void {
    this.#sealer.open(this);
  }

  /** Writes the `close` entry once every line is hashed; a failure is emitted, not thrown. */
  close(): Promise<void> {
    return this.#sealer.close(this);
  }
}

function asWriteError(err: unknown, ledger: string): SinkWriteError {
  return err instanceof SealWriteError ? err : new SealWriteError(ledger, err);
}

/** The sealing process of one directory. */
export class Sealer extends EventEmitter<SealerEvents> {
  /** The recordings directory. */
  readonly dir: string;
  readonly #store: SealStore;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #timers: boolean;
  readonly #hashWorker: boolean;
  readonly #recordings = new Set<SealedRecording>();
  readonly #closing = new Set<Promise<void>>();
  #state: 'new' | 'running' | 'stopping' | 'stopped' = 'new';
  #timer: NodeJS.Timeout | undefined;
  /** The key's epoch after the last transaction. */
  #epoch = 0;
  /** Monotonic microseconds of the last move of the key (on the schedule). */
  #lastMove = 0;
  #stopped: Promise<void> | undefined;

  private constructor(dir: string, store: SealStore, options: SealerOptions) {
    super();
    this.dir = dir;
    this.#store = store;
    this.#clock = options.clock ?? systemClock;
    this.#log = escapingLogger(options.log);
    this.#timers = options.timers ?? true;
    this.#hashWorker = options.hashWorker ?? true;
  }

  /**
   * Opens the sealing of `dir` and becomes its one sealing process. Throws a SealingError when
   * another process seals it (a second server gets this error), or its files are not usable.
   */
  static open(dir: string, options: SealerOptions = {}): Sealer {
    const sealer = Sealer.tryOpen(dir, options);
    if (typeof sealer === 'string')
      throw new SealingError(
        `${dir} is being sealed by another process${sealer ? ` (pid ${sealer.replace(' ', ', ')})` : ''}: one sealing process per directory`,
      );
    return sealer;
  }

  /**
   * {@link Sealer.open}, or, when another process seals `dir`, who it is (`1234 server`, or ''
   * when unknown) instead of an error.
   */
  static tryOpen(dir: string, options: SealerOptions = {}): Sealer | string {
    const store = SealStore.open(dir, options.ops ? { ops: options.ops } : {});
    if (!store.locks.trySealer(options.role ?? 'server')) {
      const who = store.locks.holder() ?? '';
      store.close();
      return who;
    }
    return new Sealer(dir, store, options);
  }

  /** The interval D in seconds. */
  get interval(): number {
    return this.#store.settings.interval;
  }

  /** The retention sealed in `init`, in seconds. */
  get retention(): number {
    return this.#store.settings.retention;
  }

  /** The ledger's path. */
  get ledger(): string {
    return this.#store.paths.ledger;
  }

  #now(): { wallMs: number; now: number; mono: number } {
    const wallMs = this.#clock.wall();
    return { wallMs, now: Math.floor(wallMs / 1000), mono: this.#clock.monotonic() };
  }

  /**
   * Writes `start`. Epochs since the ledger's last entry pass without ticks (after a `stop` or
   * `init` they are a pause; after a crash, a gap verify reports). Throws when it cannot.
   */
  start(): void {
    if (this.#state !== 'new')
      throw new SshcastError('ERR_INVALID_STATE', 'Sealer.start() called twice');
    const { wallMs, now, mono } = this.#now();
    const s = this.#store.settings;
    this.#transact((tx) => {
      const w = epochOf(s, now);
      if (w > tx.epoch) tx.moveKey(w - tx.epoch);
      tx.append({ kind: 'start' }, now);
      // On the wall clock's schedule when the key is at most one epoch ahead of it (a restart
      // right after a stop, which moved the key once more); else the clock is behind: D from now.
      if (tx.epoch <= w + 1) {
        this.#lastMove =
          mono + (epochStart(s, tx.epoch + 1) * 1000 - wallMs) * 1000 - s.interval * 1e6;
      } else this.#lastMove = mono;
    });
    this.#state = 'running';
    this.#schedule();
  }

  /**
   * Starts sealing one recording; pass its `onLine` to the writer, then call `open()`. `hashed`:
   * after the header, the writer hashes the lines and gives their digests to `hasher.add()`.
   * `slabs`: the writer cuts its lines from `hasher.slabs` (see LineHasher), and `written` is a
   * sink that keeps no line once it is in the file.
   */
  track(
    file: string,
    written: WrittenBytes,
    options: { hashed?: boolean; slabs?: boolean } = {},
  ): SealedRecording {
    if (this.#state !== 'running') throw new SealingError('sealing is not running');
    // Lines hashed by the recording thread come with their digests (LineHasher.add).
    const worker = options.hashed ? false : this.#hashWorker;
    const slabs = !options.hashed && options.slabs === true;
    const rec = new SealedRecording(this, file, new LineHasher(written, { worker, slabs }));
    this.#recordings.add(rec);
    return rec;
  }

  /** @internal See SealedRecording.open(). */
  open(rec: SealedRecording): void {
    // The header as written (a file sink writes it at once; were it to fail later, the
    // recording failed, and verify says so).
    const p = rec.hasher.header();
    if (!p) throw new SealingError(`${rec.file}: no header was written`);
    try {
      this.#append({ kind: 'open', file: rec.file, ...p });
    } catch (err) {
      this.#recordings.delete(rec);
      rec.hasher.dispose();
      throw err;
    }
    rec.sealedLines = p.lines;
  }

  /** @internal See SealedRecording.close(). */
  close(rec: SealedRecording): Promise<void> {
    const done = (async () => {
      await rec.hasher.drained();
      this.#recordings.delete(rec);
      const p = rec.hasher.point();
      rec.hasher.dispose();
      if (!p || this.#state === 'stopped') return;
      try {
        this.#append({ kind: 'close', file: rec.file, ...p });
        rec.sealedLines = p.lines;
      } catch (err) {
        this.#fail(err, [rec.file]);
      }
    })();
    this.#closing.add(done);
    void done.finally(() => this.#closing.delete(done));
    return done;
  }

  /**
   * Appends one entry in the current epoch, ending every epoch that is due first. For
   * `sshcast prune` acting as the sealing process of a stopped server.
   */
  append(entry: NewEntry, accept?: (entry: LedgerEntry) => boolean): LedgerEntry | undefined {
    return this.#append(entry, accept);
  }

  /** Appends `entry` (unless `accept` refuses it as it would be written: nothing is then). */
  #append(entry: NewEntry, accept?: (entry: LedgerEntry) => boolean): LedgerEntry | undefined {
    // While stopping, the last recordings' `close` entries are still written.
    if (this.#state !== 'running' && this.#state !== 'stopping')
      throw new SealingError('sealing is not running');
    const { wallMs, now, mono } = this.#now();
    try {
      return this.#transact((tx, sealed) => {
        this.#endDueEpochs(tx, wallMs, mono, sealed);
        const e = tx.append(entry, now);
        if (accept && !accept(e)) throw REFUSED;
        return e;
      });
    } catch (err) {
      if (err === REFUSED) return undefined;
      throw err;
    }
  }

  /** Runs a transaction; seals it made take effect only if it committed. */
  #transact<T>(fn: (tx: LedgerTx, sealed: [SealedRecording, ChainPoint][]) => T): T {
    const sealed: [SealedRecording, ChainPoint][] = [];
    let epoch = this.#epoch;
    const result = this.#store.transact((tx) => {
      const r = fn(tx, sealed);
      epoch = tx.epoch;
      return r;
    });
    this.#epoch = epoch;
    for (const [rec, p] of sealed) rec.sealedLines = p.lines;
    return result;
  }

  /** How many moves of the key are due now. */
  #due(epoch: number, now: number, mono: number): number {
    const wallDue = epochOf(this.#store.settings, now) - epoch;
    const monoDue = Math.floor((mono - this.#lastMove) / (this.interval * 1e6));
    return Math.max(wallDue, monoDue, 0);
  }

  /** Ends every epoch that is due: seals and a tick with each epoch's key, then the key moves. */
  #endDueEpochs(
    tx: LedgerTx,
    wallMs: number,
    mono: number,
    sealed: [SealedRecording, ChainPoint][],
  ): void {
    const s = this.#store.settings;
    const now = Math.floor(wallMs / 1000);
    const moves = this.#due(tx.epoch, now, mono);
    if (moves === 0) return;
    for (const rec of this.#recordings) {
      const p = rec.hasher.point();
      if (rec.sealedLines > 0 && p && p.lines > rec.sealedLines) {
        tx.append({ kind: 'seal', file: rec.file, ...p }, now);
        sealed.push([rec, p]);
      }
    }
    const w = epochOf(s, now);
    if (moves > MAX_CATCH_UP) {
      this.#log(
        `sshcast: sealing: ${moves} intervals passed at once (a clock stepped ahead, or a long suspend); written as a pause`,
      );
      tx.append({ kind: 'tick' }, now);
      tx.moveKey(1);
      tx.append({ kind: 'stop' }, now);
      tx.moveKey(Math.max(1, w - tx.epoch));
      tx.append({ kind: 'start' }, now);
    } else {
      for (let i = 0; i < moves; i++) {
        tx.append({ kind: 'tick' }, now);
        tx.moveKey(1);
      }
    }
    if (tx.epoch === w) this.#lastMove = mono - (wallMs - epochStart(s, w) * 1000) * 1000;
    else this.#lastMove += Math.min(moves, MAX_CATCH_UP) * s.interval * 1e6;
  }

  /** Ends every epoch that is due. The timers call it; tests with a manual clock call it. */
  poll(): void {
    if (this.#state !== 'running') return;
    const { wallMs, now, mono } = this.#now();
    if (this.#due(this.#epoch, now, mono) > 0) {
      try {
        this.#transact((tx, sealed) => this.#endDueEpochs(tx, wallMs, mono, sealed));
      } catch (err) {
        this.#fail(
          err,
          [...this.#recordings].map((r) => r.file),
        );
      }
    }
    this.#schedule();
  }

  #schedule(): void {
    if (!this.#timers || this.#state !== 'running') return;
    clearTimeout(this.#timer);
    const s = this.#store.settings;
    const { wallMs, mono } = this.#now();
    const wallWait = epochStart(s, this.#epoch + 1) * 1000 - wallMs;
    const monoWait = (this.#lastMove + s.interval * 1e6 - mono) / 1000;
    const wait = Math.min(Math.max(0, Math.min(wallWait, monoWait)), MAX_SLEEP_MS);
    this.#timer = setTimeout(() => this.poll(), Math.ceil(wait) + 1);
    this.#timer.unref();
  }

  #fail(err: unknown, files: string[]): void {
    const error = asWriteError(err, this.ledger);
    if (this.listenerCount('failure') === 0) this.#log(`sshcast: ${error.message}`);
    this.emit('failure', error, files);
  }

  /** Forgets a recording tracked but never opened (its start failed). */
  abandon(rec: SealedRecording): void {
    this.#recordings.delete(rec);
    rec.hasher.dispose();
  }

  /** Recordings being sealed. */
  get recordings(): ReadonlySet<SealedRecording> {
    return this.#recordings;
  }

  /**
   * Writes the pending `close` entries, then `stop`, then moves the key once more and releases
   * the directory. Safe to call twice. A failure is logged (and emitted), never thrown.
   */
  stop(): Promise<void> {
    this.#stopped ??= (async () => {
      if (this.#state === 'new') {
        this.#state = 'stopped';
        this.#store.close();
        return;
      }
      this.#state = 'stopping';
      clearTimeout(this.#timer);
      await Promise.all([...this.#closing]);
      try {
        const { wallMs, now, mono } = this.#now();
        this.#transact((tx, sealed) => {
          this.#endDueEpochs(tx, wallMs, mono, sealed);
          for (const rec of this.#recordings) {
            const p = rec.hasher.point();
            if (p && p.lines > rec.sealedLines) {
              tx.append({ kind: 'seal', file: rec.file, ...p }, now);
              sealed.push([rec, p]);
            }
          }
          tx.append({ kind: 'stop' }, now);
          tx.moveKey(1);
        });
      } catch (err) {
        this.#fail(
          err,
          [...this.#recordings].map((r) => r.file),
        );
      } finally {
        this.#state = 'stopped';
        for (const rec of this.#recordings) rec.hasher.dispose();
        this.#recordings.clear();
        this.#store.close();
      }
    })();
    return this.#stopped;
  }
}
