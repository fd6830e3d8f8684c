/**
 * The verifier (DESIGN section 7): checks a ledger entry by entry under the verification key,
 * then judges each recording against its entries, giving one word per recording and one for the
 * ledger. Written in two parts so that any copy can be verified, wherever its bytes come from:
 * {@link checkLedger} takes the ledger's bytes, {@link judgeRecordings} takes a
 * {@link RecordingSource} (a directory here; a collector's copy elsewhere).
 */
import { timingSafeEqual } from 'node:crypto';
import { ChainReader } from './chain.js';
import { epochLast, epochOf, epochStart, KeySchedule, type VerificationKey } from './key.js';
import {
  entryMac,
  isFileEntry,
  nextPrev,
  parseEntry,
  splitLines,
  splitMac,
  ZERO_PREV,
  type FileEntry,
  type InitEntry,
  type LedgerEntry,
} from './ledger.js';

/** The word verify gives a recording. */
export type Finding =
  | 'ok'
  | 'unsealed-tail'
  | 'pruned'
  | 'not-in-ledger'
  | 'modified'
  | 'truncated'
  | 'appended-after-close'
  | 'deleted'
  | 'pruned-early'
  | 'sealed-late'
  | 'unverifiable';

/** A ledger entry that failed, from which on nothing is trusted. */
export interface LedgerFailure {
  /** The entry's position in the ledger (0-based; what its `seq` should be). */
  index: number;
  /** What failed: `seq 4`, `mac does not verify`, `time T outside epoch E`, … */
  reason: string;
}

/** An inclusive range of epochs. */
export interface EpochRange {
  from: number;
  to: number;
}

/** What {@link checkLedger} found. */
export interface LedgerCheck {
  key: VerificationKey;
  /** The entries that verified, in order (all of them when there is no failure). */
  entries: LedgerEntry[];
  /** Complete lines in the ledger. */
  total: number;
  /** The ledger ends with a line cut short (a crash while appending): not an error. */
  cutShort: boolean;
  /** The first entry that failed, if any. */
  failure: LedgerFailure | undefined;
  /** Entry 0 failed: a wrong key, or a replaced ledger. Nothing is trusted. */
  wrongKey: boolean;
  /** Epochs without a tick that are not a pause (a crash, or entries removed). */
  gaps: EpochRange[];
  /** The retention sealed in `init` (seconds; 0 when there is none or entry 0 failed). */
  retention: number;
  /** The last `tick`, if any verified. */
  lastTick: { epoch: number; time: number } | undefined;
  /** Names of recordings in entries at or after the failure (read without trusting them). */
  untrusted: Set<string>;
}

/** How far past the verifier's own epoch an entry may claim to be (a device clock ahead). */
const FUTURE_EPOCHS = 10_000;

/** Options for {@link checkLedger}. */
export interface CheckOptions {
  /**
   * Unix seconds now (default: the system clock). Bounds how far ahead an entry's epoch may be,
   * so that a forged huge epoch cannot make the key schedule run for ever.
   */
  now?: number;
  /**
   * The key of an epoch. Default: K(e) evolved from the key's seed. Tests replace it to show
   * what a construction without evolving keys would let through.
   */
  keyFor?: (epoch: number) => Buffer;
}

/**
 * Checks a ledger's bytes under `key`: seq, prev, epochs and times never decreasing, each time
 * inside its epoch, each mac under its epoch's key, entry 0 the init of this key.
 */
export function checkLedger(
  data: Buffer,
  key: VerificationKey,
  options: CheckOptions = {},
): LedgerCheck {
  const now = options.now ?? Math.floor(Date.now() / 1000);
  const { lines, tail } = splitLines(data);
  const schedule = options.keyFor ? { at: options.keyFor } : new KeySchedule(key.seed);
  const maxEpoch = Math.max(0, epochOf(key, now)) + FUTURE_EPOCHS;
  const entries: LedgerEntry[] = [];
  let failure: LedgerFailure | undefined;
  let prev = ZERO_PREV;
  let last: LedgerEntry | undefined;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const reason = checkEntry(line, i, prev, last, key, schedule, maxEpoch);
    if (typeof reason === 'string') {
      failure = { index: i, reason };
      break;
    }
    entries.push(reason);
    last = reason;
    prev = nextPrev(line);
  }
  const untrusted = new Set<string>();
  if (failure) {
    for (const line of lines.slice(failure.index)) {
      const e = parseEntry(splitMac(line).json);
      if (typeof e !== 'string' && isFileEntry(e)) untrusted.add(e.file);
    }
  }
  let lastTick: LedgerCheck['lastTick'];
  for (let i = entries.length - 1; i >= 0; i--) {
    const e = entries[i]!;
    if (e.kind === 'tick') {
      lastTick = { epoch: e.epoch, time: e.time };
      break;
    }
  }
  const init = entries[0] as InitEntry | undefined;
  return {
    key,
    entries,
    total: lines.length,
    cutShort: tail.length > 0,
    failure,
    wrongKey: failure?.index === 0,
    gaps: findGaps(entries),
    retention: init?.retention ?? 0,
    lastTick,
    untrusted,
  };
}

function checkEntry(
  line: Buffer,
  index: number,
  prev: string,
  last: LedgerEntry | undefined,
  key: VerificationKey,
  schedule: { at(epoch: number): Buffer },
  maxEpoch: number,
): LedgerEntry | string {
  const raw = splitMac(line);
  if (raw.mac === undefined) return 'no mac';
  const e = parseEntry(raw.json);
  if (typeof e === 'string') return e;
  if (e.seq !== index) return `seq ${e.seq}`;
  if (e.prev !== prev) return `prev does not match entry ${index - 1}`;
  if (index === 0) {
    if (e.kind !== 'init') return `kind ${e.kind}, not init`;
    if (e.epoch !== 0) return `epoch ${e.epoch}, not 0`;
    if (e.time !== key.t0) return `time ${e.time} is not the key's t0 ${key.t0}`;
    if (e.interval !== key.interval)
      return `interval ${e.interval} is not the key's ${key.interval}`;
  } else if (e.kind === 'init') {
    return 'a second init';
  }
  if (last && e.epoch < last.epoch)
    return `epoch ${e.epoch} before the previous entry's ${last.epoch}`;
  if (last && e.time < last.time) return `time ${e.time} before the previous entry's ${last.time}`;
  if (e.epoch > maxEpoch) return `epoch ${e.epoch} is in the future`;
  if (e.time < epochStart(key, e.epoch) || e.time > epochLast(key, e.epoch))
    return `time ${e.time} outside epoch ${e.epoch}`;
  const mac = Buffer.from(entryMac(schedule.at(e.epoch), raw.json), 'hex');
  if (!timingSafeEqual(mac, Buffer.from(raw.mac, 'hex'))) return 'mac does not verify';
  return e;
}

/**
 * Epochs with no `tick`, `stop` or `init` that do not lie strictly between a `stop` or `init` and
 * the entry after it (a pause); the last entry's epoch is still open and never counts.
 */
export function findGaps(entries: readonly LedgerEntry[]): EpochRange[] {
  const gaps: EpochRange[] = [];
  const add = (from: number, to: number) => {
    const g = gaps.at(-1);
    if (g && g.to === from - 1) g.to = to;
    else gaps.push({ from, to });
  };
  const lastEpoch = entries.at(-1)?.epoch ?? 0;
  let i = 0;
  while (i < entries.length) {
    const epoch = entries[i]!.epoch;
    let ends = false;
    let j = i;
    for (; j < entries.length && entries[j]!.epoch === epoch; j++) {
      const k = entries[j]!.kind;
      if (k === 'tick' || k === 'stop' || k === 'init') ends = true;
    }
    if (!ends && epoch !== lastEpoch) add(epoch, epoch);
    const next = entries[j];
    const kind = entries[j - 1]!.kind;
    if (next && next.epoch > epoch + 1 && kind !== 'stop' && kind !== 'init')
      add(epoch + 1, next.epoch - 1);
    i = j;
  }
  return gaps;
}

/** A recording as a source holds it: its bytes, read in order. */
export interface RecordingSource {
  /** The names of the recordings present (regular `*.cast` files). */
  names(): Promise<string[]>;
  /**
   * The bytes of the recording `name` in chunks, in order (a chunk may be reused once the next
   * is asked for), or undefined when it is not there. Breaking out of the loop releases it.
   */
  read(name: string): AsyncIterable<Buffer> | undefined;
}

/** The verdict on one recording. */
export interface RecordingVerdict {
  file: string;
  finding: Finding;
  /** The rest of the line, e.g. `sealed through line 4`, `after line 1, at or before line 2`. */
  detail: string;
  /** Whether this finding makes verify exit 1. */
  failed: boolean;
  /** The lines its last trusted entry sealed (undefined when none). */
  sealedLines?: number;
  /** Complete lines in the file, when it was read whole. */
  lines?: number;
}

/** What a recording's file holds, as far as the verdict needs it. */
interface FileFacts {
  lines: number;
  trailing: number;
  at: Map<number, { bytes: number; chain: string }>;
  headerTime: number | undefined;
}

async function readFacts(
  stream: AsyncIterable<Buffer>,
  wanted: Set<number>,
  headerOnly: boolean,
): Promise<FileFacts> {
  const reader = new ChainReader(wanted);
  for await (const chunk of stream) {
    reader.push(chunk);
    if (headerOnly && reader.header) break;
  }
  let headerTime: number | undefined;
  try {
    const h = JSON.parse(reader.header?.toString('utf8') ?? '') as { timestamp?: unknown };
    if (typeof h.timestamp === 'number' && Number.isFinite(h.timestamp)) headerTime = h.timestamp;
  } catch {
    // no header time
  }
  return { lines: reader.lines, trailing: reader.trailing, at: reader.at, headerTime };
}

/** Judges every recording the ledger names or the source holds, sorted by name. */
export async function judgeRecordings(
  check: LedgerCheck,
  source: RecordingSource,
): Promise<RecordingVerdict[]> {
  if (check.wrongKey) return [];
  const byFile = new Map<string, FileEntry[]>();
  for (const e of check.entries) {
    if (!isFileEntry(e)) continue;
    let list = byFile.get(e.file);
    if (!list) byFile.set(e.file, (list = []));
    list.push(e);
  }
  // Once per ledger, not once per recording it never saw (after a rotation, every later one).
  const openedAfter = afterLastEntry(check);
  const present = new Set(await source.names());
  const names = [...new Set([...byFile.keys(), ...present, ...check.untrusted])].sort();
  const verdicts: RecordingVerdict[] = [];
  for (const name of names) {
    const entries = byFile.get(name) ?? [];
    let facts: FileFacts | undefined;
    const needsContent = !check.untrusted.has(name) && present.has(name);
    if (needsContent && !entries.some((e) => e.kind === 'prune')) {
      const stream = source.read(name);
      if (stream) {
        const wanted = new Set(entries.map((e) => e.lines));
        facts = await readFacts(stream, wanted, entries.length === 0);
      }
    }
    verdicts.push(judge(name, entries, check, present.has(name), facts, openedAfter));
  }
  return verdicts;
}

function verdict(
  file: string,
  finding: Finding,
  detail: string,
  extra: Partial<RecordingVerdict> = {},
): RecordingVerdict {
  const failed = !['ok', 'unsealed-tail', 'pruned', 'not-in-ledger'].includes(finding);
  return { file, finding, detail, failed, ...extra };
}

function judge(
  file: string,
  entries: FileEntry[],
  check: LedgerCheck,
  present: boolean,
  facts: FileFacts | undefined,
  openedAfter: number,
): RecordingVerdict {
  const { key } = check;
  if (check.untrusted.has(file))
    return verdict(file, 'unverifiable', 'it has entries at or after the one that fails');
  if (entries.length === 0) return notInLedger(file, check, facts, openedAfter);
  const first = entries[0]!;
  const last = entries.at(-1)!;
  const sealedLines = last.lines;
  if (first.kind === 'prune' && entries.length === 1) {
    // A recording from before this ledger (never opened in it), removed on purpose.
    return verdict(file, 'pruned', present ? 'still present' : '', { sealedLines });
  }
  if (first.kind !== 'open')
    return verdict(file, 'sealed-late', `its first entry is a ${first.kind}, not its open`, {
      sealedLines,
    });
  const closeAt = entries.findIndex((e) => e.kind === 'close');
  const pruneAt = entries.findIndex((e) => e.kind === 'prune');
  const afterClose = closeAt >= 0 && entries.slice(closeAt + 1).some((e) => e.kind !== 'prune');
  const afterPrune = pruneAt >= 0 && pruneAt < entries.length - 1;
  if (afterClose || afterPrune)
    return verdict(file, 'appended-after-close', 'an entry after its close', { sealedLines });
  if (pruneAt >= 0) {
    const after = entries[pruneAt]!.time - first.time;
    if (after < check.retention)
      return verdict(
        file,
        'pruned-early',
        `pruned ${after} s after its open, retention ${check.retention}`,
        { sealedLines },
      );
    return verdict(file, 'pruned', present ? 'still present' : '', { sealedLines });
  }
  if (!present || !facts) return verdict(file, 'deleted', '', { sealedLines });
  const seen = { sealedLines, lines: facts.lines };
  let matched = 0;
  let most = 0;
  for (const e of entries) {
    most = Math.max(most, e.lines);
    if (e.lines > facts.lines) continue;
    const p = facts.at.get(e.lines);
    if (!p || p.bytes !== e.bytes || p.chain !== e.chain)
      return verdict(file, 'modified', `after line ${matched}, at or before line ${e.lines}`, seen);
    matched = e.lines;
  }
  if (most > facts.lines)
    return verdict(file, 'truncated', `sealed ${most} lines, has ${facts.lines}`, seen);
  if (closeAt >= 0) {
    const extra = facts.lines - entries[closeAt]!.lines;
    if (extra > 0 || facts.trailing > 0)
      return verdict(
        file,
        'appended-after-close',
        extra > 0 ? `${extra} lines after close` : `${facts.trailing} bytes after close`,
        seen,
      );
  }
  const ts = facts.headerTime;
  if (ts !== undefined && first.time - ts > key.interval)
    return verdict(file, 'sealed-late', `opened at ${ts}, first sealed at ${first.time}`, seen);
  if (closeAt < 0 && facts.lines > sealedLines)
    return verdict(
      file,
      'unsealed-tail',
      `${facts.lines - sealedLines} lines after the last seal`,
      seen,
    );
  return verdict(file, 'ok', `sealed through line ${sealedLines}`, seen);
}

/**
 * The earliest header time of a recording that may have started after the ledger's last entry:
 * the latest time some entry shows the clock had reached. An entry's time is clamped into its
 * epoch's range, and each `stop` (and the `init`) moves the key one epoch past the clock: until
 * the next tick, entries written before the clock reaches their epoch (a restart, a prune of a
 * stopped server) carry its start, up to an interval ahead of the clock for each such stop. A
 * time past its epoch's start was not moved ahead; one at the start may have been.
 */
function afterLastEntry(check: LedgerCheck): number {
  let latest = check.key.t0;
  let ahead = 0;
  for (const e of check.entries) {
    const start = epochStart(check.key, e.epoch);
    const reached = e.time > start ? e.time : e.time - ahead * check.key.interval;
    if (reached > latest) latest = reached;
    if (e.kind === 'tick') ahead = 0;
    else if (e.kind === 'stop' || e.kind === 'init') ahead++;
  }
  return latest;
}

/** `openedAfter`: {@link afterLastEntry} of the ledger. */
function notInLedger(
  file: string,
  check: LedgerCheck,
  facts: FileFacts | undefined,
  openedAfter: number,
): RecordingVerdict {
  const ts = facts?.headerTime;
  if (ts === undefined) return verdict(file, 'not-in-ledger', 'no header time', { failed: true });
  if (ts < check.key.t0) return verdict(file, 'not-in-ledger', `header time ${ts}`);
  // Started after the ledger's last entry: its `open` may be being written now (a live server),
  // and nothing after the last entry is protected locally anyway.
  if (ts >= openedAfter && !check.failure)
    return verdict(file, 'not-in-ledger', `header time ${ts}, after the ledger's last entry`);
  return verdict(file, 'not-in-ledger', `header time ${ts}`, { failed: true });
}

/** A whole verification: the ledger's check and the verdict on each recording. */
export interface VerifyReport {
  /** The ledger file that was checked. */
  ledgerFile: string;
  ledger: LedgerCheck;
  recordings: RecordingVerdict[];
  /** 0 when nothing sealed was changed (warnings allowed), 1 otherwise. */
  exitCode: 0 | 1;
}

/** Combines a ledger check and verdicts into a report with its exit code. */
export function verifyReport(
  ledgerFile: string,
  ledger: LedgerCheck,
  recordings: RecordingVerdict[],
): VerifyReport {
  const bad =
    ledger.failure !== undefined || ledger.gaps.length > 0 || recordings.some((r) => r.failed);
  return { ledgerFile, ledger, recordings, exitCode: bad ? 1 : 0 };
}
