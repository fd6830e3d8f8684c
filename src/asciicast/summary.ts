/**
 * A recording's summary for listings (`sshcast ls`, the web page): read from the header line and
 * the end of the file only (4 KiB of each first, widened until they hold a complete line), so a
 * directory of large recordings lists quickly and in bounded memory. A broken file is summarised
 * as `damaged` with the reason; it never throws.
 *
 * The reading logic is written once, as a generator that asks for byte ranges; a synchronous
 * driver (`sshcast ls`) and an asynchronous one (`sshcast web`, which must not block its server)
 * answer those requests.
 */
import fs from 'node:fs';
import { basename } from 'node:path';
import type { Event } from './event.js';
import { LineSplitter } from './lines.js';
import { notRegularFile, openRecording, openRecordingSync } from './open.js';
import { CastParser } from './parser.js';
import { SshcastError } from '../errors.js';

/** The longest header or event line looked for; a longer one makes the file damaged. */
export const SUMMARY_MAX_LINE_BYTES = 16 * 1024 * 1024;

/** The first read at each end of the file; most headers and last events fit in it. */
const FIRST_WINDOW = 4096;
/** v3 files are scanned whole (their times are intervals), this much at a time. */
const SCAN_CHUNK = 1 << 20;

/** What a listing shows about one recording. */
export interface CastSummary {
  /** The file's base name. */
  file: string;
  /** Header `timestamp`: Unix seconds at start, when present. */
  start?: number;
  /** Seconds from the start to the last complete event (v2: read from the tail only). */
  duration?: number;
  /** Size in bytes. */
  size: number;
  /** Modification time, milliseconds since the epoch (a fallback sort key when `start` is absent). */
  mtimeMs: number;
  width?: number;
  height?: number;
  localUser?: string;
  /** The exec command; absent for an interactive shell. */
  command?: string;
  title?: string;
  term?: string;
  /**
   * The data of the final `x` event (the exit status), when the recording ended with one. Absent
   * when it did not: a recorder that writes none (asciinema 2, Tailscale), one that was killed,
   * or one still writing.
   */
  exit?: string;
  /** False when the file holds a header and no complete event yet (players cannot show it). */
  hasEvents: boolean;
  /**
   * - `ok`: a valid header, and every line up to the end complete (with or without an `x`);
   * - `live`: still being written, some process holds the file open for writing (set by
   *   {@link withWriterState}; the file alone cannot tell);
   * - `partial`: the last line is cut short (a recorder that died mid-write) and no one writes it;
   * - `damaged`: the header or the last complete line is not valid asciicast (v2 damage in the
   *   middle is found by `sshcast validate`, not here; v3 files are read whole, so any damage is
   *   found).
   */
  status: 'ok' | 'live' | 'partial' | 'damaged';
  /** What is wrong, for `partial` and `damaged`. */
  problem?: string;
}

/**
 * The summary as listings show it, knowing whether some process still writes the file (see
 * `filesBeingWritten`): a file being written is `live`, whatever its last line looks like (a
 * line being written is not damage); a damaged header stays damaged.
 */
export function withWriterState(summary: CastSummary, beingWritten: boolean): CastSummary {
  if (!beingWritten || summary.status === 'damaged') return summary;
  const { problem: _problem, ...rest } = summary;
  return { ...rest, status: 'live' };
}

/** A request for the bytes at [position, position + length) (fewer at the end of the file). */
interface ReadRequest {
  position: number;
  length: number;
}

type Summarizer = Generator<ReadRequest, CastSummary, Buffer>;

/** The summary of a file that could not be read at all: `damaged`, with `problem` saying why. */
export function unreadableSummary(file: string, problem: string): CastSummary {
  return { file, size: 0, mtimeMs: 0, hasEvents: false, status: 'damaged', problem };
}

function openProblem(err: unknown): string {
  if (err instanceof SshcastError) return err.message; // not a regular file
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ELOOP' ? 'the file is a symlink' : `the file cannot be opened (${code ?? err})`;
}

/** The problem of a summary whose read failed with `err`. */
export function readProblem(err: unknown): string {
  return `read failed (${(err as NodeJS.ErrnoException).code ?? String(err)})`;
}

/**
 * Summarises the recording at `path` without following a symlink (a symlink, FIFO or directory is
 * reported as damaged, never opened for reading).
 */
export async function summarizeCast(path: string): Promise<CastSummary> {
  const file = basename(path);
  let fh: fs.promises.FileHandle;
  try {
    // A symlink or FIFO planted in the directory is reported, never followed or waited on.
    fh = (await openRecording(path, { noFollow: true })).handle;
  } catch (err) {
    return unreadableSummary(file, openProblem(err));
  }
  try {
    return await summarizeHandle(fh, file);
  } catch (err) {
    return unreadableSummary(file, readProblem(err));
  } finally {
    await fh.close();
  }
}

/**
 * {@link summarizeCast} with blocking reads, for a command-line listing. `path` may be a Buffer
 * (a name that is not UTF-8); `file` is the name to report.
 */
export function summarizeCastSync(
  path: string | Buffer,
  file: string = basename(String(path)),
): CastSummary {
  let fd: number;
  let stat: fs.Stats;
  try {
    ({ fd, stat } = openRecordingSync(path, { noFollow: true }));
  } catch (err) {
    return unreadableSummary(file, openProblem(err));
  }
  try {
    const steps = summarize(file, stat);
    for (let step = steps.next(); ;) {
      if (step.done) return step.value;
      step = steps.next(readAtSync(fd, step.value));
    }
  } catch (err) {
    return unreadableSummary(file, readProblem(err));
  } finally {
    fs.closeSync(fd);
  }
}

/** Summarises an already open recording (the caller keeps ownership of `fh`). */
export async function summarizeHandle(
  fh: fs.promises.FileHandle,
  file: string,
): Promise<CastSummary> {
  const steps = summarize(file, await fh.stat());
  for (let step = steps.next(); ;) {
    if (step.done) return step.value;
    step = steps.next(await readAt(fh, step.value));
  }
}

/**
 * Summarises a recording of `size` bytes that `read` gives ranges of (bytes [position, position +
 * length), fewer at the end): a copy in an object store, say. Never throws.
 */
export async function summarizeRead(
  file: string,
  size: number,
  mtimeMs: number,
  read: (position: number, length: number) => Promise<Buffer>,
): Promise<CastSummary> {
  try {
    const steps = summarize(file, { size, mtimeMs, isFile: () => true });
    for (let step = steps.next(); ;) {
      if (step.done) return step.value;
      step = steps.next(await read(step.value.position, step.value.length));
    }
  } catch (err) {
    return unreadableSummary(file, readProblem(err));
  }
}

/** Newest first: by header `start`, else modification time; then by name, descending. */
export function compareNewestFirst(a: CastSummary, b: CastSummary): number {
  const ta = a.start !== undefined ? a.start * 1000 : a.mtimeMs;
  const tb = b.start !== undefined ? b.start * 1000 : b.mtimeMs;
  if (ta !== tb) return tb - ta;
  return a.file < b.file ? 1 : a.file > b.file ? -1 : 0;
}

/** What {@link summarize} needs of a file's status: a copy in an object store has only these. */
type FileStatus = Pick<fs.Stats, 'size' | 'mtimeMs' | 'isFile'> & Partial<fs.Stats>;

function* summarize(file: string, st: FileStatus): Summarizer {
  const out: CastSummary = {
    file,
    size: st.size,
    mtimeMs: st.mtimeMs,
    hasEvents: false,
    status: 'ok',
  };
  const size = st.size;
  const damaged = (problem: string): CastSummary =>
    Object.assign(out, { status: 'damaged' as const, problem });
  if (!st.isFile()) return damaged(notRegularFile(st as fs.Stats));
  if (size === 0) return damaged('line 1: empty recording');

  // Headers are small: 4 KiB first, widened 4x at a time only for a longer line.
  let head = yield { position: 0, length: Math.min(size, FIRST_WINDOW) };
  let nl = head.indexOf(10);
  // A short read: the file shrank since fstat, and what was read is all there is.
  let shrunk = head.length < Math.min(size, FIRST_WINDOW);
  while (nl === -1 && !shrunk && head.length < size && head.length < SUMMARY_MAX_LINE_BYTES) {
    const more = Math.min(size, head.length * 4, SUMMARY_MAX_LINE_BYTES) - head.length;
    const got = yield { position: head.length, length: more };
    shrunk = got.length < more;
    head = Buffer.concat([head, got]);
    nl = head.indexOf(10);
  }
  if (nl === -1 && !shrunk && head.length < size)
    return damaged(`line 1: header line longer than ${SUMMARY_MAX_LINE_BYTES} bytes`);
  const complete = nl !== -1;
  let last: Event | undefined;
  const parser = new CastParser((e) => (last = e));
  const problem = parser.line(head.toString('utf8', 0, complete ? nl : head.length), complete);
  const h = parser.header;
  if (!h) return damaged(problem?.message ?? 'line 1: bad header');
  if (h.timestamp !== undefined) out.start = h.timestamp;
  out.width = h.width;
  out.height = h.height;
  if (h.localUser !== undefined) out.localUser = h.localUser;
  if (h.command !== undefined) out.command = h.command;
  if (h.title !== undefined) out.title = h.title;
  if (h.env?.TERM !== undefined) out.term = h.env.TERM;
  if (!complete) return ended(out, undefined, true, 'no newline after the header');
  const headerEnd = nl + 1;
  if (parser.version === 3) return yield* summarizeV3(parser, () => last, headerEnd, out);
  if (headerEnd >= size) return ended(out, undefined, false);

  // The last complete line: in the last 4 KiB, or a window widened 4x at a time for a long line.
  let start = Math.max(headerEnd, size - FIRST_WINDOW);
  let tail =
    head.length === size ? head.subarray(start) : yield { position: start, length: size - start };
  let end: number;
  let lineStart: number;
  for (;;) {
    end = tail.lastIndexOf(10);
    const prev = end > 0 ? tail.lastIndexOf(10, end - 1) : -1;
    if ((end !== -1 && prev !== -1) || start === headerEnd) {
      lineStart = prev + 1;
      break;
    }
    const window = size - start;
    if (window >= SUMMARY_MAX_LINE_BYTES)
      return damaged(`last line longer than ${SUMMARY_MAX_LINE_BYTES} bytes`);
    const from = Math.max(headerEnd, start - 3 * window);
    tail = Buffer.concat([yield { position: from, length: start - from }, tail]);
    start = from;
  }
  // No complete line after the header: the first event was cut short.
  if (end === -1) return ended(out, undefined, true);
  // Checked as an event by the parser that has seen only the header.
  const bad = parser.line(tail.toString('utf8', lineStart, end), true);
  if (bad || !last) return damaged(`last line: ${bad?.detail ?? 'not an event'}`);
  return ended(out, last, tail[tail.length - 1] !== 10);
}

/**
 * Fills in what the last complete event tells (no event: a duration of 0). `cut`: something
 * follows it without an LF, described by `cutProblem`.
 */
function ended(
  out: CastSummary,
  last: Event | undefined,
  cut: boolean,
  cutProblem = 'truncated final line',
): CastSummary {
  out.duration = last ? last.time / 1e6 : 0;
  if (last) {
    out.hasEvents = true;
    if (last.code === 'x') out.exit = last.data;
  }
  // A complete file without an `x` is not partial: asciinema 2 and Tailscale never write one.
  if (cut) Object.assign(out, { status: 'partial', problem: cutProblem });
  return out;
}

/**
 * asciicast v3 times are intervals, so the duration needs every event: the file is scanned, a
 * chunk at a time, through the parser (which also finds damage anywhere in it).
 */
function* summarizeV3(
  parser: CastParser,
  lastEvent: () => Event | undefined,
  from: number,
  out: CastSummary,
): Summarizer {
  const lines = new LineSplitter();
  for (let pos = from; pos < out.size;) {
    const chunk = yield { position: pos, length: Math.min(SCAN_CHUNK, out.size - pos) };
    if (chunk.length === 0) break;
    pos += chunk.length;
    for (const line of lines.push(chunk)) parser.line(line.toString('utf8'), true);
    if (lines.pending >= SUMMARY_MAX_LINE_BYTES)
      return Object.assign(out, {
        status: 'damaged',
        problem: `a line longer than ${SUMMARY_MAX_LINE_BYTES} bytes`,
      });
  }
  // As for v2, a final line without its LF is not read: the duration is the last complete event's.
  ended(out, lastEvent(), lines.pending > 0);
  const problem = parser.problems.find((p) => p.problem !== 'truncated');
  if (problem) Object.assign(out, { status: 'damaged', problem: problem.message });
  return out;
}

function readAtSync(fd: number, { position, length }: ReadRequest): Buffer {
  const buf = Buffer.allocUnsafe(length);
  let got = 0;
  while (got < length) {
    const n = fs.readSync(fd, buf, got, length - got, position + got);
    if (n === 0) break;
    got += n;
  }
  return buf.subarray(0, got);
}

async function readAt(
  fh: fs.promises.FileHandle,
  { position, length }: ReadRequest,
): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(length);
  let got = 0;
  while (got < length) {
    const { bytesRead } = await fh.read(buf, got, length - got, position + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return buf.subarray(0, got);
}
