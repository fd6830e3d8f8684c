/**
 * Whether a recording is still being written: some process on this machine holds the file open
 * for writing. A recorder that is running keeps its file open until the session's `x` is written;
 * a recorder that died (killed, or the machine crashed) holds nothing. Read from Linux's /proc:
 * each process's descriptors (`/proc/PID/fd`, links to the open files) and their open flags
 * (`/proc/PID/fdinfo/N`). Only processes this account may inspect are seen, which covers the
 * recorder whenever the directory is readable at all (it is 0700, the recorder's own).
 *
 * The scan is written once, as a generator that asks for the three reads it needs; a blocking
 * driver (`sshcast ls`, `validate`) and an asynchronous one (`sshcast web`) answer them.
 */
import fs from 'node:fs';
import path from 'node:path';

type Read =
  | { op: 'readdir'; path: string }
  | { op: 'readlink'; path: string }
  | { op: 'readFile'; path: string };

/** What a read gives back; undefined when it failed (a process that exited, or not ours). */
type Answer = string[] | string | undefined;

type Scan = Generator<Read, Set<string>, Answer>;

// O_ACCMODE of the `flags:` line of fdinfo (octal): 1 is O_WRONLY, 2 is O_RDWR.
const ACCESS_MODE = 0o3;

function* scan(wanted: Map<string, string[]>): Scan {
  const found = new Set<string>();
  const seen = new Set<string>();
  if (wanted.size === 0) return found;
  const pids = yield { op: 'readdir', path: '/proc' };
  if (!Array.isArray(pids)) return found;
  for (const pid of pids) {
    if (!/^[0-9]+$/.test(pid)) continue;
    const fds = yield { op: 'readdir', path: `/proc/${pid}/fd` };
    if (!Array.isArray(fds)) continue;
    for (const fd of fds) {
      const target = yield { op: 'readlink', path: `/proc/${pid}/fd/${fd}` };
      if (typeof target !== 'string' || seen.has(target)) continue;
      const names = wanted.get(target);
      if (names === undefined) continue;
      const info = yield { op: 'readFile', path: `/proc/${pid}/fdinfo/${fd}` };
      const flags = typeof info === 'string' ? /^flags:\s*([0-7]+)$/m.exec(info)?.[1] : undefined;
      if (flags === undefined || (parseInt(flags, 8) & ACCESS_MODE) === 0) continue;
      seen.add(target);
      for (const name of names) found.add(name);
      if (seen.size === wanted.size) return found;
    }
  }
  return found;
}

/**
 * The path the kernel shows in /proc for `file`: its directory resolved (symlinks followed), its
 * own name kept as it is (a recording is never a symlink).
 */
function kernelPath(file: string, dirs: Map<string, string | undefined>): string | undefined {
  const dir = path.dirname(path.resolve(file));
  if (!dirs.has(dir)) {
    let real: string | undefined;
    try {
      real = fs.realpathSync(dir);
    } catch {
      real = undefined;
    }
    dirs.set(dir, real);
  }
  const real = dirs.get(dir);
  return real === undefined ? undefined : path.join(real, path.basename(file));
}

/** The files by the path the kernel shows for them (several names may reach one file). */
function wantedPaths(files: readonly string[]): Map<string, string[]> {
  const dirs = new Map<string, string | undefined>();
  const wanted = new Map<string, string[]>();
  for (const file of files) {
    const p = kernelPath(file, dirs);
    if (p === undefined) continue;
    const names = wanted.get(p);
    if (names) names.push(file);
    else wanted.set(p, [file]);
  }
  return wanted;
}

/**
 * Of `files`, those that some process holds open for writing (the strings given, unchanged):
 * the recordings still being written. One pass over /proc, however many files; empty where there
 * is no /proc.
 */
export function filesBeingWritten(files: readonly string[]): Set<string> {
  const steps = scan(wantedPaths(files));
  for (let step = steps.next(); ;) {
    if (step.done) return step.value;
    step = steps.next(answerSync(step.value));
  }
}

/** {@link filesBeingWritten} without blocking the event loop, for a server. */
export async function filesBeingWrittenAsync(files: readonly string[]): Promise<Set<string>> {
  const steps = scan(wantedPaths(files));
  for (let step = steps.next(); ;) {
    if (step.done) return step.value;
    step = steps.next(await answer(step.value));
  }
}

/** Whether some process holds `file` open for writing. */
export function isBeingWritten(file: string): boolean {
  return filesBeingWritten([file]).size > 0;
}

function answerSync(read: Read): Answer {
  try {
    if (read.op === 'readdir') return fs.readdirSync(read.path);
    if (read.op === 'readlink') return fs.readlinkSync(read.path);
    return fs.readFileSync(read.path, 'utf8');
  } catch {
    return undefined;
  }
}

async function answer(read: Read): Promise<Answer> {
  try {
    if (read.op === 'readdir') return await fs.promises.readdir(read.path);
    if (read.op === 'readlink') return await fs.promises.readlink(read.path);
    return await fs.promises.readFile(read.path, 'utf8');
  } catch {
    return undefined;
  }
}
