/**
 * What the device's own ledger says about each recording, read without the key (for `sshcast ls`,
 * the web page and `sshcast prune`): whether it is sealed and through which line, whether it was
 * closed or pruned. Nothing here is verified: that is `sshcast verify`'s job, with the key.
 */
import fs from 'node:fs';
import { parseEntry, splitMac, type InitEntry } from './ledger.js';
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

/** Reads `dir`'s ledger; undefined when `dir` is not set up for sealing or it cannot be read. */
export function readLedgerIndex(dir: string): LedgerIndex | undefined {
  if (!isSealed(dir)) return undefined;
  let fd: number;
  try {
    fd = fs.openSync(sealPaths(dir).ledger, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  } catch {
    return undefined;
  }
  const index: LedgerIndex = { t0: 0, interval: 0, retention: 0, lastStart: -1, files: new Map() };
  let seen = 0;
  const line = (raw: Buffer) => {
    const n = seen++;
    if (n > 0 && raw.indexOf(FILE_FIELD) === -1 && raw.indexOf(START) === -1) return;
    const e = parseEntry(splitMac(raw).json);
    if (typeof e === 'string') return;
    if (e.kind === 'init') {
      index.t0 = e.time;
      index.interval = (e as InitEntry).interval;
      index.retention = (e as InitEntry).retention;
    } else if (e.kind === 'start') index.lastStart = e.seq;
    else if ('file' in e) {
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
  };
  try {
    const buf = Buffer.allocUnsafe(CHUNK);
    let carry: Buffer = Buffer.alloc(0);
    for (;;) {
      const n = fs.readSync(fd, buf, 0, CHUNK, null);
      if (n === 0) break;
      let data = buf.subarray(0, n);
      if (carry.length > 0) data = Buffer.concat([carry, data]);
      let start = 0;
      for (let nl = data.indexOf(10); nl !== -1; nl = data.indexOf(10, start)) {
        line(data.subarray(start, nl));
        start = nl + 1;
      }
      carry = Buffer.from(data.subarray(start));
    }
  } catch {
    return undefined;
  } finally {
    fs.closeSync(fd);
  }
  return index;
}

/** A recording's state as listings show it: `4 closed`, `12 live`, `pruned`, or `no`. */
export function sealLabel(seal: RecordingSeal | undefined): string {
  if (!seal) return 'no';
  if (seal.pruned) return 'pruned';
  return `${seal.lines} ${seal.closed ? 'closed' : 'open'}`;
}
