/**
 * What the device's own ledger says about each recording, read without the key (for `sshcast ls`,
 * the web page and `sshcast prune`): whether it is sealed and through which line, whether it was
 * closed or pruned. Nothing here is verified: that is `sshcast verify`'s job, with the key.
 */
import fs from 'node:fs';
import { isFileEntry, parseEntry, splitMac, type InitEntry } from './ledger.js';
import { isSealed, sealPaths } from './layout.js';

/** One recording as the ledger knows it. */
export interface RecordingSeal {
  /** The time of its `open` entry (undefined when its first entry was not one). */
  opened: number | undefined;
  /** The seq of its `open` entry. */
  openSeq: number | undefined;
  /** Lines its last entry covered. */
  lines: number;
  closed: boolean;
  pruned: boolean;
}

/** The ledger, indexed by recording. */
export interface LedgerIndex {
  t0: number;
  interval: number;
  retention: number;
  /** The seq of the last `start` (a recording opened before it, and never closed, is dead). */
  lastStart: number;
  files: Map<string, RecordingSeal>;
}

const CHUNK = 1 << 20;
const FILE_FIELD = Buffer.from('"file":');
const START = Buffer.from('"kind":"start"');

function emptyIndex(): LedgerIndex {
  return { t0: 0, interval: 0, retention: 0, lastStart: -1, files: new Map() };
}

/**
 * Reads a directory's ledger into a {@link LedgerIndex}, and on each later `read()` only what was
 * appended since (the ledger is append-only; a ledger that shrank or was replaced is read anew).
 */
export class LedgerIndexReader {
  readonly #dir: string;
  #index = emptyIndex();
  #offset = 0;
  #ino = -1;
  #seen = 0;

  constructor(dir: string) {
    this.#dir = dir;
  }

  /** The index as the ledger is now; undefined when `dir` is not sealed or it cannot be read. */
  read(): LedgerIndex | undefined {
    if (!isSealed(this.#dir)) return undefined;
    let fd: number;
    try {
      fd = fs.openSync(
        sealPaths(this.#dir).ledger,
        fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW,
      );
    } catch {
      return undefined;
    }
    try {
      const st = fs.fstatSync(fd);
      if (st.ino !== this.#ino || st.size < this.#offset) {
        this.#index = emptyIndex();
        this.#offset = 0;
        this.#seen = 0;
        this.#ino = st.ino;
      }
      const buf = Buffer.allocUnsafe(CHUNK);
      let carry: Buffer = Buffer.alloc(0);
      for (;;) {
        const n = fs.readSync(fd, buf, 0, CHUNK, this.#offset + carry.length);
        if (n === 0) break;
        const data =
          carry.length > 0 ? Buffer.concat([carry, buf.subarray(0, n)]) : buf.subarray(0, n);
        let start = 0;
        for (let nl = data.indexOf(10); nl !== -1; nl = data.indexOf(10, start)) {
          this.#line(data.subarray(start, nl));
          start = nl + 1;
        }
        this.#offset += start;
        carry = Buffer.from(data.subarray(start));
      }
    } catch {
      return undefined;
    } finally {
      fs.closeSync(fd);
    }
    return this.#index;
  }

  #line(raw: Buffer): void {
    const index = this.#index;
    if (this.#seen++ > 0 && raw.indexOf(FILE_FIELD) === -1 && raw.indexOf(START) === -1) return;
    const e = parseEntry(splitMac(raw).json);
    if (typeof e === 'string') return;
    if (e.kind === 'init') {
      index.t0 = e.time;
      index.interval = (e as InitEntry).interval;
      index.retention = (e as InitEntry).retention;
    } else if (e.kind === 'start') index.lastStart = e.seq;
    else if (isFileEntry(e)) {
      let r = index.files.get(e.file);
      if (!r) {
        r = { opened: undefined, openSeq: undefined, lines: 0, closed: false, pruned: false };
        index.files.set(e.file, r);
      }
      if (e.kind === 'open' && r.openSeq === undefined) {
        r.opened = e.time;
        r.openSeq = e.seq;
      }
      r.lines = e.lines;
      if (e.kind === 'close') r.closed = true;
      if (e.kind === 'prune') r.pruned = true;
    }
  }
}

/** Reads `dir`'s ledger once; undefined when `dir` is not set up for sealing or it cannot be read. */
export function readLedgerIndex(dir: string): LedgerIndex | undefined {
  return new LedgerIndexReader(dir).read();
}

/** What a listing says of a recording's sealing (no key needed, nothing verified). */
export interface SealMark {
  /** Lines its last entry covered. */
  lines: number;
  closed: boolean;
  pruned: boolean;
}

/** The mark of recording `file`, or null when the ledger never saw it. */
export function sealMark(index: LedgerIndex, file: string): SealMark | null {
  const r = index.files.get(file);
  return r ? { lines: r.lines, closed: r.closed, pruned: r.pruned } : null;
}

/** A mark as listings show it: `4 closed`, `12 open` (still being sealed), `pruned`, or `no`. */
export function sealLabel(mark: SealMark | null): string {
  if (!mark) return 'no';
  if (mark.pruned) return 'pruned';
  return `${mark.lines} ${mark.closed ? 'closed' : 'open'}`;
}
