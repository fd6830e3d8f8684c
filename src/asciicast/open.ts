/**
 * Opening a recording for reading, the one way every reader does it (`cat`, `play`, `validate`,
 * `ls`, `readCastFile`): with O_NONBLOCK, so that a FIFO named like a recording is opened at once
 * instead of waiting for a writer that never comes, then fstat on the open descriptor, refusing
 * anything that is not a regular file before a byte is read.
 */
import fs from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { SshcastError } from '../errors.js';

const { O_RDONLY, O_NONBLOCK, O_NOFOLLOW } = fs.constants;

/** Options for {@link openRecording}. */
export interface OpenRecordingOptions {
  /** Refuse a symlink (ELOOP) instead of following it, as a directory listing does. Default false. */
  noFollow?: boolean;
}

/** The message of the error for a path that is not a regular file, e.g. `not a regular file (a FIFO)`. */
export function notRegularFile(st: fs.Stats): string {
  const kind = st.isFIFO()
    ? 'a FIFO'
    : st.isDirectory()
      ? 'a directory'
      : st.isCharacterDevice()
        ? 'a character device'
        : st.isBlockDevice()
          ? 'a block device'
          : st.isSocket()
            ? 'a socket'
            : undefined;
  return kind ? `not a regular file (${kind})` : 'not a regular file';
}

function flags(options: OpenRecordingOptions): number {
  // O_NONBLOCK changes nothing for a regular file; for a FIFO it makes open() return at once.
  return O_RDONLY | O_NONBLOCK | (options.noFollow ? O_NOFOLLOW : 0);
}

function refuse(st: fs.Stats): SshcastError {
  return new SshcastError('ERR_CAST_READ', notRegularFile(st));
}

/**
 * Opens `path` for reading if it is a regular file; throws the file system's error (ENOENT,
 * EACCES, ELOOP with `noFollow`), or an SshcastError `ERR_CAST_READ` saying `not a regular file`
 * for a FIFO, directory, device or socket, which is never read.
 */
export async function openRecording(
  path: string | Buffer,
  options: OpenRecordingOptions = {},
): Promise<{ handle: FileHandle; stat: fs.Stats }> {
  const handle = await fs.promises.open(path, flags(options));
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) throw refuse(stat);
    return { handle, stat };
  } catch (err) {
    await handle.close();
    throw err;
  }
}

/** {@link openRecording} with blocking calls; returns the descriptor, which the caller closes. */
export function openRecordingSync(
  path: string | Buffer,
  options: OpenRecordingOptions = {},
): { fd: number; stat: fs.Stats } {
  const fd = fs.openSync(path, flags(options));
  try {
    const stat = fs.fstatSync(fd);
    if (!stat.isFile()) throw refuse(stat);
    return { fd, stat };
  } catch (err) {
    fs.closeSync(fd);
    throw err;
  }
}
