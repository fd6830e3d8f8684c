/**
 * Real small file systems for fault tests: a tmpfs of a given size mounted on a fresh directory.
 * Needs root (CAP_SYS_ADMIN). `mountProblem()` probes once; tests pass it to `needs()`
 * (test/helpers/needs.ts), so a machine that cannot mount skips them visibly, and fails them
 * under CI.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

let probed: string | undefined | null = null;

/** Undefined when tmpfs can be mounted here, else why not. */
export function mountProblem(): string | undefined {
  if (probed !== null) return probed;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sshcast-probe-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', dir], { stdio: 'pipe' });
    execFileSync('umount', [dir], { stdio: 'pipe' });
    probed = undefined;
  } catch (err) {
    probed = `cannot mount tmpfs (needs root): ${String((err as Error).message).split('\n')[0]}`;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return probed;
}

/** A mounted tmpfs; `unmount()` removes it and its mount point. */
export interface Tmpfs {
  dir: string;
  unmount(): void;
}

/** Mounts a tmpfs of `size` (as mount's size=, e.g. '256k') with extra options. */
export function mountTmpfs(size: string, extra: string[] = []): Tmpfs {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sshcast-tmpfs-'));
  execFileSync('mount', [
    '-t',
    'tmpfs',
    '-o',
    [`size=${size}`, 'mode=0700', ...extra].join(','),
    'tmpfs',
    dir,
  ]);
  return {
    dir,
    unmount() {
      try {
        execFileSync('umount', ['-l', dir], { stdio: 'pipe' });
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

/** Fills the file system holding `dir` with one file until ENOSPC; returns the bytes written. */
export function fill(dir: string): number {
  const fd = fs.openSync(path.join(dir, 'filler'), 'w');
  const block = Buffer.alloc(4096, 0x2e);
  let total = 0;
  try {
    for (;;) total += fs.writeSync(fd, block);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  } finally {
    fs.closeSync(fd);
  }
  return total;
}

/** Free bytes on the file system holding `dir`. */
export function freeBytes(dir: string): number {
  const st = fs.statfsSync(dir);
  return st.bavail * st.bsize;
}
