/**
 * The sealing process with an injected clock: every epoch gets its tick even when the process
 * comes back late (catch up, never skip); the key moves on monotonic time when the wall clock is
 * stepped back; one sealing process per directory; failed writes follow the failure path and the
 * key still moves; a failed key-state write stops sealing; the key state is overwritten in place;
 * init pauses the epochs until the first start; a ledger line cut short is removed at start.
 */
import fs from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { CastWriter } from '../../src/recording/writer.js';
import { SealingError, SealWriteError } from '../../src/errors.js';
import type { Clock } from '../../src/clock.js';
import { keyAt } from '../../src/sealing/key.js';
import { sealPaths } from '../../src/sealing/layout.js';
import { splitLines, splitMac } from '../../src/sealing/ledger.js';
import { Sealer } from '../../src/sealing/sealer.js';
import { initSealing } from '../../src/sealing/setup.js';
import { readState, writeState } from '../../src/sealing/state.js';
import type { SealFileOps } from '../../src/sealing/store.js';
import { verifyDirectory } from '../../src/sealing/verify-directory.js';
import { CountingSink, tempDir } from './helpers.js';

/** A clock whose wall time can be stepped either way, apart from its monotonic time. */
class SteppedClock implements Clock {
  us = 0;
  wallMs: number;
  constructor(wallSeconds: number) {
    this.wallMs = wallSeconds * 1000;
  }
  monotonic(): number {
    return this.us;
  }
  wall(): number {
    return this.wallMs;
  }
  /** Both clocks move forward. */
  advance(seconds: number): void {
    this.us += seconds * 1e6;
    this.wallMs += seconds * 1000;
  }
}

const T0 = 1_800_000_000;
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

function sealedDir(interval = 10): { dir: string; key: ReturnType<typeof initSealing>['key'] } {
  const dir = tempDir();
  dirs.push(dir);
  return { dir, key: initSealing(dir, { interval, now: T0 }).key };
}

function entries(dir: string): Record<string, unknown>[] {
  return splitLines(fs.readFileSync(sealPaths(dir).ledger)).lines.map(
    (l) => JSON.parse(splitMac(l).json.toString()) as Record<string, unknown>,
  );
}

/** A recording written through a CastWriter into a CountingSink, tracked by `sealer`. */
function record(sealer: Sealer, clock: Clock, name = 'ssh-session-1-a.cast') {
  const sink = new CountingSink();
  const rec = sealer.track(name, sink);
  const writer = new CastWriter(sink, { clock, onLine: rec.onLine });
  writer.start({ width: 80, height: 24 });
  rec.open();
  return { sink, rec, writer };
}

describe('Sealer', () => {
  it('catches up every epoch a late timer missed, with the seals in the first', async () => {
    const { dir, key } = sealedDir();
    const clock = new SteppedClock(T0);
    const sealer = Sealer.open(dir, { clock, timers: false, log: () => {} });
    sealer.start();
    const { rec, writer, sink } = record(sealer, clock);
    writer.output('one\r\n');
    await rec.hasher.drained();
    clock.advance(35); // the event loop was busy for three and a half intervals
    sealer.poll();
    const e = entries(dir);
    expect(e.map((x) => `${x.kind}@${x.epoch}`)).toEqual([
      'init@0',
      'start@0',
      'open@0',
      'seal@0',
      'tick@0',
      'tick@1',
      'tick@2',
    ]);
    expect(e.at(-1)!.time).toBe(T0 + 29);
    expect(readState(fs.openSync(sealPaths(dir).state, 'r'), 'state').epoch).toBe(3);
    writer.exit(0);
    await writer.close();
    await rec.close();
    await sealer.stop();
    fs.writeFileSync(`${dir}/ssh-session-1-a.cast`, sink.bytes());
    const report = await verifyDirectory(dir, key, { now: T0 + 40 });
    expect(report.ledger.gaps).toEqual([]);
    expect(report.recordings.map((r) => r.finding)).toEqual(['ok']);
    expect(report.exitCode).toBe(0);
  });

  it('moves the key on monotonic time when the wall clock is stepped back', async () => {
    const { dir, key } = sealedDir();
    const clock = new SteppedClock(T0 + 5);
    const sealer = Sealer.open(dir, { clock, timers: false, log: () => {} });
    sealer.start();
    clock.wallMs -= 3600_000; // an hour back
    const stateFd = fs.openSync(sealPaths(dir).state, 'r');
    for (let i = 1; i <= 3; i++) {
      clock.us += 10e6; // D seconds of monotonic time, the wall clock still an hour behind
      clock.wallMs += 10_000;
      sealer.poll();
      expect(readState(stateFd, 'state').epoch).toBe(i);
    }
    const { rec, writer, sink } = record(sealer, clock, 'ssh-session-2-b.cast');
    writer.exit(0);
    await writer.close();
    await rec.close();
    await sealer.stop();
    fs.closeSync(stateFd);
    fs.writeFileSync(`${dir}/ssh-session-2-b.cast`, sink.bytes());
    const e = entries(dir);
    // Times are clamped into their epochs, so they never go backwards.
    expect(e.map((x) => x.time)).toEqual([...e.map((x) => x.time as number)].sort((a, b) => a - b));
    const report = await verifyDirectory(dir, key, { now: T0 + 60 });
    expect(report.ledger.failure).toBeUndefined();
    expect(report.ledger.gaps).toEqual([]);
    // The header's timestamp is an hour before its open entry: what a forger would make.
    expect(report.recordings[0]!.finding).toBe('sealed-late');
    expect(report.exitCode).toBe(1);
  });

  it('allows one sealing process per directory', () => {
    const { dir } = sealedDir();
    const first = Sealer.open(dir, { timers: false, log: () => {} });
    expect(() => Sealer.open(dir, { log: () => {} })).toThrow(SealingError);
    expect(() => Sealer.open(dir, { log: () => {} })).toThrow(
      new RegExp(`being sealed by another process \\(pid ${process.pid}, server\\)`),
    );
    void first.stop();
  });

  it('keeps the key state in one file, overwritten in place, and moves it once more after stop', async () => {
    const { dir, key } = sealedDir();
    const clock = new SteppedClock(T0);
    const { ino } = fs.statSync(sealPaths(dir).state);
    const sealer = Sealer.open(dir, { clock, timers: false, log: () => {} });
    sealer.start();
    clock.advance(12);
    sealer.poll();
    await sealer.stop();
    const st = fs.statSync(sealPaths(dir).state);
    expect(st.ino).toBe(ino);
    expect(st.size).toBe(256);
    const state = readState(fs.openSync(sealPaths(dir).state, 'r'), 'state');
    expect(entries(dir).at(-1)).toMatchObject({ kind: 'stop', epoch: 1 });
    expect(state.epoch).toBe(2);
    expect(state.key.equals(keyAt(key.seed, 2))).toBe(true);
  });

  it('reports a failed ledger write, still moves the key, and seals again once writes work', async () => {
    const { dir, key } = sealedDir();
    const clock = new SteppedClock(T0);
    let failing = false;
    const ops: SealFileOps = {
      append: (fd, buf) => {
        if (failing)
          throw Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
        return fs.writeSync(fd, buf);
      },
      ftruncate: (fd, len) => fs.ftruncateSync(fd, len),
      fdatasync: (fd) => fs.fdatasyncSync(fd),
      writeState,
    };
    const sealer = Sealer.open(dir, { clock, timers: false, ops, log: () => {} });
    const failures: [Error, string[]][] = [];
    sealer.on('failure', (err, files) => failures.push([err, files]));
    sealer.start();
    const { rec, writer } = record(sealer, clock);
    writer.output('x\r\n');
    await rec.hasher.drained();
    clock.advance(10);
    sealer.poll();
    writer.output('y\r\n');
    await rec.hasher.drained();
    failing = true;
    clock.advance(10);
    sealer.poll();
    expect(failures).toHaveLength(1);
    expect(failures[0]![0]).toBeInstanceOf(SealWriteError);
    expect(failures[0]![0].message).toMatch(/ENOSPC/);
    expect(failures[0]![1]).toEqual(['ssh-session-1-a.cast']);
    // The seal and tick of epoch 1 are lost, but the key moved on regardless.
    expect(readState(fs.openSync(sealPaths(dir).state, 'r'), 'state').epoch).toBe(2);
    failing = false;
    clock.advance(10);
    sealer.poll();
    expect(
      entries(dir)
        .slice(3)
        .map((x) => `${x.kind}@${x.epoch}`),
    ).toEqual(['seal@0', 'tick@0', 'seal@2', 'tick@2']);
    await sealer.stop();
    const report = await verifyDirectory(dir, key, { now: T0 + 40 });
    expect(report.ledger.gaps).toEqual([{ from: 1, to: 1 }]);
    expect(report.exitCode).toBe(1);
  });
  it('reads the epochs from init to the first start as a pause, not a gap', async () => {
    const { dir, key } = sealedDir();
    const clock = new SteppedClock(T0 + 35); // started three and a half intervals after init
    const sealer = Sealer.open(dir, { clock, timers: false, log: () => {} });
    sealer.start();
    clock.advance(10);
    sealer.poll();
    await sealer.stop();
    expect(entries(dir).map((x) => `${x.kind}@${x.epoch}`)).toEqual([
      'init@0',
      'start@3',
      'tick@3',
      'stop@4',
    ]);
    const report = await verifyDirectory(dir, key, { now: T0 + 60 });
    expect(report.ledger.gaps).toEqual([]);
    expect(report.exitCode).toBe(0);
  });

  it('after quick restarts, a recording the ledger never saw that began after its last entry is not planted', async () => {
    // Each stop moves the key an epoch past the clock: a restart in the same interval writes
    // times clamped to the next epoch's start, ahead of the clock.
    const { dir, key } = sealedDir();
    const clock = new SteppedClock(T0 + 12);
    for (let i = 0; i < 3; i++) {
      const sealer = Sealer.open(dir, { clock, timers: false, log: () => {} });
      sealer.start();
      await sealer.stop();
      clock.advance(1);
    }
    expect(entries(dir).map((x) => `${x.kind}@${x.epoch}:${Number(x.time) - T0}`)).toEqual([
      'init@0:0',
      'start@1:12',
      'stop@1:12',
      'start@2:20',
      'stop@2:20',
      'start@3:30',
      'stop@3:30',
    ]);
    const header = (t: number) => `{"version":2,"width":80,"height":24,"timestamp":${t}}\n`;
    // Begun at T0 + 15, after every entry was written, though before the last one's time.
    fs.writeFileSync(`${dir}/after.cast`, header(T0 + 15), { mode: 0o600 });
    let report = await verifyDirectory(dir, key, { now: T0 + 16 });
    expect(report.recordings.map((r) => [r.file, r.finding, r.failed])).toEqual([
      ['after.cast', 'not-in-ledger', false],
    ]);
    expect(report.exitCode).toBe(0);
    // Begun before the first start, which no clamping moved: planted.
    fs.writeFileSync(`${dir}/planted.cast`, header(T0 + 5), { mode: 0o600 });
    report = await verifyDirectory(dir, key, { now: T0 + 16 });
    expect(report.recordings.find((r) => r.file === 'planted.cast')).toMatchObject({
      finding: 'not-in-ledger',
      failed: true,
    });
    expect(report.exitCode).toBe(1);
  });

  it('removes a ledger line cut short by a crash before it writes start', async () => {
    const { dir, key } = sealedDir();
    const ledger = sealPaths(dir).ledger;
    const whole = fs.readFileSync(ledger);
    fs.appendFileSync(ledger, '{"seq":1,"epoch":0,"time":18000'); // a crash mid-append
    expect((await verifyDirectory(dir, key, { now: T0 + 5 })).ledger.cutShort).toBe(true);
    const clock = new SteppedClock(T0 + 2);
    const sealer = Sealer.open(dir, { clock, timers: false, log: () => {} });
    sealer.start();
    await sealer.stop();
    const data = fs.readFileSync(ledger);
    expect(data.subarray(0, whole.length).equals(whole)).toBe(true);
    expect(data.toString()).not.toContain('"time":18000,');
    expect(entries(dir).map((x) => x.kind)).toEqual(['init', 'start', 'stop']);
    const report = await verifyDirectory(dir, key, { now: T0 + 5 });
    expect(report.ledger.cutShort).toBe(false);
    expect(report.ledger.failure).toBeUndefined();
    expect(report.exitCode).toBe(0);
  });

  it('stops sealing after a failed key-state write, never sealing with the old key again', async () => {
    const { dir } = sealedDir();
    const clock = new SteppedClock(T0);
    let failing = false;
    const ops: SealFileOps = {
      append: (fd, buf) => fs.writeSync(fd, buf),
      ftruncate: (fd, len) => fs.ftruncateSync(fd, len),
      fdatasync: (fd) => fs.fdatasyncSync(fd),
      writeState: (fd, state) => {
        if (failing) throw Object.assign(new Error('EIO: i/o error, write'), { code: 'EIO' });
        writeState(fd, state);
      },
    };
    const sealer = Sealer.open(dir, { clock, timers: false, ops, log: () => {} });
    const failures: Error[] = [];
    sealer.on('failure', (err) => failures.push(err));
    sealer.start();
    failing = true;
    clock.advance(10);
    sealer.poll();
    expect(failures).toHaveLength(1);
    expect(failures[0]).toBeInstanceOf(SealWriteError);
    expect(failures[0]!.message).toContain(sealPaths(dir).state);
    expect(failures[0]!.message).toMatch(/EIO/);
    const seen = entries(dir).length;
    failing = false; // even once writes work again: the key on disk may be the old one
    clock.advance(10);
    sealer.poll();
    expect(failures).toHaveLength(2);
    expect(failures[1]!.message).toMatch(/sealing stopped: cannot write the key state .*: EIO/);
    expect(entries(dir)).toHaveLength(seen);
    await sealer.stop();
  });
});
