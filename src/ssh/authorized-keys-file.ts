/**
 * Reading an authorized_keys file as sshd does with StrictModes: never through a symlink, never
 * blocking on a FIFO, never an unbounded read, and only a file and directories that no one but
 * the account (or root) can write.
 */
import { constants as fsc } from 'node:fs';
import { open, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { parseAuthorizedKeys, type AuthorizedKey, type WarnFn } from './authorized-keys.js';

/** A file larger than this is refused (sshd reads line by line; we read the file whole). */
export const MAX_AUTHORIZED_KEYS_BYTES = 1024 * 1024;

/** Who may own the file and the directories leading to it, and where the directory walk stops. */
export interface OwnershipPolicy {
  /** Allowed owners (uids); root is always allowed. */
  owners: number[];
  /** Stop the directory walk after this directory (the account's home); otherwise walk to `/`. */
  stopAt?: string;
}

/** Why a file was refused, for a log line; undefined when it was read. */
export interface LoadResult {
  keys: AuthorizedKey[];
  /** Set when the file exists but was refused (unsafe, not a regular file, too big). */
  refused?: string;
}

/** An open authorized_keys file, as the loader uses it (node's FileHandle is one). */
export interface KeysFileHandle {
  stat(): Promise<{ uid: number; mode: number; size: number; isFile(): boolean }>;
  read(
    buf: Buffer,
    offset: number,
    length: number,
    position: number,
  ): Promise<{ bytesRead: number }>;
  close(): Promise<void>;
}

/**
 * The file system calls the loader makes: by default the server's own (`node:fs/promises`);
 * keys-as-user.ts answers them from what the account itself could see.
 */
export interface KeysFileSystem {
  open(file: string, flags: number): Promise<KeysFileHandle>;
  realpath(p: string): Promise<string>;
  stat(p: string): Promise<{ uid: number; mode: number }>;
}

const SERVER_FS: KeysFileSystem = { open, realpath, stat };

function ownerOk(uid: number, owners: number[]): boolean {
  return uid === 0 || owners.includes(uid);
}

async function checkDirectories(
  file: string,
  policy: OwnershipPolicy,
  io: KeysFileSystem,
): Promise<string | undefined> {
  let dir = await io.realpath(path.dirname(file));
  const stopAt = policy.stopAt
    ? await io.realpath(policy.stopAt).catch(() => undefined)
    : undefined;
  for (let depth = 0; depth < 64; depth++) {
    const st = await io.stat(dir);
    if (!ownerOk(st.uid, policy.owners)) return `bad ownership of directory ${dir}`;
    if (st.mode & 0o022) return `bad modes for directory ${dir} (writable by group or others)`;
    if (dir === stopAt || dir === '/') return undefined;
    dir = path.dirname(dir);
  }
  return `directory path of ${file} too deep`;
}

/**
 * Reads an authorized_keys file with sshd's StrictModes checks, never blocking: it is opened
 * with O_NOFOLLOW|O_NONBLOCK (a symlink is refused, a FIFO opens at once), then must be a regular
 * file of at most MAX_AUTHORIZED_KEYS_BYTES, owned by root or one of `policy.owners`, not
 * writable by group or others; each directory up to `policy.stopAt` (or `/`) likewise. A missing
 * file gives no keys and no `refused`; any other problem gives no keys and the reason. `io` is
 * whose view of the file system is checked (the server's own by default).
 */
export async function loadAuthorizedKeys(
  file: string,
  policy: OwnershipPolicy,
  warn: WarnFn = () => {},
  io: KeysFileSystem = SERVER_FS,
): Promise<LoadResult> {
  let fh;
  try {
    fh = await io.open(file, fsc.O_RDONLY | fsc.O_NOFOLLOW | fsc.O_NONBLOCK | fsc.O_NOCTTY);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return { keys: [] };
    if (code === 'ELOOP') return { keys: [], refused: `${file} is a symbolic link` };
    return { keys: [], refused: `cannot open ${file}: ${code ?? String(err)}` };
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) return { keys: [], refused: `${file} is not a regular file` };
    if (!ownerOk(st.uid, policy.owners)) return { keys: [], refused: `bad ownership of ${file}` };
    if (st.mode & 0o022)
      return { keys: [], refused: `bad modes for ${file} (writable by group or others)` };
    if (st.size > MAX_AUTHORIZED_KEYS_BYTES)
      return { keys: [], refused: `${file} is larger than ${MAX_AUTHORIZED_KEYS_BYTES} bytes` };
    const dirProblem = await checkDirectories(file, policy, io);
    if (dirProblem) return { keys: [], refused: dirProblem };
    // Read at most one byte past the limit, so a file growing under us is still bounded.
    const buf = Buffer.alloc(Math.min(st.size, MAX_AUTHORIZED_KEYS_BYTES) + 1);
    let n = 0;
    while (n < buf.length) {
      const { bytesRead } = await fh.read(buf, n, buf.length - n, n);
      if (bytesRead === 0) break;
      n += bytesRead;
    }
    if (n > MAX_AUTHORIZED_KEYS_BYTES)
      return { keys: [], refused: `${file} is larger than ${MAX_AUTHORIZED_KEYS_BYTES} bytes` };
    return { keys: parseAuthorizedKeys(buf.subarray(0, n).toString('utf8'), warn, file) };
  } catch (err) {
    return { keys: [], refused: `cannot read ${file}: ${(err as Error).message}` };
  } finally {
    await fh.close().catch(() => {});
  }
}
