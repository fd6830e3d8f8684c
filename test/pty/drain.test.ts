/**
 * The drain's sentinel never reaches the output, even when it comes out after the drain gave up
 * waiting (a machine too busy to read within the timeout).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Drain } from '../../src/pty/drain.js';
import { until } from '../helpers/e2e.js';

let dir: string | undefined;
afterEach(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

/** A FIFO opened for both reading and writing, standing in for the pty's slave side. */
function loop(): number {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sshcast-drain-'));
  const fifo = path.join(dir, 'slave');
  execFileSync('mkfifo', [fifo]);
  return fs.openSync(fifo, fs.constants.O_RDWR | fs.constants.O_NONBLOCK);
}

/** What the drain wrote through the "slave": its sentinel. */
async function sentinelOf(fd: number): Promise<Buffer> {
  return until(() => {
    const b = Buffer.alloc(256);
    try {
      const n = fs.readSync(fd, b);
      return n > 0 ? b.subarray(0, n) : undefined;
    } catch {
      return undefined; // EAGAIN: not written yet
    }
  }, 'the sentinel to be written');
}

/** A drain on a FIFO "slave", what it passes on, how often it ended, and its sentinel. */
async function startDrain() {
  const fd = loop();
  const out: Buffer[] = [];
  const calls = { done: 0 };
  const drain = new Drain(
    fd,
    (c) => out.push(Buffer.from(c)),
    () => calls.done++,
    60_000,
  );
  return { fd, out, calls, drain, sentinel: await sentinelOf(fd) };
}

describe('the drain', () => {
  it('takes the sentinel out of the output and passes the rest on, in order', async () => {
    const { fd, out, calls, drain, sentinel } = await startDrain();
    drain.take(Buffer.concat([Buffer.from('done'), sentinel.subarray(0, 5)]));
    drain.take(Buffer.concat([sentinel.subarray(5), Buffer.from('!')]));
    expect(Buffer.concat(out).toString()).toBe('done!');
    expect([calls.done, drain.seen]).toEqual([1, true]);
    fs.closeSync(fd);
  });

  it('a sentinel that comes after the timeout is still taken out, once', async () => {
    const { fd, out, calls, drain, sentinel } = await startDrain();
    drain.take(Buffer.from('done'));
    drain.end(); // the timeout: the drain gives up and lets the output end
    expect([calls.done, drain.seen]).toEqual([1, false]);
    // The sentinel comes out late, through the drain or past it (the pty's path after the end).
    drain.take(Buffer.concat([Buffer.from(' late '), sentinel, Buffer.from('tail')]));
    const later = Buffer.concat([Buffer.from('text that looks like it: '), sentinel]);
    out.push(drain.stripLate(later));
    expect(Buffer.concat(out).toString()).toBe(
      `done late tailtext that looks like it: ${sentinel}`,
    );
    expect(drain.seen).toBe(true);
    fs.closeSync(fd);
  });
});
