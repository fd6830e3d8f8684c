/**
 * The recordings the replay page may reach: regular files named `*.cast` directly inside one
 * directory, opened through a descriptor held on that directory and never through a symlink.
 */
import fs from 'node:fs';
import { Readable } from 'node:stream';
import {
  compareNewestFirst,
  readProblem,
  summarizeHandle,
  unreadableSummary,
  withWriterState,
  type CastSummary,
} from '../asciicast/summary.js';
import { filesBeingWrittenAsync } from '../recording/live.js';
import { SshcastError } from '../errors.js';

const { O_RDONLY, O_NOFOLLOW, O_NONBLOCK, O_DIRECTORY } = fs.constants;

/** A recording's name: one path segment, not hidden, ending in `.cast`. */
const NAME = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,250}\.cast$/;

/** Whether `name` may name a recording (no `/`, no `..`, no leading dot, ends in `.cast`). */
export function isRecordingName(name: string): boolean {
  return NAME.test(name);
}

/** Raised when a name is refused or a file cannot be served; `status` is the HTTP status to send. */
export class FileRefused extends SshcastError {
  constructor(
    readonly status: 400 | 404,
    message: string,
  ) {
    super('ERR_FILE', message);
  }
}

/** A recording opened for serving: its complete lines only. */
export interface CompleteLines {
  /** Bytes up to and including the last LF. */
  length: number;
  /** Streams those bytes; closes the file when done or destroyed. */
  stream: Readable;
}

/** How many files are summarised at once. */
const CONCURRENCY = 16;

/** The directory of recordings, held open from the start. */
export class RecordingFiles {
  readonly path: string;
  readonly #fd: number;
  readonly #cache = new Map<
    string,
    { mtimeMs: number; size: number; ino: number; summary: CastSummary }
  >();

  private constructor(path: string, fd: number) {
    this.path = path;
    this.#fd = fd;
  }

  /** Opens `dir` (a symlink to a directory is followed here, once; later swaps change nothing). */
  static open(dir: string): RecordingFiles {
    const fd = fs.openSync(dir, O_RDONLY | O_DIRECTORY);
    return new RecordingFiles(dir, fd);
  }

  #at(name: string): string {
    return `/proc/self/fd/${this.#fd}/${name}`;
  }

  /** Summaries of every recording in the directory, newest first; a damaged file is summarised as damaged. */
  async list(): Promise<CastSummary[]> {
    const entries = await fs.promises.readdir(this.#at(''), { withFileTypes: true });
    const names = entries.filter((e) => e.isFile() && isRecordingName(e.name)).map((e) => e.name);
    const out: CastSummary[] = [];
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < names.length) {
        const summary = await this.#fileSummary(names[next++]!);
        if (summary) out.push(summary);
      }
    };
    await Promise.all(Array.from({ length: Math.min(CONCURRENCY, names.length) }, worker));
    const seen = new Set(names);
    for (const name of this.#cache.keys()) if (!seen.has(name)) this.#cache.delete(name);
    const live = await filesBeingWrittenAsync(out.map((s) => this.#at(s.file)));
    return out.map((s) => withWriterState(s, live.has(this.#at(s.file)))).sort(compareNewestFirst);
  }

  /** The summary of one recording, or undefined if it is gone; `live` while some process writes it. */
  async summary(name: string): Promise<CastSummary | undefined> {
    const summary = await this.#fileSummary(name);
    if (!summary) return undefined;
    const live = await filesBeingWrittenAsync([this.#at(name)]);
    return withWriterState(summary, live.size > 0);
  }

  /** What the file itself says, cached while its size and mtime stay the same. */
  async #fileSummary(name: string): Promise<CastSummary | undefined> {
    let fh: fs.promises.FileHandle;
    try {
      fh = await this.#open(name);
    } catch (err) {
      if (err instanceof FileRefused && err.status === 404) return undefined;
      return unreadableSummary(name, (err as Error).message);
    }
    try {
      const st = await fh.stat();
      const hit = this.#cache.get(name);
      if (hit && hit.mtimeMs === st.mtimeMs && hit.size === st.size && hit.ino === st.ino)
        return hit.summary;
      const summary = await summarizeHandle(fh, name);
      this.#cache.set(name, { mtimeMs: st.mtimeMs, size: st.size, ino: st.ino, summary });
      return summary;
    } catch (err) {
      return unreadableSummary(name, readProblem(err));
    } finally {
      await fh.close();
    }
  }

  async #open(name: string): Promise<fs.promises.FileHandle> {
    if (!isRecordingName(name)) throw new FileRefused(400, 'not a recording name');
    let fh: fs.promises.FileHandle;
    try {
      fh = await fs.promises.open(this.#at(name), O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') throw new FileRefused(404, 'no such recording');
      if (code === 'ELOOP') throw new FileRefused(404, 'refusing a symlink');
      throw new FileRefused(404, `cannot open the recording (${code ?? 'error'})`);
    }
    const st = await fh.stat().catch(() => undefined);
    if (!st?.isFile()) {
      await fh.close();
      throw new FileRefused(404, 'not a regular file');
    }
    return fh;
  }

  /**
   * Opens a recording for serving its complete lines: everything up to its last LF, so a file
   * still being written, or cut short by a crash, reaches a player as valid asciicast.
   */
  async openComplete(name: string): Promise<CompleteLines> {
    const fh = await this.#open(name);
    try {
      const { size } = await fh.stat();
      const length = await endOfLastLine(fh, size);
      if (length === 0) {
        await fh.close();
        return { length, stream: Readable.from([]) };
      }
      return { length, stream: fh.createReadStream({ start: 0, end: length - 1 }) };
    } catch (err) {
      await fh.close();
      throw err;
    }
  }

  /** Releases the held directory. */
  close(): void {
    fs.closeSync(this.#fd);
  }
}

/** The offset just past the last LF in the first `size` bytes (0 when there is none). */
async function endOfLastLine(fh: fs.promises.FileHandle, size: number): Promise<number> {
  const step = 64 * 1024;
  const buf = Buffer.alloc(step);
  for (let end = size; end > 0;) {
    const start = Math.max(0, end - step);
    const { bytesRead } = await fh.read(buf, 0, end - start, start);
    const nl = buf.subarray(0, bytesRead).lastIndexOf(10);
    if (nl !== -1) return start + nl + 1;
    end = start;
  }
  return 0;
}
