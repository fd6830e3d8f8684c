/**
 * A recording's summary for listings (`sshcast ls`, the web page): read from the header line and
 * the end of the file only (4 KiB, widened until it holds a complete line), so a directory of large recordings lists quickly and in bounded memory.
 * A broken file is summarised as `damaged` with the reason; it never throws.
 */
import fs from 'node:fs';
import { basename } from 'node:path';
import { CastParser } from './reader.js';

const { O_RDONLY, O_NOFOLLOW, O_NONBLOCK } = fs.constants;

/** The longest header line looked for; a longer one makes the file damaged. */
export const SUMMARY_HEAD_BYTES = 64 * 1024;
/** The longest last line looked for before a file is called damaged. */
export const SUMMARY_MAX_LINE_BYTES = 16 * 1024 * 1024;

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
  /** The data of the final `x` event (the exit status), when the recording ended with one. */
  exit?: string;
  /** False when the file holds a header and no complete event yet (players cannot show it). */
  hasEvents: boolean;
  /**
   * `ok`: header valid and the file ends with a complete line; `partial`: the last line is cut
   * short (still being written, or a crash); `damaged`: the header or the last complete line is
   * not valid asciicast (see `error`). Damage in the middle is found by `sshcast validate`, not here.
   */
  status: 'ok' | 'partial' | 'damaged';
  /** Why the file is damaged. */
  error?: string;
}

/**
 * Summarises the recording at `path` without following a symlink (a symlink, FIFO or directory is
 * reported as damaged, never opened for reading).
 */
export async function summarizeCast(path: string): Promise<CastSummary> {
  const file = basename(path);
  let fh: fs.promises.FileHandle;
  try {
    fh = await fs.promises.open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ELOOP' ? 'is a symlink' : `cannot be opened (${code ?? String(err)})`;
    return {
      file,
      size: 0,
      mtimeMs: 0,
      hasEvents: false,
      status: 'damaged',
      error: `the file ${why}`,
    };
  }
  try {
    return await summarizeHandle(fh, file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return {
      file,
      size: 0,
      mtimeMs: 0,
      hasEvents: false,
      status: 'damaged',
      error: `read failed (${code ?? String(err)})`,
    };
  } finally {
    await fh.close();
  }
}

/** Summarises an already open recording (the caller keeps ownership of `fh`). */
export async function summarizeHandle(
  fh: fs.promises.FileHandle,
  file: string,
): Promise<CastSummary> {
  const st = await fh.stat();
  const out: CastSummary = {
    file,
    size: st.size,
    mtimeMs: st.mtimeMs,
    hasEvents: false,
    status: 'ok',
  };
  const damaged = (error: string): CastSummary =>
    Object.assign(out, { status: 'damaged' as const, error });
  if (!st.isFile()) return damaged('not a regular file');
  if (st.size === 0) return damaged('empty file');

  // Headers are small: read 4 KiB first, the full allowance only when the line is longer.
  let head = await readAt(fh, 0, Math.min(st.size, 4096));
  if (head.indexOf(10) === -1 && st.size > head.length)
    head = await readAt(fh, 0, Math.min(st.size, SUMMARY_HEAD_BYTES));
  const nl = head.indexOf(10);
  const complete = nl !== -1;
  if (!complete && st.size > head.length)
    return damaged(`header line longer than ${SUMMARY_HEAD_BYTES} bytes`);
  const parser = new CastParser(() => {});
  const problem = parser.line(head.toString('utf8', 0, complete ? nl : head.length), complete);
  if (!parser.header) return damaged(problem?.message ?? 'line 1: bad header');
  const h = parser.header;
  if (h.timestamp !== undefined) out.start = h.timestamp;
  out.width = h.width;
  out.height = h.height;
  if (h.localUser !== undefined) out.localUser = h.localUser;
  if (h.command !== undefined) out.command = h.command;
  if (h.title !== undefined) out.title = h.title;
  if (h.env?.TERM !== undefined) out.term = h.env.TERM;
  if (!complete) {
    out.status = 'partial';
    return out;
  }

  // The last complete line: in the last 4 KiB, or a window widened 4x at a time for a long event line.
  let last: string | undefined;
  for (let window = 4096; ; window *= 4) {
    const tailStart = Math.max(nl + 1, st.size - window);
    const tail = await readAt(fh, tailStart, st.size - tailStart);
    const lastNl = tail.lastIndexOf(10);
    out.status = lastNl === tail.length - 1 || tail.length === 0 ? 'ok' : 'partial';
    // Complete lines in the window; the first is skipped when the window starts mid-line.
    const lines = lastNl === -1 ? [] : tail.toString('utf8', 0, lastNl).split('\n');
    if (tailStart > nl + 1) lines.shift();
    last = lines.at(-1);
    if (last !== undefined || tailStart === nl + 1) break;
    if (window >= SUMMARY_MAX_LINE_BYTES)
      return damaged(`a line longer than ${SUMMARY_MAX_LINE_BYTES} bytes`);
  }
  if (last === undefined) return out;
  const event = parseEventLine(last);
  if (typeof event === 'string') return damaged(`last complete line: ${event}`);
  out.hasEvents = true;
  if (event.code === 'x') out.exit = event.data;
  if (parser.version === 3) {
    const total = await v3Duration(fh, nl + 1, st.size);
    if (total !== undefined) out.duration = total;
  } else {
    out.duration = event.time;
  }
  return out;
}

function parseEventLine(line: string): { time: number; code: string; data: string } | string {
  let value: unknown;
  try {
    value = JSON.parse(line.endsWith('\r') ? line.slice(0, -1) : line);
  } catch {
    return 'not valid JSON';
  }
  if (!Array.isArray(value) || value.length !== 3) return 'not an event [time, code, data]';
  const [time, code, data] = value as unknown[];
  if (typeof time !== 'number' || !Number.isFinite(time) || time < 0) return 'bad event time';
  if (typeof code !== 'string' || typeof data !== 'string') return 'bad event code or data';
  return { time, code, data };
}

/** asciicast v3 times are intervals: the duration is their sum, so the whole file is scanned. */
async function v3Duration(
  fh: fs.promises.FileHandle,
  from: number,
  size: number,
): Promise<number | undefined> {
  let total = 0;
  let rest = '';
  for (let pos = from; pos < size;) {
    const chunk = await readAt(fh, pos, Math.min(1 << 20, size - pos));
    pos += chunk.length;
    const text = rest + chunk.toString('latin1');
    const lines = text.split('\n');
    rest = lines.pop() ?? '';
    for (const line of lines) {
      if (line.startsWith('#') || line.trim() === '') continue;
      const ev = parseEventLine(line);
      if (typeof ev !== 'string') total += ev.time;
    }
  }
  return Math.round(total * 1e6) / 1e6;
}

async function readAt(
  fh: fs.promises.FileHandle,
  position: number,
  length: number,
): Promise<Buffer> {
  const buf = Buffer.alloc(length);
  let got = 0;
  while (got < length) {
    const { bytesRead } = await fh.read(buf, got, length - got, position + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return buf.subarray(0, got);
}
