import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Recorder } from '../../src/recording/recorder.js';
import { ManualClock } from '../../src/clock.js';
import { MemorySink } from '../../src/recording/sink.js';
import { parseCast } from '../../src/asciicast/reader.js';
import { RecordingStartError, type SinkWriteError } from '../../src/errors.js';
import type { FileOps } from '../../src/recording/file-sink.js';

let base: string;
beforeEach(() => {
  base = fs.mkdtempSync(path.join(os.tmpdir(), 'sshcast-rec-'));
});
afterEach(() => fs.rmSync(base, { recursive: true, force: true }));

const quiet = () => {};

describe('Recorder', () => {
  it('is off unless TS_DEBUG_LOG_SSH says otherwise, and then records nothing', async () => {
    const saved = process.env.TS_DEBUG_LOG_SSH;
    delete process.env.TS_DEBUG_LOG_SSH;
    try {
      const r = new Recorder({ dir: path.join(base, 'off') });
      expect(r.enabled).toBe(false);
      const rec = r.start({ cols: 80, rows: 24 });
      expect(rec.active).toBe(false);
      expect(rec.output(Buffer.from('hello'))).toBe(true);
      await rec.finish(0);
      expect(fs.existsSync(path.join(base, 'off'))).toBe(false);
    } finally {
      if (saved !== undefined) process.env.TS_DEBUG_LOG_SSH = saved;
    }
  });

  it('throws a ConfigError for a bad TS_DEBUG_LOG_SSH', () => {
    const saved = process.env.TS_DEBUG_LOG_SSH;
    process.env.TS_DEBUG_LOG_SSH = 'yes';
    try {
      expect(() => new Recorder({ dir: base })).toThrow(/TS_DEBUG_LOG_SSH/);
    } finally {
      if (saved === undefined) delete process.env.TS_DEBUG_LOG_SSH;
      else process.env.TS_DEBUG_LOG_SSH = saved;
    }
  });

  it('writes one 0600 file per recording with the header and a streaming UTF-8 decode', async () => {
    const clock = new ManualClock(1_700_000_000_000);
    const dir = path.join(base, 'sessions');
    const r = new Recorder({ enabled: true, dir, clock, log: quiet });
    const rec = r.start({
      cols: 0,
      rows: 0,
      term: 'xterm',
      shell: '/bin/sh',
      localUser: 'alice',
      command: 'echo',
    });
    const smile = Buffer.from('😀');
    clock.advance(0.5);
    rec.output(smile.subarray(0, 2));
    rec.output(smile.subarray(2), 'stdout');
    rec.output(Buffer.from([0xe6, 0x97]), 'stderr');
    rec.output(Buffer.from([0xa5]), 'stderr');
    rec.input(Buffer.from('secret'));
    rec.resize(100, 40);
    expect(r.openRecordings.size).toBe(1);
    await rec.finish(0);
    expect(r.openRecordings.size).toBe(0);
    await r.close();
    const files = fs.readdirSync(dir);
    expect(files).toHaveLength(1);
    expect(files[0]).toMatch(/^ssh-session-\d+-[0-9a-f]+\.cast$/);
    const file = path.join(dir, files[0]!);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(rec.info()).toMatchObject({ file, startTime: 1_700_000_000_000, lines: 5 });
    expect(rec.info().bytes).toBe(fs.statSync(file).size);
    const cast = parseCast(fs.readFileSync(file, 'utf8'));
    expect(cast.header).toEqual({
      version: 2,
      width: 80,
      height: 24,
      timestamp: 1_700_000_000,
      command: 'echo',
      env: { TERM: 'xterm', SHELL: '/bin/sh' },
      localUser: 'alice',
    });
    expect(cast.events.map((e) => [e.code, e.data])).toEqual([
      ['o', '😀'],
      ['o', '日'],
      ['r', '100x40'],
      ['x', '0'],
    ]);
  });

  it('records input only when enabled', async () => {
    const sinks: MemorySink[] = [];
    const r = new Recorder({
      enabled: true,
      recordInput: true,
      sink: () => sinks[sinks.push(new MemorySink()) - 1]!,
    });
    const rec = r.start({});
    rec.input(Buffer.from('ls\r'));
    await rec.finish(0);
    expect(parseCast(sinks[0]!.text()).events.map((e) => e.code)).toEqual(['i', 'x']);
  });

  it('refuses the session by default when the recording cannot start', () => {
    const file = path.join(base, 'not-a-dir');
    fs.writeFileSync(file, '');
    const logs: string[] = [];
    const r = new Recorder({ enabled: true, dir: file, log: (m) => logs.push(m) });
    const failures: boolean[] = [];
    r.on('start-failure', (_e, refused) => failures.push(refused));
    expect(() => r.start({})).toThrow(RecordingStartError);
    expect(failures).toEqual([true]);
    expect(logs.join('\n')).toMatch(/session refused/);
  });

  it('continues unrecorded at start when the policy says so', () => {
    const file = path.join(base, 'not-a-dir');
    fs.writeFileSync(file, '');
    const r = new Recorder({ enabled: true, dir: file, onStartFailure: 'continue', log: quiet });
    const rec = r.start({});
    expect(rec.active).toBe(false);
  });

  it('refuses to start below the minimum of free space', () => {
    const r = new Recorder({
      enabled: true,
      dir: base,
      minFree: Number.MAX_SAFE_INTEGER,
      log: quiet,
    });
    expect(() => r.start({})).toThrow(/disk nearly full: .* free of .*, below the hard floor of/);
    expect(fs.readdirSync(base)).toEqual([]);
  });

  it('cuts an account over its budget with an m event, emits cut, and refuses its next start', async () => {
    const logs: string[] = [];
    const sinks: MemorySink[] = [];
    const r = new Recorder({
      enabled: true,
      sink: () => {
        sinks.push(new MemorySink());
        return sinks.at(-1)!;
      },
      accountBudget: { bytes: 4096, windowMs: 3_600_000 },
      log: (l) => logs.push(l),
    });
    const cuts: string[] = [];
    r.on('cut', (_rec, reason) => cuts.push(reason));
    const rec = r.start({ localUser: 'mallory' });
    for (let i = 0; i < 100; i++) rec.output(Buffer.alloc(100, 0x61));
    await rec.finish(0);
    const cast = parseCast(sinks[0]!.text());
    const label = "recording cut: this account's recording budget of 4.0 KiB per 1h is used up";
    expect(cast.events.slice(-2)).toEqual([
      expect.objectContaining({ code: 'm', data: label }),
      expect.objectContaining({ code: 'x', data: '0' }),
    ]);
    expect(cast.events.filter((e) => e.code === 'o').length).toBeLessThan(40);
    expect(cuts).toEqual([label]);
    expect(logs).toEqual([`sshcast: recording memory ${label.replace('recording ', '')}`]);
    expect(() => r.start({ localUser: 'mallory' })).toThrow(/used its recording budget/);
    expect(r.start({ localUser: 'alice' }).active).toBe(true);
  });

  it('check() proves files can be created and leaves nothing behind', () => {
    const dir = path.join(base, 'checked');
    new Recorder({ enabled: true, dir }).check();
    expect(fs.readdirSync(dir)).toEqual([]);
    const file = path.join(base, 'file');
    fs.writeFileSync(file, '');
    expect(() => new Recorder({ enabled: true, dir: file }).check()).toThrow(RecordingStartError);
  });

  it('emits a write failure mid-session with the policy action, and keeps the file valid', async () => {
    let fail = false;
    let injected = 0;
    const fileOps: FileOps = {
      writev: (fd, bufs, cb) => {
        if (!fail) return fs.writev(fd, bufs, (e, n) => cb(e, n));
        injected++;
        cb(Object.assign(new Error('EIO: i/o error'), { code: 'EIO' }), 0);
      },
      ftruncate: fs.ftruncate,
      fsync: fs.fsync,
      close: fs.close,
    };
    const r = new Recorder({
      enabled: true,
      dir: base,
      fileOps,
      onWriteFailure: 'terminate',
      log: quiet,
    });
    const seen: Array<[SinkWriteError, string]> = [];
    const rec = r.start({ localUser: 'bob' });
    rec.on('failure', (e, action) => seen.push([e, action]));
    const hostSaw: SinkWriteError[] = [];
    r.on('write-failure', (e) => hostSaw.push(e));
    rec.output('first');
    // Above the sink's high-water mark only if it queued: a batch written at once returns true.
    if (!rec.output('x'.repeat(300_000)))
      await new Promise<void>((res) => rec.once('drain', () => res()));
    fail = true;
    rec.output('second');
    await new Promise<void>((res) => (seen.length ? res() : rec.once('failure', () => res())));
    expect(injected).toBe(1);
    expect(seen[0]![1]).toBe('terminate');
    expect(hostSaw).toHaveLength(1);
    expect(rec.active).toBe(false);
    await rec.finish(0);
    const cast = parseCast(fs.readFileSync(rec.file!, 'utf8'));
    expect(cast.truncated).toBeUndefined();
    expect(cast.events.map((e) => e.data.slice(0, 5))).toEqual(['first', 'xxxxx']);
  });
});
