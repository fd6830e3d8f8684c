/**
 * `sshcast ls [DIR] [--json]`: one line per recording, newest first. Each file costs a few system
 * calls: its header line and the tail holding its last event are read, never the whole file, so
 * a directory of 10,000 recordings lists in about a second. A damaged or cut-short file is listed
 * and marked; it never stops the listing.
 */
import fs from 'node:fs';
import path from 'node:path';
import {
  compareNewestFirst,
  summarizeCastSync,
  unreadableSummary,
  withWriterState,
  type CastSummary,
} from '../asciicast/summary.js';
import { filesBeingWritten } from '../recording/live.js';
import { DEFAULT_RECORDING_DIR } from '../recording/policy.js';
import { isCollectorDir, isS3Url } from '../storage/location.js';
import { readLedgerIndex, sealLabel, sealMark, type SealMark } from '../sealing/ledger-index.js';
import {
  describeFsError,
  parseCommandArgs,
  shorten,
  terminalJson,
  UsageError,
  writeOut,
} from './common.js';
import { escapeControl } from '../text/escape.js';
import { clockDuration, formatSize, localTime } from '../text/units.js';
import { SshcastError } from '../errors.js';

/** Usage text for `sshcast ls`. */
export const help = `Usage: sshcast ls [DIR | COLLECTOR-DIR | s3://BUCKET/PREFIX] [--device NAME] [--json]

List the recordings (*.cast) in DIR, newest first: file, start time, duration, size, local user,
exit status, status and command ("shell" for an interactive session). DIR defaults to
${DEFAULT_RECORDING_DIR}. In a directory set up with "sshcast seal init", a SEALED column says
through which line the ledger sealed each recording ("12 open", "40 closed", "pruned", "no");
"sshcast verify" checks it.

With s3://BUCKET/PREFIX or a collector's --dir (a directory holding .uploads/), list what every
device shipped to the collectors storing there, finished and live (an upload still open is
"live"), with a DEVICE column; S3 settings come from AWS_ENDPOINT_URL, AWS_REGION,
AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.

Only each file's first line and its last event are read. Status is "ok" (every line complete),
"live" (a process still writes the file), "partial" (the last line was cut short, and no one
writes it: a recorder that died mid-line) or "damaged" (with the problem). EXIT is the status of
the final x event, or "-" when there is none: the session is live, its recorder was killed, or
the recorder writes none (asciinema 2 and Tailscale do not). Use "sshcast validate FILE" to
check a whole file.

Options:
  --json         print a JSON array instead of a table
  --device NAME  only that device's recordings (s3:// or a collector's directory)
  -h, --help     show this help
  -V, --version  print the version

Example:
  sshcast ls ./recordings
`;

/** What `ls` knows about one recording: the shared summary, and the path as listed. */
export interface RecordingSummary extends CastSummary {
  /** The path as given (directory joined with the name). */
  path: string;
  /** The device that shipped it, for a listing of a collectors' store. */
  device?: string;
  /**
   * In a sealed directory: what the ledger says (through which line, closed or pruned), or null
   * when it never saw the recording. Absent when the directory is not sealed. Not verified.
   */
  sealed?: SealMark | null;
}

/**
 * Reads what a listing needs from one recording: the header line and the last complete line.
 * Never throws: an unreadable or malformed file comes back with status `damaged`.
 */
export function summarizeRecording(
  filePath: string | Buffer,
  file = path.basename(String(filePath)),
): RecordingSummary {
  return { ...summarizeCastSync(filePath, file), path: String(filePath) };
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
      out.push({ ...unreadableSummary(file, 'not a regular file'), path: path.join(dir, file) });
      continue;
    }
    const summary = summarizeRecording(Buffer.concat([dirBuf, name]), file);
    summary.path = path.join(dir, file);
    out.push(summary);
  }
  const live = filesBeingWritten(out.map((r) => r.path));
  // Sealing (DESIGN section 7): the ledger's word on each recording, read without the key.
  const seals = readLedgerIndex(dir);
  return out
    .map((r) => ({
      ...withWriterState(r, live.has(r.path)),
      path: r.path,
      ...(seals ? { sealed: sealMark(seals, r.file) } : {}),
    }))
    .sort(compareNewestFirst);
}

const CAST_SUFFIX = Buffer.from('.cast');

/** Local time as `YYYY-MM-DD HH:MM:SS`. */
export function formatStart(unixSeconds: number | undefined): string {
  if (unixSeconds === undefined || !Number.isFinite(unixSeconds)) return '-';
  return localTime(unixSeconds * 1000) ?? '-';
}

/** A duration in seconds as `12.3s`, `m:ss` or `h:mm:ss`. */
export function formatDuration(seconds: number | undefined): string {
  if (seconds === undefined || !Number.isFinite(seconds) || seconds < 0) return '-';
  if (seconds < 60) return `${(Math.floor(seconds * 10) / 10).toFixed(1)}s`;
  return clockDuration(seconds);
}

/**
 * The table `ls` prints. Every field from a file has its control characters shown as visible
 * escapes, so it cannot drive the terminal; a backslash is printed as it is, so a command reads
 * as it was typed (`printf '\xc3'`), as on the web page.
 */
export function formatTable(rows: RecordingSummary[]): string {
  const withDevice = rows.some((r) => r.device !== undefined);
  const show = (text: string) => escapeControl(text, { escapeBackslash: false });
  const sealed = rows.some((r) => r.sealed !== undefined);
  const cells = rows.map((r) => {
    const what =
      r.width === undefined
        ? '-'
        : r.command === undefined
          ? 'shell'
          : shorten(show(r.command), 200);
    return [
      ...(withDevice ? [show(r.device ?? '-')] : []),
      show(r.file),
      formatStart(r.start),
      formatDuration(r.duration),
      formatSize(r.size),
      r.localUser === undefined ? '-' : shorten(show(r.localUser), 64),
      r.exit === undefined ? '-' : shorten(show(r.exit), 16),
      r.problem ? `${r.status}: ${show(r.problem)}` : r.status,
      ...(sealed ? [sealLabel(r.sealed ?? null)] : []),
      what,
    ];
  });
  const head = withDevice ? ['DEVICE'] : [];
  head.push('FILE', 'START', 'DURATION', 'SIZE', 'USER', 'EXIT', 'STATUS');
  if (sealed) head.push('SEALED');
  head.push('COMMAND');
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) =>
    c.map((v, i) => (i === c.length - 1 ? v : v.padEnd(widths[i]!))).join('  ');
  return [line(head), ...cells.map(line)].join('\n') + '\n';
}

/** Unix seconds as an ISO time; null when absent or outside what a Date can hold (a hostile header). */
function isoTime(unixSeconds: number | undefined): string | null {
  const d = new Date((unixSeconds ?? NaN) * 1000);
  return Number.isNaN(d.getTime()) ? null : d.toISOString();
}

/** The `--json` output: an array of summaries, safe to print on a terminal. */
export function formatJson(rows: RecordingSummary[]): string {
  const items = rows.map((r) => ({
    ...(r.device !== undefined ? { device: r.device } : {}),
    file: r.file,
    path: r.path,
    start: isoTime(r.start),
    timestamp: r.start ?? null,
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
    ...(r.sealed !== undefined ? { sealed: r.sealed } : {}),
  }));
  return terminalJson(items);
}

/** Runs `sshcast ls`. */
export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs('ls', args, {
    json: { type: 'boolean' },
    device: { type: 'string' },
  });
  if (positionals.length > 1)
    throw new UsageError('ls: takes at most one directory (see sshcast ls --help)');
  const dir = positionals[0] ?? DEFAULT_RECORDING_DIR;
  let rows: RecordingSummary[];
  if (isS3Url(dir) || isCollectorDir(dir)) {
    const { listStoredRecordings } = await import('./ls-stored.js');
    rows = await listStoredRecordings(dir, values.device);
  } else {
    if (values.device !== undefined)
      throw new UsageError(
        "ls: --device goes with s3://BUCKET/PREFIX or a collector's directory (see sshcast ls --help)",
      );
    try {
      rows = listRecordings(dir);
    } catch (err) {
      throw new SshcastError('ERR_FILE', `${dir}: ${describeFsError(err)}`, { cause: err });
    }
  }
  await writeOut(values.json ? formatJson(rows) : formatTable(rows));
  return 0;
}
