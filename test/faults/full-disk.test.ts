/**
 * A real small file system (a 256 KiB tmpfs), filled for real: at start with and without a
 * minimum of free space, mid-recording, against the size cap, and remounted read-only. Each test
 * first shows the disk really is full (statfs, or ENOSPC on a plain write).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { once } from 'node:events';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Recorder } from '../../src/recording/recorder.js';
import { parseCast } from '../../src/asciicast/reader.js';
import { SIZE_LIMIT_MARKER } from '../../src/recording/writer.js';
import { RecordingStartError, type SinkWriteError } from '../../src/errors.js';
import { fill, freeBytes, mountProblem, mountTmpfs, type Tmpfs } from './tmpfs.js';
import { needs } from '../helpers/needs.js';

const problem = mountProblem();

let fsys: Tmpfs | undefined;
let logs: string[];
beforeEach(() => {
  logs = [];
  fsys = problem ? undefined : mountTmpfs('256k');
});
afterEach(() => {
  fsys?.unmount();
  fsys = undefined;
});

function casts(dir: string): string[] {
  return fs.readdirSync(dir).filter((f) => f.endsWith('.cast'));
}

function recorder(extra: ConstructorParameters<typeof Recorder>[0] = {}): Recorder {
  return new Recorder({
    enabled: true,
    dir: path.join(fsys!.dir, 'sessions'),
    log: (m) => logs.push(m),
    ...extra,
  });
}

describe('a full disk at start', () => {
  it('with minFreeBytes: the session is refused before any file is made', (ctx) => {
    needs(ctx, problem);
    const r = recorder({ minFreeBytes: 64 * 1024 });
    r.check();
    const filled = fill(fsys!.dir);
    expect(filled).toBeGreaterThan(200 * 1024);
    expect(freeBytes(fsys!.dir)).toBeLessThan(64 * 1024);
    const refusals: boolean[] = [];
    r.on('start-failure', (_e, refused) => refusals.push(refused));
    expect(() => r.start({ cols: 80, rows: 24 })).toThrow(
      /bytes free .* below the minimum of 65536/,
    );
    expect(refusals).toEqual([true]);
    expect(casts(r.dir)).toEqual([]);
    expect(logs.join('\n')).toMatch(/session refused/);
  });

  it('with minFreeBytes and the continue policy: an unrecorded session', async (ctx) => {
    needs(ctx, problem);
    const r = recorder({ minFreeBytes: 64 * 1024, onStartFailure: 'continue' });
    r.check();
    fill(fsys!.dir);
    expect(freeBytes(fsys!.dir)).toBeLessThan(64 * 1024);
    const rec = r.start({ cols: 80, rows: 24 });
    expect(rec.active).toBe(false);
    expect(rec.output(Buffer.from('hello'))).toBe(true);
    await rec.finish(0);
    expect(casts(r.dir)).toEqual([]);
  });

  it('without minFreeBytes: the header cannot be written, so the recording has not started (refused, no file left)', (ctx) => {
    needs(ctx, problem);
    const r = recorder();
    r.check();
    fill(fsys!.dir);
    // The fault: a plain write to this file system fails with ENOSPC (creating a file still works).
    expect(() => fs.writeFileSync(path.join(fsys!.dir, 'probe'), 'x')).toThrow(/ENOSPC/);
    fs.rmSync(path.join(fsys!.dir, 'probe'));
    const errors: RecordingStartError[] = [];
    r.on('start-failure', (e) => errors.push(e));
    expect(() => r.start({ cols: 80, rows: 24, localUser: 'alice' })).toThrow(RecordingStartError);
    expect(errors).toHaveLength(1);
    expect(errors[0]!.message).toMatch(/ENOSPC/);
    expect(casts(r.dir)).toEqual([]);
  });
});

describe('the disk fills mid-recording', () => {
  it('write-failure, the file parses up to its last complete line, the session goes on; after space is freed new recordings work', async (ctx) => {
    needs(ctx, problem);
    const r = recorder();
    const failures: SinkWriteError[] = [];
    r.on('write-failure', (e) => failures.push(e));
    const rec = r.start({ cols: 80, rows: 24 });
    const failed = once(rec, 'failure');
    let failedYet = false;
    void failed.then(() => (failedYet = true));
    const chunk = Buffer.from(`${'ünïcödé output \x1b[1m'.repeat(100)}\r\n`);
    let sent = 0;
    // At most 1 MiB into a 256 KiB file system.
    while (!failedYet && sent < 1024 * 1024) {
      if (!rec.output(chunk)) await Promise.race([once(rec, 'drain'), failed]);
      sent += chunk.length;
      await new Promise((res) => setImmediate(res));
    }
    await failed;
    expect(failures).toHaveLength(1);
    expect(failures[0]!.message).toMatch(/ENOSPC/);
    expect(rec.active).toBe(false);
    expect(rec.output(chunk)).toBe(true);
    await rec.finish(0);
    const [name] = casts(r.dir);
    const text = fs.readFileSync(path.join(r.dir, name!), 'utf8');
    expect(text.endsWith('\n')).toBe(true);
    const cast = parseCast(text);
    expect(cast.truncated).toBeUndefined();
    expect(cast.events.length).toBeGreaterThan(10);
    expect(cast.events.every((e) => e.code === 'o')).toBe(true);
    // Free the space: the next session records again through the same held directory.
    fs.rmSync(path.join(r.dir, name!));
    const next = r.start({ cols: 80, rows: 24 });
    expect(next.active).toBe(true);
    next.output(Buffer.from('after\r\n'));
    await next.finish(0);
    expect(parseCast(fs.readFileSync(next.file!, 'utf8')).events.map((e) => e.code)).toEqual([
      'o',
      'x',
    ]);
    await r.close();
  });

  it('a 100 KiB size cap on the same disk: 1 MiB of output ends in the marker and x, never ENOSPC', async (ctx) => {
    needs(ctx, problem);
    const r = recorder({ maxBytes: 100 * 1024 });
    const failures: SinkWriteError[] = [];
    r.on('write-failure', (e) => failures.push(e));
    const rec = r.start({ cols: 80, rows: 24 });
    const chunk = Buffer.from(`${'x'.repeat(1000)}\r\n`);
    let accepted = 0;
    for (let sent = 0; sent < 1024 * 1024; sent += chunk.length) {
      if (!rec.output(chunk)) await once(rec, 'drain');
      accepted += chunk.length;
    }
    await rec.finish(0);
    expect(accepted).toBeGreaterThanOrEqual(1024 * 1024);
    expect(failures).toEqual([]);
    const size = fs.statSync(rec.file!).size;
    expect(size).toBeLessThanOrEqual(100 * 1024 + 200);
    const cast = parseCast(fs.readFileSync(rec.file!, 'utf8'));
    expect(cast.events.slice(-2).map((e) => [e.code, e.data])).toEqual([
      ['m', SIZE_LIMIT_MARKER],
      ['x', '0'],
    ]);
    await r.close();
  });
});

describe('the file system is remounted read-only while the server runs', () => {
  it('new recordings are refused (EROFS) and start again once it is writable', async (ctx) => {
    needs(ctx, problem);
    const r = recorder();
    r.check();
    execFileSync('mount', ['-o', 'remount,ro', fsys!.dir]);
    // The fault: the file system really is read-only, even for root.
    expect(() => fs.writeFileSync(path.join(fsys!.dir, 'probe'), 'x')).toThrow(/EROFS/);
    const refusals: RecordingStartError[] = [];
    r.on('start-failure', (e) => refusals.push(e));
    expect(() => r.start({ cols: 80, rows: 24 })).toThrow(RecordingStartError);
    expect(refusals[0]!.message).toMatch(/EROFS/);
    execFileSync('mount', ['-o', 'remount,rw', fsys!.dir]);
    const rec = r.start({ cols: 80, rows: 24 });
    expect(rec.active).toBe(true);
    await rec.finish(0);
    expect(casts(r.dir)).toHaveLength(1);
    await r.close();
  });
});
