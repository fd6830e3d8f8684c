/**
 * The pure asciicast v2 encoder: header and events in, complete lines out (each ends with LF).
 * No I/O. Lone surrogates never reach the output: they become U+FFFD.
 */
import { isUtf8 } from 'node:buffer';
import type { Event, EventCode, Header } from './event.js';
import { DEFAULT_SIZE } from './terminal.js';
import { formatTime } from './time.js';
import { escapeBytes, escapedMax, escapeView } from './json-escape.js';

/** A JSON string literal with any lone surrogate replaced by U+FFFD. */
export function jsonString(text: string): string {
  return JSON.stringify(text.isWellFormed() ? text : text.toWellFormed());
}

function positive(n: number | undefined): number {
  return n !== undefined && Number.isInteger(n) && n > 0 ? n : 0;
}

/** Encodes the header line: keys in the order of the format, a 0 or missing size as 80x24. */
export function encodeHeader(header: Header): string {
  let width = positive(header.width);
  let height = positive(header.height);
  if (width === 0 || height === 0) {
    width = DEFAULT_SIZE.cols;
    height = DEFAULT_SIZE.rows;
  }
  let line = `{"version":2,"width":${width},"height":${height}`;
  if (header.timestamp !== undefined) line += `,"timestamp":${Math.floor(header.timestamp)}`;
  if (header.idle_time_limit !== undefined && Number.isFinite(header.idle_time_limit)) {
    line += `,"idle_time_limit":${header.idle_time_limit}`;
  }
  if (header.command !== undefined) line += `,"command":${jsonString(header.command)}`;
  if (header.title !== undefined) line += `,"title":${jsonString(header.title)}`;
  if (header.env !== undefined) {
    const parts: string[] = [];
    if (header.env.TERM !== undefined) parts.push(`"TERM":${jsonString(header.env.TERM)}`);
    if (header.env.SHELL !== undefined) parts.push(`"SHELL":${jsonString(header.env.SHELL)}`);
    line += `,"env":{${parts.join(',')}}`;
  }
  if (header.localUser !== undefined) line += `,"localUser":${jsonString(header.localUser)}`;
  return line + '}\n';
}

/** Encodes one event line `[time, code, data]`. */
export function encodeEvent(event: Event): string {
  return `[${formatTime(event.time)},"${event.code}",${jsonString(event.data)}]\n`;
}

/** Encodes a whole recording (header and events) as one string. */
export function encodeCast(header: Header, events: Iterable<Event>): string {
  let out = encodeHeader(header);
  for (const event of events) out += encodeEvent(event);
  return out;
}

const NO_SLAB = Buffer.alloc(0);

/**
 * Where lines are encoded: a slab that lines are cut from one after another, rather than a
 * Buffer.from() each (a buffer per line cost a quarter of the recorder's time,
 * bench/writer.bench.ts). A slab's bytes are never written twice, so a sink may keep the lines;
 * a full slab is left to whoever holds its lines, and a line too big for a quarter of a slab gets
 * a buffer of its own. Every writer shares one set of slabs unless it is given its own (a sealed
 * recording's, whose full slabs go on to the hashing worker, src/sealing/hasher.ts).
 */
export class LineSlabs {
  /** The slab lines are cut from now (empty until the first line, and after `renew()`). */
  slab: Buffer = NO_SLAB;
  /** Where the next line starts in it. */
  used: number;
  /** How large the next slab is (its lines start at `start`). */
  size: number;
  readonly #start: number;
  readonly #alloc: (size: number) => Buffer;

  constructor(size: number, start = 0, alloc: (size: number) => Buffer = Buffer.allocUnsafe) {
    this.size = size;
    this.#start = start;
    this.#alloc = alloc;
    this.used = start;
  }

  /** The slab, with room for `most` bytes at `used`; undefined when the line needs its own. */
  reserve(most: number): Buffer | undefined {
    if (most > this.size / 4) return undefined;
    if (this.used + most > this.slab.length) {
      this.slab = this.#alloc(this.size);
      this.used = this.#start;
    }
    return this.slab;
  }

  /** Leaves the current slab to the lines cut from it; the next line starts a new one. */
  renew(): void {
    this.slab = NO_SLAB;
    this.used = this.#start;
  }

  /** The line from `used` to `end`, which was just written there. */
  take(end: number): Buffer {
    const buf = this.slab.subarray(this.used, end);
    this.used = end;
    return buf;
  }
}

const SHARED = new LineSlabs(256 * 1024);

/** A line (as from {@link encodeEvent}) as UTF-8 bytes, cut from `slabs`' slab. */
export function lineBuffer(line: string, slabs: LineSlabs = SHARED): Buffer {
  const most = line.length * 3; // UTF-8 bytes per UTF-16 code unit, at most
  const slab = slabs.reserve(most);
  if (!slab) return Buffer.from(line, 'utf8');
  return slabs.take(slabs.used + slab.write(line, slabs.used, 'utf8'));
}

const KEEP_BOM = new TextDecoder('utf-8', { ignoreBOM: true });

/**
 * Encodes one event line straight from UTF-8 bytes, byte for byte the same as
 * `encodeEvent({time, code, data: <the decoded text>})` but without decoding to a string: the
 * recorder's hot path. Bytes that are not valid UTF-8 are decoded (invalid sequences become
 * U+FFFD) and encoded as text. Give it complete characters only (Utf8StreamDecoder.complete()).
 */
export function encodeEventBytes(
  time: number,
  code: EventCode,
  data: Uint8Array,
  slabs: LineSlabs = SHARED,
): Buffer {
  if (!isUtf8(data))
    return lineBuffer(encodeEvent({ time, code, data: KEEP_BOM.decode(data) } as Event), slabs);
  const head = `[${formatTime(time)},"${code}","`;
  // Escaped first where that can be done in place, so the line's buffer has its exact size.
  const escaped = escapeView(data);
  const most = head.length + (escaped ? escaped.length : escapedMax(data.length)) + 3;
  const slab = slabs.reserve(most);
  const out = slab ?? Buffer.allocUnsafe(most);
  let o = slab ? slabs.used : 0;
  o += out.write(head, o, 'latin1');
  if (escaped) {
    out.set(escaped, o);
    o += escaped.length;
  } else o = escapeBytes(data, out, o);
  out[o++] = 0x22; // "
  out[o++] = 0x5d; // ]
  out[o++] = 0x0a; // LF
  if (slab) return slabs.take(o);
  // A long line escaped in pieces had room for the worst case: keep only what it needs.
  return o * 2 < out.length ? Buffer.from(out.subarray(0, o)) : out.subarray(0, o);
}
