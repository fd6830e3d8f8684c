/**
 * The recording directory: created with parents at mode 0700, checked once (a real directory,
 * not a symlink, not writable by group or others, owned by this process's user or root), then
 * held open. Files are created through the held descriptor, so a directory swapped for a symlink
 * later cannot redirect a recording.
 */
import fs from 'node:fs';
import { randomBytes } from 'node:crypto';
import { RecordingStartError } from '../errors.js';
import type { SpaceInfo } from './disk-limits.js';

const { O_DIRECTORY, O_NOFOLLOW, O_RDONLY, O_CREAT, O_EXCL, O_WRONLY } = fs.constants;

/** A created recording file: its open descriptor, its name and its full path. */
export interface CreatedFile {
  fd: number;
  name: string;
  path: string;
}

export class RecordingDirectory {
  /** The directory's path as given. */
  readonly path: string;
  readonly #fd: number;

  private constructor(path: string, fd: number) {
    this.path = path;
    this.#fd = fd;
  }

  /** Creates (with parents, 0700) and checks `path`, then holds it open. */
  static open(path: string): RecordingDirectory {
    try {
      fs.mkdirSync(path, { recursive: true, mode: 0o700 });
    } catch (cause) {
      throw new RecordingStartError(`cannot create recording directory ${path}: ${reason(cause)}`, {
        cause,
      });
    }
    let fd: number;
    try {
      fd = fs.openSync(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
    } catch (cause) {
      const code = (cause as NodeJS.ErrnoException).code;
      const why =
        code === 'ELOOP' || code === 'ENOTDIR'
          ? 'it is a symlink or not a directory'
          : reason(cause);
      throw new RecordingStartError(`refusing recording directory ${path}: ${why}`, { cause });
    }
    try {
      const st = fs.fstatSync(fd);
      if ((st.mode & 0o022) !== 0) {
        throw new RecordingStartError(
          `refusing recording directory ${path}: it is writable by group or others (mode ${(st.mode & 0o777).toString(8)})`,
        );
      }
      const uid = process.getuid?.() ?? 0;
      if (st.uid !== uid && st.uid !== 0) {
        throw new RecordingStartError(
          `refusing recording directory ${path}: it is owned by uid ${st.uid}`,
        );
      }
    } catch (err) {
      fs.closeSync(fd);
      throw err;
    }
    return new RecordingDirectory(path, fd);
  }

  /** Whether the held directory has been deleted (no name links to it any more). */
  get removed(): boolean {
    try {
      return fs.fstatSync(this.#fd).nlink === 0;
    } catch {
      return true;
    }
  }

  /**
   * The directory's file system: its size, and the bytes an unprivileged user may still write
   * (root's reserved blocks are not counted as free: recordings must not eat into them).
   */
  space(): SpaceInfo {
    const st = fs.statfsSync(`/proc/self/fd/${this.#fd}`);
    return { size: st.blocks * st.bsize, free: st.bavail * st.bsize };
  }

  /** Creates a new file exclusively (never following a symlink), mode 0600 whatever the umask. */
  create(name: string): CreatedFile {
    if (name.includes('/') || name === '.' || name === '..')
      throw new RecordingStartError(`bad file name ${name}`);
    let fd: number;
    try {
      fd = fs.openSync(
        `/proc/self/fd/${this.#fd}/${name}`,
        O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW,
        0o600,
      );
    } catch (cause) {
      throw new RecordingStartError(
        `cannot create recording ${name} in ${this.path}: ${reason(cause)}`,
        { cause },
      );
    }
    try {
      fs.fchmodSync(fd, 0o600);
    } catch (cause) {
      fs.closeSync(fd);
      throw new RecordingStartError(`cannot set mode of recording ${name}: ${reason(cause)}`, {
        cause,
      });
    }
    return { fd, name, path: `${this.path.replace(/\/+$/, '')}/${name}` };
  }

  /** Removes a file this directory created (a recording that could not start). */
  remove(name: string): void {
    if (name.includes('/') || name === '.' || name === '..') return;
    fs.rmSync(`/proc/self/fd/${this.#fd}/${name}`, { force: true });
  }

  /** Releases the held descriptor. */
  close(): void {
    fs.closeSync(this.#fd);
  }
}

/** `ssh-session-<unix nanoseconds>-<random>.cast`, as Tailscale names its recordings. */
export function sessionFileName(wallMs: number = Date.now()): string {
  const ns = BigInt(Math.floor(wallMs)) * 1_000_000n + (process.hrtime.bigint() % 1_000_000n);
  return `ssh-session-${ns}-${randomBytes(6).toString('hex')}.cast`;
}

function reason(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  return e?.code ?? (err instanceof Error ? err.message : String(err));
}
