/**
 * A sealed directory's ledger and key state, open for appending. Every append and every move of
 * the key happens in {@link SealStore.transact}: under the ledger lock, with the key state and
 * the ledger's last entry read from disk, so several processes (a server and `sshcast prune`)
 * can share the ledger. Entries are written in one write; a failed write is cut back to the last
 * complete line. When the key moves, the ledger is synced first, then the state is overwritten in
 * place and synced.
 */
import fs from 'node:fs';
import { SealingError, SealWriteError } from '../errors.js';
import { clampToEpoch, epochLast, evolve, type EpochClock } from './key.js';
import {
  nextPrev,
  parseEntry,
  sealEntry,
  splitMac,
  type EntryKind,
  type FileEntry,
  type FileKind,
  type InitEntry,
  type LedgerEntry,
  type MarkKind,
} from './ledger.js';
import { sealPaths, type SealPaths } from './layout.js';
import { SealLocks } from './lock.js';
import { readState, writeState, type KeyState } from './state.js';

const { O_RDONLY, O_RDWR, O_APPEND, O_DIRECTORY, O_NOFOLLOW } = fs.constants;

/** The file system calls a store makes when it writes; replaceable to inject faults in tests. */
export interface SealFileOps {
  /** Appends `buf` to the ledger (opened O_APPEND); returns the bytes written. */
  append(fd: number, buf: Buffer): number;
  ftruncate(fd: number, len: number): void;
  fdatasync(fd: number): void;
  /** Overwrites the key state in place and fsyncs it. */
  writeState(fd: number, state: KeyState): void;
}

const nodeOps: SealFileOps = {
  append: (fd, buf) => fs.writeSync(fd, buf),
  ftruncate: (fd, len) => fs.ftruncateSync(fd, len),
  fdatasync: (fd) => fs.fdatasyncSync(fd),
  writeState,
};

/** The ledger's last complete entry, and what the next entry's `prev` must be. */
interface Tail {
  size: number;
  ino: number;
  mtimeMs: number;
  last: LedgerEntry;
  nextPrev: string;
}

/** What a sealed directory was set up with (its `init` entry and key state agree on it). */
export interface SealSettings extends EpochClock {
  retention: number;
}

function code(err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? String(err);
}

/** Opens the `.sshcast` directory of `paths` without following a symlink, and checks it. */
function openSealDir(paths: SealPaths): number {
  let fd: number;
  try {
    fd = fs.openSync(paths.sealDir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
  } catch (cause) {
    throw new SealingError(`cannot open ${paths.sealDir}: ${code(cause)}`, { cause });
  }
  const st = fs.fstatSync(fd);
  const uid = process.getuid?.() ?? 0;
  if ((st.mode & 0o077) !== 0 || (st.uid !== uid && st.uid !== 0)) {
    fs.closeSync(fd);
    throw new SealingError(
      `refusing ${paths.sealDir}: it must be a directory of this user or root, mode 0700 (it is ${(st.mode & 0o777).toString(8)}, uid ${st.uid})`,
    );
  }
  return fd;
}

/** The ledger and key state of one sealed directory, open for appending. */
export class SealStore {
  readonly paths: SealPaths;
  readonly settings: SealSettings;
  readonly locks: SealLocks;
  readonly #dirFd: number;
  readonly #ledgerFd: number;
  readonly #stateFd: number;
  readonly #ops: SealFileOps;
  #tail: Tail | undefined;
  #broken: Error | undefined;
  #closed = false;

  private constructor(paths: SealPaths, dirFd: number, ops: SealFileOps) {
    this.paths = paths;
    this.#dirFd = dirFd;
    this.#ops = ops;
    const at = (name: string) => `/proc/self/fd/${dirFd}/${name}`;
    const open = (file: string, flags: number) => {
      try {
        return fs.openSync(at(file.slice(paths.sealDir.length + 1)), flags | O_NOFOLLOW);
      } catch (cause) {
        throw new SealingError(`cannot open ${file}: ${code(cause)}`, { cause });
      }
    };
    this.#ledgerFd = open(paths.ledger, O_RDWR | O_APPEND);
    this.#stateFd = open(paths.state, O_RDWR);
    this.locks = SealLocks.open(at(paths.lock.slice(paths.sealDir.length + 1)));
    this.settings = this.#readSettings();
  }

  /** Opens the sealing files of recordings directory `dir` (set up by `seal init`). */
  static open(dir: string, options: { ops?: SealFileOps } = {}): SealStore {
    const paths = sealPaths(dir);
    const dirFd = openSealDir(paths);
    try {
      return new SealStore(paths, dirFd, options.ops ?? nodeOps);
    } catch (err) {
      fs.closeSync(dirFd);
      throw err;
    }
  }

  #readSettings(): SealSettings {
    const buf = Buffer.alloc(4096);
    const n = fs.readSync(this.#ledgerFd, buf, 0, buf.length, 0);
    const nl = buf.subarray(0, n).indexOf(10);
    const init = nl === -1 ? 'empty' : parseEntry(splitMac(buf.subarray(0, nl)).json);
    if (typeof init === 'string' || init.kind !== 'init')
      throw new SealingError(`${this.paths.ledger} does not start with an init entry`);
    const state = readState(this.#stateFd, this.paths.state);
    if (state.t0 !== init.time || state.interval !== (init as InitEntry).interval)
      throw new SealingError(
        `${this.paths.state} (t0 ${state.t0}) does not belong to ${this.paths.ledger} (t0 ${init.time})`,
      );
    return { t0: state.t0, interval: state.interval, retention: (init as InitEntry).retention };
  }

  /**
   * Runs `fn` under the ledger lock with the key state and the ledger's tail read from disk, then
   * writes what it appended (one write) and, if it moved the key, the new key state. Throws a
   * SealWriteError when a write fails (the key still moves if it was to), a SealingError when
   * the files are not usable.
   */
  transact<T>(fn: (tx: LedgerTx) => T): T {
    if (this.#closed) throw new SealingError('the sealing store is closed');
    if (this.#broken)
      throw new SealingError(`sealing stopped: ${this.#broken.message}`, { cause: this.#broken });
    this.locks.lockLedger();
    try {
      const state = readState(this.#stateFd, this.paths.state);
      const tail = this.#readTail();
      if (state.epoch < tail.last.epoch)
        throw new SealingError(
          `${this.paths.state} is at epoch ${state.epoch}, behind the ledger's ${tail.last.epoch}`,
        );
      const tx = new LedgerTx(this.settings, state, tail.last, tail.nextPrev);
      const result = fn(tx);
      this.#commit(tx, tail);
      return result;
    } finally {
      this.locks.unlockLedger();
    }
  }

  #readTail(): Tail {
    const st = fs.fstatSync(this.#ledgerFd);
    const cached = this.#tail;
    if (cached && cached.size === st.size && cached.ino === st.ino && cached.mtimeMs === st.mtimeMs)
      return cached;
    const window = Math.min(st.size, 64 * 1024);
    const buf = Buffer.alloc(window);
    fs.readSync(this.#ledgerFd, buf, 0, window, st.size - window);
    const end = buf.lastIndexOf(10);
    if (end === -1) throw new SealingError(`${this.paths.ledger} has no complete entry`);
    let size = st.size;
    if (end !== window - 1) {
      // A line cut short by a crash while appending: it was never complete, remove it.
      size = st.size - window + end + 1;
      this.#ops.ftruncate(this.#ledgerFd, size);
    }
    const start = buf.lastIndexOf(10, end - 1) + 1;
    if (start === 0 && size > window)
      throw new SealingError(`${this.paths.ledger}: last entry too long`);
    const line = buf.subarray(start, end);
    const last = parseEntry(splitMac(line).json);
    if (typeof last === 'string')
      throw new SealingError(`${this.paths.ledger}: the last entry is unreadable (${last})`);
    const after = size === st.size ? st : fs.fstatSync(this.#ledgerFd);
    return { size, ino: after.ino, mtimeMs: after.mtimeMs, last, nextPrev: nextPrev(line) };
  }

  #commit(tx: LedgerTx, tail: Tail): void {
    let failure: unknown;
    if (tx.lines.length > 0) {
      const buf = tx.lines.length === 1 ? tx.lines[0]! : Buffer.concat(tx.lines);
      try {
        let done = 0;
        while (done < buf.length) {
          const n = this.#ops.append(this.#ledgerFd, buf.subarray(done));
          if (n <= 0) throw new SealingError('a ledger write made no progress');
          done += n;
        }
      } catch (err) {
        failure = err;
        this.#tail = undefined;
        try {
          this.#ops.ftruncate(this.#ledgerFd, tail.size);
        } catch {
          // The next transaction removes a cut-short line.
        }
      }
      if (!failure) {
        const st = fs.fstatSync(this.#ledgerFd);
        this.#tail = {
          size: st.size,
          ino: st.ino,
          mtimeMs: st.mtimeMs,
          last: tx.last,
          nextPrev: tx.prev,
        };
      }
    }
    if (tx.keyMoved) {
      try {
        if (!failure) this.#ops.fdatasync(this.#ledgerFd);
        this.#ops.writeState(this.#stateFd, tx.state);
      } catch (err) {
        // The old key may still be on disk: never seal with it again.
        this.#broken = new SealingError(
          `cannot write the key state ${this.paths.state}: ${code(err)}`,
        );
        throw new SealWriteError(this.paths.state, err);
      }
    }
    if (failure) throw new SealWriteError(this.paths.ledger, failure);
  }

  /** Releases the locks and the files. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.locks.close();
    for (const fd of [this.#ledgerFd, this.#stateFd, this.#dirFd]) fs.closeSync(fd);
  }
}

/** What an append adds to an entry: its kind and, for recordings, the file and its chain. */
export type NewEntry =
  | { kind: MarkKind }
  | ({ kind: FileKind; file: string } & Pick<FileEntry, 'lines' | 'bytes' | 'chain'>);

/** One transaction: appends entries under the current epoch's key and moves the key. */
export class LedgerTx {
  readonly #clock: SealSettings;
  /** The key state, as moved so far. */
  readonly state: KeyState;
  /** The ledger's last entry, as appended so far. */
  last: LedgerEntry;
  /** The `prev` of the next entry. */
  prev: string;
  /** The lines appended, written at commit. */
  readonly lines: Buffer[] = [];
  keyMoved = false;

  constructor(settings: SealSettings, state: KeyState, last: LedgerEntry, prev: string) {
    this.#clock = settings;
    this.state = { ...state };
    this.last = last;
    this.prev = prev;
  }

  /** The epoch whose key is current. */
  get epoch(): number {
    return this.state.epoch;
  }

  /** The kind of the ledger's last entry. */
  get lastKind(): EntryKind {
    return this.last.kind;
  }

  /**
   * Appends an entry in the current epoch, at wall-clock second `now` clamped into the epoch and
   * never before the last entry.
   */
  append(entry: NewEntry, now: number): LedgerEntry {
    const time = Math.min(
      Math.max(this.last.time, clampToEpoch(this.#clock, this.state.epoch, now)),
      epochLast(this.#clock, this.state.epoch),
    );
    const full = {
      seq: this.last.seq + 1,
      epoch: this.state.epoch,
      time,
      prev: this.prev,
      ...entry,
    } as LedgerEntry;
    const line = sealEntry(full, this.state.key);
    this.lines.push(line);
    this.last = full;
    this.prev = nextPrev(line.subarray(0, line.length - 1));
    return full;
  }

  /** Moves the key on `n` epochs (the old keys are gone once the transaction commits). */
  moveKey(n = 1): void {
    for (let i = 0; i < n; i++) {
      const old = this.state.key;
      this.state.key = evolve(old);
      old.fill(0);
    }
    this.state.epoch += n;
    if (n > 0) this.keyMoved = true;
  }
}
