/**
 * `sshcast prune` as a library call: removes finished recordings older than an age (and, with a
 * size cap, the oldest finished ones beyond it), writing a `prune` entry for each before it is
 * removed, so that verify reports it `pruned` rather than `deleted`. It never prunes sooner than
 * the retention sealed in `init`. Beside a running sealing server it only appends (under the
 * ledger lock, with the key state on disk); on a stopped one it is the sealing process for its
 * run, with its own `start` and `stop`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { summarizeCastSync, type CastSummary } from '../asciicast/summary.js';
import { SealingError } from '../errors.js';
import { defaultLog, type Logger } from '../log.js';
import { ChainReader } from '../sealing/chain.js';
import { formatInterval } from '../sealing/key.js';
import type { ChainPoint, LedgerEntry } from '../sealing/ledger.js';
import { readLedgerIndex, type LedgerIndex } from '../sealing/ledger-index.js';
import { isSealed } from '../sealing/layout.js';
import { Sealer } from '../sealing/sealer.js';
import { SealStore } from '../sealing/store.js';
import { filesBeingWritten } from './live.js';

/** Options for {@link pruneRecordings}. */
export interface PruneOptions {
  /** Remove finished recordings that ended at least this many seconds ago. */
  olderThan: number;
  /** Then remove the oldest finished recordings until all of them take at most this many bytes. */
  maxTotal?: number;
  /** Say what would be removed, remove nothing. */
  dryRun?: boolean;
  /** Unix seconds now. Default: the system clock. */
  now?: number;
  /** Where problems are logged, one line each. Default: stderr ({@link defaultLog}). */
  log?: Logger;
}

/** One recording prune removed (or would remove). */
export interface Pruned {
  file: string;
  size: number;
  /** Unix seconds of its last event. */
  ended: number;
  /** `age` (older than --older-than) or `size` (beyond --max-total). */
  why: 'age' | 'size';
}

/** What prune did. */
export interface PruneResult {
  removed: Pruned[];
  /** Finished recordings old enough that the sealed retention still keeps. */
  retained: string[];
  /** Bytes of recordings left in the directory. */
  remainingBytes: number;
  /** Whether the directory is sealed (each removal has its `prune` entry). */
  sealed: boolean;
}

interface Candidate {
  summary: CastSummary;
  ended: number;
  opened: number | undefined;
}

/**
 * Whether the recording is finished: nothing will write to it again. `live` (some process holds
 * it open for writing) is never finished; without a ledger, a file with complete lines or a
 * cut-short last line that no one writes is (a damaged one is left for a person to look at).
 */
function finished(s: CastSummary, live: boolean, index: LedgerIndex | undefined): boolean {
  if (live) return false;
  if (!index) return s.status === 'ok' || s.status === 'partial';
  const seal = index.files.get(s.file);
  if (!seal) return s.start !== undefined && s.start < index.t0; // from before sealing
  if (seal.pruned) return true;
  if (seal.closed) return true;
  // Opened before the last start and never closed: its server is gone (a crash).
  return seal.openSeq !== undefined && seal.openSeq < index.lastStart;
}

/** The chain of the file as it is now: what its `prune` entry seals. */
function chainNow(file: string): ChainPoint {
  const reader = new ChainReader();
  const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  try {
    const buf = Buffer.allocUnsafe(1 << 20);
    for (let n; (n = fs.readSync(fd, buf, 0, buf.length, null)) > 0;)
      reader.push(buf.subarray(0, n));
  } finally {
    fs.closeSync(fd);
  }
  return { lines: reader.lines, bytes: reader.bytes, chain: reader.chain };
}

/**
 * Prunes the recordings directory `dir`. Throws a SealingError when `olderThan` is sooner than
 * the sealed retention.
 */
export async function pruneRecordings(dir: string, options: PruneOptions): Promise<PruneResult> {
  const now = options.now ?? Math.floor(Date.now() / 1000);
  const log = options.log ?? defaultLog;
  const sealed = isSealed(dir);
  const index = sealed ? readLedgerIndex(dir) : undefined;
  if (sealed && !index) throw new SealingError(`cannot read the ledger of ${dir}`);
  const retention = index?.retention ?? 0;
  if (options.olderThan < retention)
    throw new SealingError(
      `--older-than ${formatInterval(options.olderThan)} is sooner than the retention sealed in ${dir} (${formatInterval(retention)})`,
    );

  const all: CastSummary[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    if (e.isFile() && e.name.endsWith('.cast'))
      all.push(summarizeCastSync(path.join(dir, e.name), e.name));
  }
  const live = filesBeingWritten(all.map((s) => path.join(dir, s.file)));
  const candidates: Candidate[] = [];
  for (const s of all) {
    if (!finished(s, live.has(path.join(dir, s.file)), index) || index?.files.get(s.file)?.pruned)
      continue;
    const ended =
      s.start !== undefined ? Math.floor(s.start + (s.duration ?? 0)) : s.mtimeMs / 1000;
    candidates.push({ summary: s, ended, opened: index?.files.get(s.file)?.opened });
  }
  candidates.sort((a, b) => a.ended - b.ended || (a.summary.file < b.summary.file ? -1 : 1));
  // The retention counts from the recording's `open` entry, as verify checks it.
  const retainedNow = (c: Candidate) => c.opened !== undefined && now - c.opened < retention;

  const victims: Pruned[] = [];
  const retained: string[] = [];
  let total = all.reduce((n, s) => n + s.size, 0);
  for (const c of candidates) {
    if (now - c.ended < options.olderThan) continue;
    if (retainedNow(c)) {
      retained.push(c.summary.file);
      continue;
    }
    victims.push({ file: c.summary.file, size: c.summary.size, ended: c.ended, why: 'age' });
    total -= c.summary.size;
  }
  if (options.maxTotal !== undefined) {
    for (const c of candidates) {
      if (total <= options.maxTotal) break;
      if (victims.some((v) => v.file === c.summary.file) || retainedNow(c)) continue;
      victims.push({ file: c.summary.file, size: c.summary.size, ended: c.ended, why: 'size' });
      total -= c.summary.size;
    }
  }
  if (options.dryRun || victims.length === 0)
    return { removed: victims, retained, remainingBytes: total, sealed };

  const removed = sealed ? await removeSealed(dir, victims, retention, log) : victims;
  if (!sealed) for (const v of victims) fs.rmSync(path.join(dir, v.file), { force: true });
  const kept = victims.filter((v) => !removed.includes(v));
  return {
    removed,
    retained: [...retained, ...kept.map((v) => v.file)],
    remainingBytes: total + kept.reduce((n, v) => n + v.size, 0),
    sealed,
  };
}

/**
 * Writes each victim's `prune` entry, then removes it. Beside a running sealing server only
 * appends; else it is the sealing process for the run (`start` first, `stop` last). A victim
 * whose entry would fall inside the sealed retention after its `open` is kept.
 */
async function removeSealed(
  dir: string,
  victims: Pruned[],
  retention: number,
  log: Logger,
): Promise<Pruned[]> {
  const index = readLedgerIndex(dir);
  const opened = Sealer.tryOpen(dir, { role: 'prune', timers: false, hashWorker: false, log });
  const sealer = typeof opened === 'string' ? undefined : opened;
  const store = sealer ? undefined : SealStore.open(dir);
  sealer?.start();
  const removed: Pruned[] = [];
  try {
    for (const v of victims) {
      const file = path.join(dir, v.file);
      const entry = { kind: 'prune' as const, file: v.file, ...chainNow(file) };
      const openTime = index?.files.get(v.file)?.opened;
      const accept = (e: LedgerEntry) => openTime === undefined || e.time - openTime >= retention;
      let written: LedgerEntry | undefined;
      if (sealer) written = sealer.append(entry, accept);
      else {
        try {
          written = store!.transact((tx) => {
            const e = tx.append(entry, Math.floor(Date.now() / 1000));
            if (!accept(e)) throw KEEP;
            return e;
          });
        } catch (err) {
          if (err !== KEEP) throw err;
        }
      }
      if (!written) continue;
      fs.rmSync(file, { force: true });
      removed.push(v);
    }
  } finally {
    await sealer?.stop();
    store?.close();
  }
  return removed;
}

const KEEP = new SealingError('kept by the retention');
