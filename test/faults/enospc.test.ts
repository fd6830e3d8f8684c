/**
 * Disk full and failing storage through the injectable file layer (Recorder's `fileOps`): the
 * failure policy is followed, the host gets its event, and the file on disk stays valid. Every
 * test first proves that its fault fired.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Recorder, type RecorderOptions } from '../../src/recording/recorder.js';
import { ManualClock } from '../../src/clock.js';
import { parseCast, type Cast } from '../../src/asciicast/reader.js';
import { RecordingStartError, SinkWriteError } from '../../src/errors.js';
import type { Recording } from '../../src/recording/recording.js';
import { faultyOps, type FaultPlan } from './faulty-ops.js';

let dir: string;
let logs: string[];
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sshcast-faults-'));
  logs = [];
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

function recordingsIn(d: string): string[] {
  return fs.readdirSync(d).filter((f) => f.endsWith('.cast'));
}

/** A recorder into `dir` whose file layer fails as `plan` says, on a manual clock, logging to `logs`. */
function faultyRecorder(plan: FaultPlan, options: RecorderOptions = {}) {
  const { ops, calls } = faultyOps(plan);
  const clock = new ManualClock();
  const recorder = new Recorder({
    enabled: true,
    dir,
    fileOps: ops,
    clock,
    log: (m) => logs.push(m),
    ...options,
  });
  return { recorder, calls, clock };
}

/** Feeds `n` output chunks, waiting for 'drain' when asked, as a session does. */
async function feed(rec: Recording, n: number, clock: ManualClock): Promise<void> {
  for (let i = 0; i < n; i++) {
    clock.advance(0.01);
    if (!rec.output(Buffer.from(`line ${i} \x1b[32mok\x1b[0m é🙂\r\n`))) {
      await once(rec, 'drain');
    }
  }
}

/** Parses the file, and checks it ends on a complete line. */
function assertValid(file: string): Cast {
  const text = fs.readFileSync(file, 'utf8');
  expect(text.endsWith('\n')).toBe(true);
  for (const line of text.split('\n').slice(0, -1)) expect(() => JSON.parse(line)).not.toThrow();
  const cast = parseCast(text);
  expect(cast.truncated).toBeUndefined();
  return cast;
}

describe('disk full mid-session (ENOSPC from writev)', () => {
  it('continue policy: write-failure and failure events, session goes on unrecorded, file valid up to the last line', async () => {
    const { recorder, calls, clock } = faultyRecorder({ failWritevAt: 4 });
    const writeFailures: SinkWriteError[] = [];
    recorder.on('write-failure', (err) => writeFailures.push(err));
    const rec = recorder.start({ cols: 80, rows: 24, localUser: 'alice' });
    const failures: [SinkWriteError, string][] = [];
    rec.on('failure', (err, action) => failures.push([err, action]));
    const failed = once(rec, 'failure');
    // Output in separate turns so each batch is its own writev, until the fault fires (a loaded
    // machine batches more lines per writev, so the count of turns is not fixed).
    for (let i = 0; i < 2000 && failures.length === 0; i++) {
      await feed(rec, 3, clock);
      await new Promise((r) => setTimeout(r, 1));
    }
    await failed;
    // The fault fired: the 4th writev failed with ENOSPC, and the sink cut the file back.
    expect(calls.faults).toBeGreaterThanOrEqual(1);
    expect(calls.writev).toBeGreaterThanOrEqual(4);
    expect(calls.ftruncate).toHaveLength(1);
    expect(failures).toHaveLength(1);
    expect(failures[0]![0]).toBeInstanceOf(SinkWriteError);
    expect(failures[0]![0].message).toMatch(/ENOSPC/);
    expect(failures[0]![1]).toBe('continue');
    expect(writeFailures).toHaveLength(1);
    expect(logs.join('\n')).toMatch(/ENOSPC.*session continues unrecorded/);
    // The session goes on: output is accepted (never blocks), nothing more is written.
    expect(rec.active).toBe(false);
    const writevBefore = calls.writev;
    for (let i = 0; i < 100; i++) expect(rec.output(Buffer.from('more output\r\n'))).toBe(true);
    await rec.finish(0);
    expect(calls.writev).toBe(writevBefore);
    expect(calls.close).toBe(1);
    const [file] = recordingsIn(dir);
    const cast = assertValid(path.join(dir, file!));
    expect(fs.statSync(path.join(dir, file!)).size).toBe(calls.ftruncate[0]);
    expect(cast.events.length).toBeGreaterThan(0);
    expect(cast.events.every((e) => e.code === 'o')).toBe(true);
    await recorder.close();
  });

  it('a short write (part of a line on disk) then ENOSPC: the partial line is cut off', async () => {
    const { recorder, calls, clock } = faultyRecorder({ failWritevAt: 3, partialBytes: 17 });
    const rec = recorder.start({ cols: 80, rows: 24 });
    const failed = once(rec, 'failure');
    let done = false;
    void failed.then(() => (done = true));
    for (let i = 0; i < 2000 && !done; i++) {
      await feed(rec, 2, clock);
      await new Promise((r) => setTimeout(r, 1));
    }
    await failed;
    await rec.finish(0);
    // The fault fired: a short write of 17 bytes landed, then ENOSPC.
    expect(calls.faults).toBe(2);
    const [file] = recordingsIn(dir);
    const full = path.join(dir, file!);
    const goodOffset = calls.ftruncate[0]!;
    expect(fs.statSync(full).size).toBe(goodOffset);
    assertValid(full);
    await recorder.close();
  });

  it('terminate policy: the failure carries the terminate action for the session to end', async () => {
    const { recorder, calls, clock } = faultyRecorder(
      { failWritevAt: 2 },
      { onWriteFailure: 'terminate' },
    );
    const rec = recorder.start({ cols: 80, rows: 24 });
    const failed = once(rec, 'failure') as Promise<[SinkWriteError, string]>;
    let done = false;
    void failed.then(() => (done = true));
    // Output in separate turns until the second writev (lines wait up to 2 ms for others, so
    // one turn's lines, the header's included, may all go in the first).
    for (let i = 0; i < 2000 && !done; i++) {
      await feed(rec, 1, clock);
      await new Promise((r) => setTimeout(r, 5));
    }
    const [err, action] = await failed;
    expect(calls.faults).toBeGreaterThanOrEqual(1);
    expect(err.code).toBe('ERR_SINK_WRITE');
    expect(action).toBe('terminate');
    expect(logs.join('\n')).toMatch(/ending session/);
    await rec.finish(0);
    assertValid(path.join(dir, recordingsIn(dir)[0]!));
    await recorder.close();
  });

  it('EIO from fsync at close is reported as a failure, and the file is still complete', async () => {
    const { recorder, calls, clock } = faultyRecorder({ fsyncCode: 'EIO' }, { fsync: true });
    const rec = recorder.start({ cols: 80, rows: 24 });
    const failures: SinkWriteError[] = [];
    rec.on('failure', (err) => failures.push(err));
    await feed(rec, 5, clock);
    await rec.finish(0);
    expect(calls.fsync).toBe(1);
    expect(calls.faults).toBe(1);
    expect(failures).toHaveLength(1);
    expect(failures[0]!.message).toMatch(/EIO/);
    const cast = assertValid(path.join(dir, recordingsIn(dir)[0]!));
    expect(cast.events.at(-1)).toMatchObject({ code: 'x', data: '0' });
    await recorder.close();
  });
});

describe('recording cannot start', () => {
  function enospc(): NodeJS.ErrnoException {
    const err: NodeJS.ErrnoException = new Error('ENOSPC: no space left on device, open');
    err.code = 'ENOSPC';
    return err;
  }

  it('refuse (default): RecordingStartError is thrown, start-failure(refused) emitted, the reason logged', () => {
    let attempts = 0;
    const recorder = new Recorder({
      enabled: true,
      sink: () => {
        attempts++;
        throw enospc();
      },
      log: (m) => logs.push(m),
    });
    const events: [RecordingStartError, boolean][] = [];
    recorder.on('start-failure', (err, refused) => events.push([err, refused]));
    expect(() => recorder.start({ cols: 80, rows: 24 })).toThrow(RecordingStartError);
    expect(attempts).toBe(1);
    expect(events).toHaveLength(1);
    expect(events[0]![1]).toBe(true);
    expect(events[0]![0].message).toMatch(/ENOSPC/);
    expect(logs.join('\n')).toMatch(/ENOSPC.*session refused/);
  });

  it('continue: the session gets an inactive recording that accepts everything and writes nothing', async () => {
    let attempts = 0;
    const recorder = new Recorder({
      enabled: true,
      onStartFailure: 'continue',
      sink: () => {
        attempts++;
        throw enospc();
      },
      log: (m) => logs.push(m),
    });
    const events: boolean[] = [];
    recorder.on('start-failure', (_err, refused) => events.push(refused));
    const rec = recorder.start({ cols: 80, rows: 24 });
    expect(attempts).toBe(1);
    expect(events).toEqual([false]);
    expect(rec.active).toBe(false);
    expect(rec.output(Buffer.from('x'))).toBe(true);
    await rec.finish(0);
    expect(logs.join('\n')).toMatch(/session not recorded/);
  });

  it('ENOSPC writing the header: refused, start-failure emitted, the empty file removed', () => {
    const { ops, calls } = faultyOps({ headerCode: 'ENOSPC' });
    const recorder = new Recorder({ enabled: true, dir, fileOps: ops, log: (m) => logs.push(m) });
    const events: [RecordingStartError, boolean][] = [];
    recorder.on('start-failure', (err, refused) => events.push([err, refused]));
    expect(() => recorder.start({ cols: 80, rows: 24 })).toThrow(RecordingStartError);
    expect(calls.writeSync).toBe(1);
    expect(calls.faults).toBe(1);
    expect(events).toHaveLength(1);
    expect(events[0]![0].message).toMatch(/ENOSPC/);
    expect(events[0]![1]).toBe(true);
    expect(recordingsIn(dir)).toEqual([]);
  });

  it('the directory cannot be created (a file is in the way): refused with a clear reason', () => {
    const blocker = path.join(dir, 'not-a-dir');
    fs.writeFileSync(blocker, '');
    const recorder = new Recorder({
      enabled: true,
      dir: path.join(blocker, 'sessions'),
      log: (m) => logs.push(m),
    });
    const events: boolean[] = [];
    recorder.on('start-failure', (_err, refused) => events.push(refused));
    expect(() => recorder.start({})).toThrow(/cannot create recording directory .*ENOTDIR|EEXIST/);
    expect(events).toEqual([true]);
  });
});
