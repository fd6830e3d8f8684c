/**
 * The ledger's entries (DESIGN section 7): `DIR/.sshcast/ledger.jsonl`, one entry a line, keys in
 * the contract's order. A line is J (the entry as compact JSON) with its final `}` replaced by
 * `,"mac":"<HMAC-SHA256(K(epoch), J)>"}`, then LF. Reading strips that suffix from the bytes and
 * puts `}` back, never re-serializing. Pure: no I/O.
 */
import { createHash, createHmac } from 'node:crypto';

/** The ledger's file name inside `DIR/.sshcast/`. */
export const LEDGER_FILE = 'ledger.jsonl';

/** The name a rotated ledger keeps: `ledger-<its t0>.jsonl`. */
export function rotatedLedgerFile(t0: number): string {
  return `ledger-${t0}.jsonl`;
}

/** `prev` of entry 0. */
export const ZERO_PREV = '0'.repeat(64);

/** Every kind of entry. */
export type EntryKind = 'init' | 'start' | 'open' | 'seal' | 'close' | 'tick' | 'stop' | 'prune';

/** The kinds that name a recording and seal its chain. */
export type FileKind = 'open' | 'seal' | 'close' | 'prune';

/** The kinds that carry nothing but the common fields. */
export type MarkKind = 'start' | 'tick' | 'stop';

/** The fields every entry starts with, in this order. */
export interface EntryHead {
  seq: number;
  epoch: number;
  /** Integer Unix seconds inside the epoch's range. */
  time: number;
  /** SHA-256 hex of the previous line's bytes including its LF; 64 zeros for seq 0. */
  prev: string;
}

/** Entry 0: the sealing's interval and retention. */
export interface InitEntry extends EntryHead {
  kind: 'init';
  interval: number;
  retention: number;
}

/** Where a recording's chain stood: `lines` complete lines, `bytes` bytes, its chain value. */
export interface ChainPoint {
  lines: number;
  bytes: number;
  /** 64 lowercase hex. */
  chain: string;
}

/** An entry about one recording. */
export interface FileEntry extends EntryHead, ChainPoint {
  kind: FileKind;
  /** The recording's name in DIR. */
  file: string;
}

/** `start`, `tick` or `stop`. */
export interface MarkEntry extends EntryHead {
  kind: MarkKind;
}

export type LedgerEntry = InitEntry | FileEntry | MarkEntry;

/** The length of `,"mac":"<64 hex>"}`. */
const MAC_SUFFIX_LENGTH = 8 + 64 + 2;
const MAC_SUFFIX = /,"mac":"([0-9a-f]{64})"\}$/;

/** J: the entry as compact JSON, keys in the contract's order. */
export function entryJson(entry: LedgerEntry): string {
  const head = { seq: entry.seq, epoch: entry.epoch, time: entry.time, prev: entry.prev };
  switch (entry.kind) {
    case 'init':
      return JSON.stringify({
        ...head,
        kind: entry.kind,
        interval: entry.interval,
        retention: entry.retention,
      });
    case 'open':
    case 'seal':
    case 'close':
    case 'prune':
      return JSON.stringify({
        ...head,
        kind: entry.kind,
        file: entry.file,
        lines: entry.lines,
        bytes: entry.bytes,
        chain: entry.chain,
      });
    default:
      return JSON.stringify({ ...head, kind: entry.kind });
  }
}

/** HMAC-SHA256(key, J) as lowercase hex. */
export function entryMac(key: Buffer, json: string | Buffer): string {
  return createHmac('sha256', key).update(json).digest('hex');
}

/** The ledger line for `entry` under its epoch's key, LF included. */
export function sealEntry(entry: LedgerEntry, key: Buffer): Buffer {
  const json = entryJson(entry);
  return Buffer.from(`${json.slice(0, -1)},"mac":"${entryMac(key, json)}"}\n`);
}

/** SHA-256 hex of a ledger line's bytes including its LF: the next entry's `prev`. */
export function lineDigest(lineWithLf: Buffer): string {
  return createHash('sha256').update(lineWithLf).digest('hex');
}

/** `prev` of the entry after the line `line` (without its LF). */
export function nextPrev(line: Buffer): string {
  return createHash('sha256').update(line).update('\n').digest('hex');
}

/** One ledger line as read: its bytes, J's bytes and the mac it carries. */
export interface RawEntry {
  /** The line without its LF. */
  line: Buffer;
  /** J, the bytes the mac covers (the line with its mac suffix replaced by `}`). */
  json: Buffer;
  /** The mac the line carries, or undefined when it has no well-formed mac suffix. */
  mac: string | undefined;
}

/** Splits a line into J and its mac, from its bytes (never re-serialized). */
export function splitMac(line: Buffer): RawEntry {
  const tail = line.subarray(Math.max(0, line.length - MAC_SUFFIX_LENGTH)).toString('latin1');
  const m = MAC_SUFFIX.exec(tail);
  if (!m || line.length < MAC_SUFFIX_LENGTH + 1) return { line, json: line, mac: undefined };
  const json = Buffer.concat([line.subarray(0, line.length - MAC_SUFFIX_LENGTH), CLOSE_BRACE]);
  return { line, json, mac: m[1] };
}

const CLOSE_BRACE = Buffer.from('}');

/** The ledger's complete lines (without LF) and what follows the last LF (a cut-short line). */
export interface LedgerLines {
  lines: Buffer[];
  /** Bytes after the last LF: a line cut short by a crash while appending (empty when none). */
  tail: Buffer;
}

/** Splits a ledger file's bytes into its lines. */
export function splitLines(data: Buffer): LedgerLines {
  const lines: Buffer[] = [];
  let start = 0;
  for (;;) {
    const nl = data.indexOf(10, start);
    if (nl === -1) break;
    lines.push(data.subarray(start, nl));
    start = nl + 1;
  }
  return { lines, tail: data.subarray(start) };
}

const HEX64 = /^[0-9a-f]{64}$/;
const FILE_KINDS = new Set<string>(['open', 'seal', 'close', 'prune']);
const MARK_KINDS = new Set<string>(['start', 'tick', 'stop']);

function count(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/**
 * Reads J's fields. Returns the entry, or a string saying what is wrong with it (a field missing
 * or of the wrong type; the order of keys is what the mac covers, so it is not checked apart).
 */
export function parseEntry(json: Buffer): LedgerEntry | string {
  let v: unknown;
  try {
    v = JSON.parse(json.toString('utf8'));
  } catch {
    return 'not JSON';
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return 'not an object';
  const o = v as Record<string, unknown>;
  for (const k of ['seq', 'epoch', 'time'] as const) if (!count(o[k])) return `bad ${k}`;
  if (typeof o.prev !== 'string' || !HEX64.test(o.prev)) return 'bad prev';
  const kind = o.kind;
  if (kind === 'init') {
    if (!count(o.interval) || o.interval < 1) return 'bad interval';
    if (!count(o.retention)) return 'bad retention';
  } else if (typeof kind === 'string' && FILE_KINDS.has(kind)) {
    if (typeof o.file !== 'string' || o.file === '') return 'bad file';
    if (!count(o.lines) || !count(o.bytes)) return 'bad lines or bytes';
    if (typeof o.chain !== 'string' || !HEX64.test(o.chain)) return 'bad chain';
  } else if (typeof kind !== 'string' || !MARK_KINDS.has(kind)) {
    return 'unknown kind';
  }
  return o as unknown as LedgerEntry;
}

/** Whether `e` names a recording. */
export function isFileEntry(e: LedgerEntry): e is FileEntry {
  return FILE_KINDS.has(e.kind);
}
