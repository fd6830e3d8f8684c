/**
 * `sshcast ls [DIR] [--json]`: one line per recording, newest first. Each file costs a few system
 * calls: its header line and the tail holding its last event are read, never the whole file, so
 * a directory of 10,000 recordings lists in about a second. A damaged or cut-short file is listed
 * and marked; it never stops the listing.
 */
import fs from 'node:fs';
import path from 'node:path';
import { CastParser, parseCast } from '../asciicast/reader.js';
import type { Event, Header } from '../asciicast/event.js';
import { DEFAULT_RECORDING_DIR } from '../recording/policy.js';
import {
  describeFsError,
  escapeControl,
  parseCommandArgs,
  shorten,
  UsageError,
  writeOut,
} from './common.js';

/** Usage text for `sshcast ls`. */
export const help = `Usage: sshcast ls [DIR] [--json]

List the recordings (*.cast) in DIR, newest first: file, start time, duration, size, local user,
status and command ("shell" for an interactive session). DIR defaults to ${DEFAULT_RECORDING_DIR}.

Only each file's first line and its last event are read. Status is "ok", "partial" (the last line
was cut short, or there is no exit event yet: a live or killed session) or "damaged" (with the
problem). Use "sshcast validate FILE" to check a whole file.

Options:
  --json         print a JSON array instead of a table
  -h, --help     show this help
  -V, --version  print the version

Example:
  sshcast ls ./recordings
`;

/** What `ls` knows about one recording. */
export interface RecordingSummary {
  /** The file name inside the directory. */
  file: string;
  /** The path as given (directory joined with the name). */
  path: string;
  /** Size in bytes. */
  size: number;
  /** `ok`; `partial`: cut short or without an exit event; `damaged`: not a readable recording. */
  status: 'ok' | 'partial' | 'damaged';
  /** What is wrong, for `partial` and `damaged`. */
  problem?: string;
  /** Start time, integer Unix seconds from the header. */
  timestamp?: number;
  /** Time of the last event in seconds. */
  duration?: number;
  /** Terminal size at start, from the header. */
  width?: number;
  height?: number;
  /** The local account the session ran as. */
  localUser?: string;
  /** The exec command; undefined for an interactive shell. */
  command?: string;
  /** The header's title, if any. */
  title?: string;
  /** The data of the final `x` event (the exit status), when there is one. */
  exit?: string;
  /** File modification time in milliseconds, used to sort files without a timestamp. */
  mtimeMs: number;
}

const WINDOW = 64 * 1024;
const MAX_LINE = 8 * 1024 * 1024;

function readAt(fd: number, position: number, length: number): Buffer {
  const buf = Buffer.allocUnsafe(length);
  let got = 0;
  while (got < length) {
    const n = fs.readSync(fd, buf, got, length - got, position + got);
    if (n === 0) break;
    got += n;
  }
  return buf.subarray(0, got);
}

/**
 * Reads what a listing needs from one recording: the header line and the last complete line.
 * Never throws: an unreadable or malformed file comes back with status `damaged`.
 */
export function summarizeRecording(
  filePath: string | Buffer,
  file = path.basename(String(filePath)),
): RecordingSummary {
  const out: RecordingSummary = { file, path: String(filePath), size: 0, status: 'ok', mtimeMs: 0 };
  let fd: number;
  try {
    // O_NONBLOCK: a FIFO planted in the directory must not hang the listing.
    fd = fs.openSync(
      filePath,
      fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK,
    );
  } catch (err) {
    return { ...out, status: 'damaged', problem: describeFsError(err) };
  }
  try {
    const st = fs.fstatSync(fd);
    out.size = st.size;
    out.mtimeMs = st.mtimeMs;
    if (!st.isFile()) return { ...out, status: 'damaged', problem: 'not a regular file' };
    summarizeOpen(fd, st.size, out);
  } catch (err) {
    out.status = 'damaged';
    out.problem = describeFsError(err);
  } finally {
    fs.closeSync(fd);
  }
  return out;
}

function damaged(out: RecordingSummary, problem: string): void {
  out.status = 'damaged';
  out.problem = problem;
}

function summarizeOpen(fd: number, size: number, out: RecordingSummary): void {
  if (size === 0) return damaged(out, 'line 1: empty recording');
  let head = readAt(fd, 0, Math.min(size, WINDOW));
  let nl = head.indexOf(10);
  while (nl === -1 && head.length < size && head.length < MAX_LINE) {
    head = Buffer.concat([
      head,
      readAt(fd, head.length, Math.min(size - head.length, head.length)),
    ]);
    nl = head.indexOf(10);
  }
  if (nl === -1 && head.length < size) return damaged(out, 'line 1: header line too long');
  const headerComplete = nl !== -1;
  const headerEnd = headerComplete ? nl + 1 : size;
  const parser = new CastParser(() => {});
  const headerText = head.toString('utf8', 0, headerComplete ? nl : head.length);
  const problem = parser.line(headerText, headerComplete);
  if (problem) return damaged(out, problem.message);
  const header = parser.header!;
  copyHeader(header, out);
  if (parser.version === 3) return summarizeV3(fd, size, out);
  if (!headerComplete) {
    out.status = 'partial';
    out.problem = 'no newline after the header';
    out.duration = 0;
    return;
  }
  // The tail: the last complete line, and whether anything follows it.
  let start = Math.max(headerEnd, size - WINDOW);
  if (start >= size) {
    out.status = 'partial';
    out.problem = 'no events';
    out.duration = 0;
    return;
  }
  let tail = head.length === size ? head.subarray(start) : readAt(fd, start, size - start);
  const truncated = tail[tail.length - 1] !== 10;
  let end: number;
  let lineStart: number;
  for (;;) {
    end = tail.lastIndexOf(10);
    const prev = end > 0 ? tail.lastIndexOf(10, end - 1) : -1;
    if ((end !== -1 && prev !== -1) || start === headerEnd) {
      lineStart = prev + 1;
      break;
    }
    // The last complete line began before the window: read further back.
    if (tail.length >= MAX_LINE) return damaged(out, 'last line too long');
    const from = Math.max(headerEnd, start - tail.length);
    tail = Buffer.concat([readAt(fd, from, start - from), tail]);
    start = from;
  }
  if (end === -1) {
    // No complete event: cut short right after the header.
    out.status = 'partial';
    out.problem = 'truncated final line';
    out.duration = 0;
    return;
  }
  // Check the last line as an event, with a parser that has seen only the header.
  let last: Event | undefined;
  const check = new CastParser((e) => (last = e));
  check.line(headerText, true);
  const bad = check.line(tail.toString('utf8', lineStart, end), true);
  if (bad || !last)
    return damaged(
      out,
      `last line: ${(bad?.message ?? 'not an event').replace(/^line [0-9]+: /, '')}`,
    );
  const value = [last.time / 1e6, last.code, last.data] as const;
  out.duration = value[0];
  if (value[1] === 'x') out.exit = value[2];
  if (truncated) {
    out.status = 'partial';
    out.problem = 'truncated final line';
  } else if (value[1] !== 'x') {
    out.status = 'partial';
    out.problem = 'no exit event';
  }
}

// v3 times are intervals: the duration is their sum, so the file is read whole (v3 is rare here).
function summarizeV3(fd: number, size: number, out: RecordingSummary): void {
  if (size > 64 * 1024 * 1024) {
    out.status = 'partial';
    out.problem = 'v3 file too large to summarize';
    return;
  }
  const cast = parseCast(readAt(fd, 0, size).toString('utf8'), { mode: 'collect' });
  const last = cast.events?.[cast.events.length - 1];
  out.duration = last ? last.time / 1e6 : 0;
  if (last?.code === 'x') out.exit = last.data;
  const problem = cast.problems.find((p) => p.problem !== 'truncated');
  if (problem) return damaged(out, problem.message);
  if (cast.truncated) {
    out.status = 'partial';
    out.problem = 'truncated final line';
  } else if (last?.code !== 'x') {
    out.status = 'partial';
    out.problem = 'no exit event';
  }
}

function copyHeader(header: Header, out: RecordingSummary): void {
  if (header.timestamp !== undefined) out.timestamp = header.timestamp;
  out.width = header.width;
  out.height = header.height;
  if (header.localUser !== undefined) out.localUser = header.localUser;
  if (header.command !== undefined) out.command = header.command;
  if (header.title !== undefined) out.title = header.title;
}

/** Summarizes every `*.cast` regular file in `dir`, newest first. Throws only if `dir` is unreadable. */
export function listRecordings(dir: string): RecordingSummary[] {
  // Names as bytes: a file whose name is not valid UTF-8 can still be opened.
  const entries = fs.readdirSync(dir, { withFileTypes: true, encoding: 'buffer' });
  const dirBuf = Buffer.from(dir.endsWith('/') ? dir : dir + '/');
  const out: RecordingSummary[] = [];
  for (const entry of entries) {
    const name = entry.name;
    if (!name.subarray(name.length - 5).equals(CAST_SUFFIX)) continue;
    if (!entry.isFile() && !entry.isSymbolicLink() && !entry.isFIFO()) continue;
    const file = name.toString('utf8');
    if (!entry.isFile()) {
      out.push({
        file,
        path: path.join(dir, file),
        size: 0,
        status: 'damaged',
        problem: 'not a regular file',
        mtimeMs: 0,
      });
      continue;
    }
    const summary = summarizeRecording(Buffer.concat([dirBuf, name]), file);
    summary.path = path.join(dir, file);
    out.push(summary);
  }
  return out.sort(newestFirst);
}

const CAST_SUFFIX = Buffer.from('.cast');

function newestFirst(a: RecordingSummary, b: RecordingSummary): number {
  const ta = a.timestamp !== undefined ? a.timestamp * 1000 : a.mtimeMs;
  const tb = b.timestamp !== undefined ? b.timestamp * 1000 : b.mtimeMs;
  if (ta !== tb) return tb - ta;
  return a.file < b.file ? 1 : a.file > b.file ? -1 : 0;
}

function pad2(n: number): string {
  return String(n).padStart(2, '0');
}

/** Local time as `YYYY-MM-DD HH:MM:SS`. */
export function formatStart(unixSeconds: number | undefined): string {
  if (unixSeconds === undefined || !Number.isFinite(unixSeconds)) return '-';
  const d = new Date(unixSeconds * 1000);
  if (Number.isNaN(d.getTime())) return '-';
  return `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
}

/** A duration in seconds as `12.3s`, `m:ss` or `h:mm:ss`. */
export function formatDuration(seconds: number | undefined): string {
  if (seconds === undefined || !Number.isFinite(seconds) || seconds < 0) return '-';
  if (seconds < 60) return `${(Math.floor(seconds * 10) / 10).toFixed(1)}s`;
  const s = Math.floor(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h > 0 ? `${h}:${pad2(m)}:${pad2(s % 60)}` : `${m}:${pad2(s % 60)}`;
}

/** A size in bytes as `512B`, `4.1K`, `20M`, `1.5G`. */
export function formatSize(bytes: number): string {
  if (bytes < 1024) return `${bytes}B`;
  const units = ['K', 'M', 'G', 'T'];
  let n = bytes / 1024;
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n < 10 ? n.toFixed(1) : Math.round(n)}${units[i]}`;
}

/** The table `ls` prints; every field from a file is escaped so it cannot drive the terminal. */
export function formatTable(rows: RecordingSummary[]): string {
  const cells = rows.map((r) => {
    const what =
      r.width === undefined
        ? '-'
        : r.command === undefined
          ? 'shell'
          : shorten(escapeControl(r.command), 200);
    return [
      escapeControl(r.file),
      formatStart(r.timestamp),
      formatDuration(r.duration),
      formatSize(r.size),
      r.localUser === undefined ? '-' : shorten(escapeControl(r.localUser), 64),
      r.problem ? `${r.status}: ${escapeControl(r.problem)}` : r.status,
      what,
    ];
  });
  const head = ['FILE', 'START', 'DURATION', 'SIZE', 'USER', 'STATUS', 'COMMAND'];
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) =>
    c.map((v, i) => (i === c.length - 1 ? v : v.padEnd(widths[i]!))).join('  ');
  return [line(head), ...cells.map(line)].join('\n') + '\n';
}

// JSON.stringify leaves DEL, C1 controls and bidi overrides raw; escape them too, for terminals.
const JSON_UNSAFE = /[\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/** The `--json` output: an array of summaries, safe to print on a terminal. */
export function formatJson(rows: RecordingSummary[]): string {
  const items = rows.map((r) => ({
    file: r.file,
    path: r.path,
    start: r.timestamp === undefined ? null : new Date(r.timestamp * 1000).toISOString(),
    timestamp: r.timestamp ?? null,
    duration: r.duration ?? null,
    size: r.size,
    localUser: r.localUser ?? null,
    command: r.command ?? null,
    title: r.title ?? null,
    width: r.width ?? null,
    height: r.height ?? null,
    exit: r.exit ?? null,
    status: r.status,
    problem: r.problem ?? null,
  }));
  const text = JSON.stringify(items, null, 2);
  return (
    (text.isWellFormed() ? text : text.toWellFormed()).replace(
      JSON_UNSAFE,
      (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
    ) + '\n'
  );
}

/** Runs `sshcast ls`. */
export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs('ls', args, { json: { type: 'boolean' } });
  if (positionals.length > 1)
    throw new UsageError('ls: takes at most one directory (see sshcast ls --help)');
  const dir = positionals[0] ?? DEFAULT_RECORDING_DIR;
  let rows: RecordingSummary[];
  try {
    rows = listRecordings(dir);
  } catch (err) {
    throw new Error(`${dir}: ${describeFsError(err)}`);
  }
  await writeOut(values.json ? formatJson(rows) : formatTable(rows));
  return 0;
}
