import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Recorder, Recording } from '../../src/index.js';
import { loadCast, ManualClock, memoryRecorder } from '../../src/testing/index.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sshcast-memory-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('memoryRecorder', () => {
  it('records each session into its own MemorySink, same lines as a file', async () => {
    const clock = new ManualClock();
    const recorder = memoryRecorder({ clock });
    const a = recorder.start({ cols: 100, rows: 30, command: 'ls', localUser: 'ada' });
    const b = recorder.start({ localUser: 'bob' });
    clock.advance(0.5);
    a.output('one\r\n');
    b.marker('mark');
    clock.advance(1);
    await a.finish(0);
    expect(recorder.sinks).toHaveLength(2);
    expect(recorder.recordings).toEqual([a, b]);
    expect(recorder.sinkOf(a)).toBe(recorder.sinks[0]);
    expect(recorder.sinks[0]!.text()).toBe(
      '{"version":2,"width":100,"height":30,"timestamp":1700000000,"command":"ls","localUser":"ada"}\n' +
        '[0.5,"o","one\\r\\n"]\n[1.5,"x","0"]\n',
    );
    expect(recorder.sinks[0]!.closed).toBe(true);
    const [castA, castB] = recorder.casts();
    expect(castA!.exitCode).toBe(0);
    expect(castB!.markers).toEqual([{ time: 0.5, label: 'mark' }]);
    expect(castB!.header).toMatchObject({ width: 80, height: 24, localUser: 'bob' });
    expect(recorder.lastCast().header.localUser).toBe('bob');
    expect(loadCast(b).markers).toHaveLength(1);
  });

  it('waitForRecordings resolves once every started recording has finished', async () => {
    const recorder = memoryRecorder();
    const none = await recorder.waitForRecordings(1, { timeout: 20 }).catch((e: Error) => e);
    expect(none).toMatchObject({
      message: 'waitForRecordings(1): 0 started, 0 finished after 20 ms',
    });
    const a = recorder.start({ localUser: 'ada' });
    const waiting = recorder.waitForRecordings(1);
    let resolved = false;
    void waiting.then(() => (resolved = true));
    a.output('hi\r\n');
    await new Promise((r) => setImmediate(r));
    expect(resolved).toBe(false); // started, not finished
    void a.finish(3);
    const [cast] = await waiting;
    expect(cast!.exitCode).toBe(3);
    expect(cast!.output).toBe('hi\r\n');
  });

  it('is on whatever TS_DEBUG_LOG_SSH says', () => {
    const saved = process.env.TS_DEBUG_LOG_SSH;
    process.env.TS_DEBUG_LOG_SSH = '0';
    try {
      expect(memoryRecorder().start({}).active).toBe(true);
    } finally {
      if (saved === undefined) delete process.env.TS_DEBUG_LOG_SSH;
      else process.env.TS_DEBUG_LOG_SSH = saved;
    }
  });

  it('lastCast() says when nothing was recorded', () => {
    expect(() => memoryRecorder().lastCast()).toThrow('no recording has started');
  });
});

describe('loadCast of a Recording', () => {
  it('reads a file recording from its path', async () => {
    const recorder = new Recorder({ enabled: true, dir: path.join(tmp, 'rec'), log: () => {} });
    const rec = recorder.start({ localUser: 'ada' });
    rec.output('on disk\r\n');
    await rec.finish(2);
    const cast = loadCast(rec);
    expect(cast.source).toBe(rec.file);
    expect(cast.output).toBe('on disk\r\n');
    expect(cast.exitCode).toBe(2);
    await recorder.close();
  });

  it('says why an inactive recording cannot be read', () => {
    expect(() => loadCast(Recording.inactive())).toThrow('this Recording records nothing');
  });
});
