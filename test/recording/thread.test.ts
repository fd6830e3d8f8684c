/**
 * The recording thread (src/recording/thread/): a file recording is encoded, sealed and written
 * off the server's thread, and its file is the very file the server's thread would have written.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Recorder, type RecorderOptions } from '../../src/recording/recorder.js';
import { ManualClock } from '../../src/clock.js';
import { parseCast } from '../../src/asciicast/reader.js';
import {
  HIGH_WATER,
  RECORDING_THREAD_SCRIPT,
  endRecordingThreadForTests,
} from '../../src/recording/thread/writer.js';
import type { Recording } from '../../src/recording/recording.js';
import { initSealing } from '../../src/sealing/setup.js';
import { verifyDirectory } from '../../src/sealing/verify-directory.js';

let base: string;
beforeEach(() => {
  base = fs.mkdtempSync(path.join(os.tmpdir(), 'sshcast-thread-'));
});
afterEach(() => fs.rmSync(base, { recursive: true, force: true }));

const quiet = () => {};

function only(dir: string): string {
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.cast'));
  expect(files).toHaveLength(1);
  return path.join(dir, files[0]!);
}

// The same session, event for event, on a recorder with or without the thread.
async function session(thread: boolean, feed: (rec: Recording, clock: ManualClock) => void) {
  const clock = new ManualClock(1_700_000_000_000);
  const dir = path.join(base, thread ? 'thread' : 'inline');
  const r = new Recorder({ enabled: true, dir, clock, log: quiet, thread, recordInput: true });
  const rec = r.start({ cols: 100, rows: 30, term: 'xterm', localUser: 'alice' });
  expect(rec.threaded).toBe(thread);
  feed(rec, clock);
  await rec.finish(3);
  await r.close();
  return { file: only(dir), info: rec.info() };
}

describe('the recording thread', () => {
  it('writes byte for byte the file the server thread writes: UTF-8 split, escapes, every event kind', async () => {
    const smile = Buffer.from('😀 "quoted" \\ \x1b[1mbold\x1b[0m\r\n\t\x00');
    const big = Buffer.alloc(200_000, 0x62);
    const feed = (rec: Recording, clock: ManualClock) => {
      rec.output(smile.subarray(0, 2));
      clock.advance(0.25);
      rec.output(smile.subarray(2));
      rec.output(Buffer.from([0xff, 0xfe, 0x41]), 'stderr');
      rec.input('ls\r');
      rec.resize(120, 40);
      clock.advance(1.5);
      rec.marker('half "way"');
      for (let i = 0; i < 50; i++) rec.output(Buffer.from(`line ${i} é\r\n`));
      rec.output(big);
      rec.output('a string ✓');
      clock.advance(0.001);
    };
    const inline = await session(false, feed);
    const threaded = await session(true, feed);
    const bytes = fs.readFileSync(threaded.file);
    expect(bytes.equals(fs.readFileSync(inline.file))).toBe(true);
    expect(threaded.info).toMatchObject({ bytes: bytes.length, lines: inline.info.lines });
    const cast = parseCast(bytes.toString());
    expect(cast.events.map((e) => e.code).slice(0, 6)).toEqual(['o', 'o', 'i', 'r', 'm', 'o']);
    expect(cast.events.at(-1)).toMatchObject({ code: 'x', data: '3' });
    expect(fs.statSync(threaded.file).mode & 0o777).toBe(0o600);
  });

  it('says wait past its high-water mark while the thread is busy, then drains', async () => {
    const dir = path.join(base, 'bp');
    const r = new Recorder({ enabled: true, dir, log: quiet, thread: true });
    const rec = r.start({});
    const chunk = Buffer.alloc(4096, 0x63);
    let n = 0;
    // Without a turn of the event loop the thread cannot answer: output() must say wait.
    while (rec.output(chunk)) n++;
    expect(n * chunk.length).toBeGreaterThanOrEqual(HIGH_WATER - 2 * chunk.length);
    expect(n * chunk.length).toBeLessThan(HIGH_WATER + chunk.length);
    await new Promise<void>((resolve) => rec.once('drain', resolve));
    expect(rec.output(chunk)).toBe(true);
    await rec.finish(0);
    await r.close();
    const cast = parseCast(fs.readFileSync(only(dir), 'utf8'));
    const out = cast.events.filter((e) => e.code === 'o').map((e) => e.data);
    expect(out.join('')).toBe('c'.repeat((n + 2) * chunk.length));
  });

  it('cuts an account over its budget with an m event a little after the line that crossed it', async () => {
    const dir = path.join(base, 'budget');
    const cuts: string[] = [];
    const options: RecorderOptions = {
      enabled: true,
      dir,
      log: quiet,
      thread: true,
      accountBudget: { bytes: 64 * 1024, windowMs: 3_600_000 },
    };
    const r = new Recorder(options);
    r.on('cut', (_rec, reason) => cuts.push(reason));
    const rec = r.start({ localUser: 'mallory' });
    for (let i = 0; i < 400; i++) {
      rec.output(Buffer.alloc(1000, 0x61));
      if (i % 10 === 0) await new Promise((resolve) => setTimeout(resolve, 1));
    }
    await rec.finish(0);
    const label = "recording cut: this account's recording budget of 64 KiB per 1h is used up";
    expect(cuts).toEqual([label]);
    const cast = parseCast(fs.readFileSync(only(dir), 'utf8'));
    expect(cast.events.slice(-2)).toEqual([
      expect.objectContaining({ code: 'm', data: label }),
      expect.objectContaining({ code: 'x', data: '0' }),
    ]);
    const kept = cast.events.filter((e) => e.code === 'o').length;
    expect(kept).toBeGreaterThanOrEqual(64);
    expect(kept).toBeLessThan(200);
    expect(() => r.start({ localUser: 'mallory' })).toThrow(/used its recording budget/);
    await r.close();
  });

  it('seals a flood hashed on the thread (and its hashing thread) as verify reads the file', async () => {
    const dir = path.join(base, 'sealed');
    fs.mkdirSync(dir, { mode: 0o700 });
    const { key } = initSealing(dir, { interval: 3600, now: Math.floor(Date.now() / 1000) });
    const r = new Recorder({ enabled: true, dir, log: quiet, thread: true });
    const rec = r.start({ localUser: 'alice' });
    expect(rec.threaded).toBe(true);
    const chunk = Buffer.from('\x1b[1m€ x\r\n'.repeat(300));
    // Past the hashing thread's batch and the writer's high-water mark, waiting as told.
    for (let sent = 0; sent < 24 * 1024 * 1024; sent += chunk.length) {
      if (!rec.output(chunk)) await new Promise<void>((resolve) => rec.once('drain', resolve));
    }
    await rec.finish(0);
    await r.close();
    const lines = fs.readFileSync(rec.file!, 'utf8').split('\n').length - 1;
    const report = await verifyDirectory(dir, key);
    expect(report.recordings).toMatchObject([
      { finding: 'ok', detail: `sealed through line ${lines}` },
    ]);
    expect(report.exitCode).toBe(0);
  });

  it('a thread that cannot run (its script fails to load): later recordings are written on the server thread', async () => {
    const broken = path.join(base, 'broken.js');
    fs.writeFileSync(broken, 'throw new Error("this thread cannot start");\n');
    await endRecordingThreadForTests(broken);
    try {
      const clock = new ManualClock(1_700_000_000_000);
      const dir = path.join(base, 'fallback');
      const r = new Recorder({ enabled: true, dir, clock, log: quiet, thread: true });
      // The first threaded recording is lost with its thread (under the failure policy)...
      const first = r.start({ cols: 80, rows: 24 });
      expect(first.threaded).toBe(true);
      const failed = new Promise<void>((f) => first.once('failure', () => f()));
      first.output('lost with the thread\r\n');
      await failed;
      expect(first.active).toBe(false);
      await first.finish(0);
      // ...the next ones are written here, whole.
      const next = r.start({ cols: 80, rows: 24 });
      expect(next.threaded).toBe(false);
      next.output('written inline\r\n');
      await next.finish(0);
      await r.close();
      const texts = fs.readdirSync(dir).map((f) => fs.readFileSync(path.join(dir, f), 'utf8'));
      expect(texts.some((t) => t.includes('written inline') && t.includes('"x"'))).toBe(true);
    } finally {
      await endRecordingThreadForTests(RECORDING_THREAD_SCRIPT);
    }
  }, 60_000);
});
