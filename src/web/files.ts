/**
 * The recordings the replay page may reach: regular files named `*.cast` directly inside one
 * directory, or one level down in a device's directory (`DEVICE/NAME.cast`, as a collector's
 * `--dir` stores them), opened through a descriptor held on the directory and never through a
 * symlink.
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
import { SshcastError } from '../errors.js';
import { defaultLiveness, type LiveCandidate, type LivenessRule } from '../live/liveness.js';

const { O_RDONLY, O_NOFOLLOW, O_NONBLOCK, O_DIRECTORY } = fs.constants;

/** A recording's name: one path segment, not hidden, ending in `.cast`. */
const NAME = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,250}\.cast$/;

/** A device's directory in a collector's `--dir`: one segment, not hidden (`.sshcast` is not one). */
const DEVICE = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;

/** Whether `name` may name a recording (no `/`, no `..`, no leading dot, ends in `.cast`). */
export function isRecordingName(name: string): boolean {
  return NAME.test(name);
}

/**
 * Whether `rel` names a recording the page may serve: `NAME.cast`, or `DEVICE/NAME.cast` one
 * level down.
 */
export function isRecordingPath(rel: string): boolean {
  const parts = rel.split('/');
  if (parts.length === 1) return NAME.test(rel);
  return parts.length === 2 && DEVICE.test(parts[0]!) && NAME.test(parts[1]!);
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

/** A recording opened for following: its handle, and a path fs.watch can watch it by. */
export interface FollowedFile {
  fh: fs.promises.FileHandle;
  watchPath: string;
}

/** How many files are summarised at once. */
const CONCURRENCY = 16;
/** The most device directories listed. */
const MAX_DEVICES = 10_000;

/** The directory of recordings, held open from the start. */
export class RecordingFiles {
  readonly path: string;
  readonly #fd: number;
  readonly #liveness: LivenessRule;
  readonly #cache = new Map<
    string,
    { mtimeMs: number; size: number; ino: number; summary: CastSummary }
  >();

  private constructor(path: string, fd: number, liveness: LivenessRule) {
    this.path = path;
    this.#fd = fd;
    this.#liveness = liveness;
  }

  /**
   * Opens `dir` (a symlink to a directory is followed here, once; later swaps change nothing).
   * `liveness` says which recordings are still being written (default: {@link defaultLiveness}).
   */
  static open(dir: string, liveness: LivenessRule = defaultLiveness()): RecordingFiles {
    const fd = fs.openSync(dir, O_RDONLY | O_DIRECTORY);
    return new RecordingFiles(dir, fd, liveness);
  }

  #at(name: string): string {
    return `/proc/self/fd/${this.#fd}/${name}`;
  }

  /** The recordings' names: `NAME.cast` in the directory and `DEVICE/NAME.cast` one level down. */
  async #names(): Promise<string[]> {
    const entries = await fs.promises.readdir(this.#at(''), { withFileTypes: true });
    const names = entries.filter((e) => e.isFile() && isRecordingName(e.name)).map((e) => e.name);
    const devices = entries.filter((e) => e.isDirectory() && DEVICE.test(e.name));
    for (const device of devices.slice(0, MAX_DEVICES)) {
      let dh: fs.promises.FileHandle;
      try {
        // O_NOFOLLOW: a device's directory swapped for a symlink is not followed out.
        dh = await fs.promises.open(this.#at(device.name), O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
      } catch {
        continue;
      }
      try {
        const inner = await fs.promises.readdir(`/proc/self/fd/${dh.fd}`, { withFileTypes: true });
        for (const e of inner)
          if (e.isFile() && isRecordingName(e.name)) names.push(`${device.name}/${e.name}`);
      } catch {
        // unreadable: listed as nothing
      } finally {
        await dh.close();
      }
    }
    return names;
  }

  /** Summaries of every recording in the directory, newest first; a damaged file is summarised as damaged. */
  async list(): Promise<CastSummary[]> {
    const names = await this.#names();
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
    const live = await this.#live(out);
    return out.map((s) => withWriterState(s, live.has(s.file))).sort(compareNewestFirst);
  }

  /** The summary of one recording, or undefined if it is gone; `live` while it is being written. */
  async summary(name: string): Promise<CastSummary | undefined> {
    const summary = await this.#fileSummary(name);
    if (!summary) return undefined;
    const live = await this.#live([summary]);
    return withWriterState(summary, live.has(name));
  }

  /** Whether `name`, as it is now, is still being written (by the liveness rule). */
  async stillWritten(name: string, st: { size: number; mtimeMs: number }): Promise<boolean> {
    const c: LiveCandidate = { name, path: this.#at(name), size: st.size, mtimeMs: st.mtimeMs };
    return (await this.#liveness([c])).has(name);
  }

  /** Of these summaries, the names of the recordings still being written; one that ended with `x` is not. */
  #live(summaries: readonly CastSummary[]): Promise<Set<string>> {
    return this.#liveness(
      summaries
        .filter((s) => s.status !== 'damaged' && s.exit === undefined)
        .map((s) => ({ name: s.file, path: this.#at(s.file), size: s.size, mtimeMs: s.mtimeMs })),
    );
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
    if (!isRecordingPath(name)) throw new FileRefused(400, 'not a recording name');
    const slash = name.indexOf('/');
    let fh: fs.promises.FileHandle;
    let dh: fs.promises.FileHandle | undefined;
    try {
      // Each step with O_NOFOLLOW: neither a device's directory nor a recording may be a symlink.
      let path = this.#at(name);
      if (slash !== -1) {
        dh = await fs.promises.open(
          this.#at(name.slice(0, slash)),
          O_RDONLY | O_DIRECTORY | O_NOFOLLOW,
        );
        path = `/proc/self/fd/${dh.fd}/${name.slice(slash + 1)}`;
      }
      fh = await fs.promises.open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') throw new FileRefused(404, 'no such recording');
      if (code === 'ELOOP' || code === 'ENOTDIR') throw new FileRefused(404, 'refusing a symlink');
      throw new FileRefused(404, `cannot open the recording (${code ?? 'error'})`);
    } finally {
      await dh?.close();
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

  /** Opens a recording to follow it as it is written (the caller closes `fh`). */
  async openFollow(name: string): Promise<FollowedFile> {
    const fh = await this.#open(name);
    return { fh, watchPath: `/proc/self/fd/${fh.fd}` };
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
