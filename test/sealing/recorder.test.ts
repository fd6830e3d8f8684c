/**
 * The Recorder seals file recordings in a directory set up for it: each gets `open` and `close`
 * entries; a write cut back by the file sink is sealed as it is in the file; a ledger write that
 * fails follows the Recorder's failure policy (a session refused at start; mid-session logged and
 * emitted, or ended).
 */
import fs from 'node:fs';
import path from 'node:path';
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { RecordingStartError, SealWriteError, type SinkWriteError } from '../../src/errors.js';
import { ManualClock } from '../../src/clock.js';
import { Recorder } from '../../src/recording/recorder.js';
import type { WriteFailurePolicy } from '../../src/recording/policy.js';
import { chainOf } from '../../src/sealing/chain.js';
import { initSealing } from '../../src/sealing/setup.js';
import { writeState } from '../../src/sealing/state.js';
import type { SealFileOps } from '../../src/sealing/store.js';
import { verifyDirectory } from '../../src/sealing/verify-directory.js';
import { faultyOps } from '../faults/faulty-ops.js';
import { castLines, ledgerEntries } from './attacker.js';
import { tempDir } from './helpers.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

function sealed(interval = 1) {
  const dir = tempDir();
  dirs.push(dir);
  const now = Math.floor(Date.now() / 1000);
  return { dir, key: initSealing(dir, { interval, now }).key, now };
}

/** Seal ops whose appends fail (ENOSPC) while `when(the bytes)` says so. */
function failingAppends(when: (buf: Buffer) => boolean): SealFileOps {
  return {
    append: (fd, buf) => {
      if (when(buf))
        throw Object.assign(new Error('ENOSPC: no space left on device, write'), {
          code: 'ENOSPC',
        });
      return fs.writeSync(fd, buf);
    },
    ftruncate: (fd, len) => fs.ftruncateSync(fd, len),
    fdatasync: (fd) => fs.fdatasyncSync(fd),
    writeState,
  };
}

describe('Recorder with sealing', () => {
  it('seals a recording with open and close entries; verify says ok', async () => {
    const { dir, key } = sealed(3600);
    const recorder = new Recorder({ enabled: true, dir, log: () => {} });
    recorder.check();
    expect(recorder.sealing?.interval).toBe(3600);
    const rec = recorder.start({ cols: 80, rows: 24, localUser: 'alice' });
    rec.output(Buffer.from('hello\r\n'));
    await rec.finish(0);
    await recorder.close();
    const file = path.basename(rec.file!);
    expect(ledgerEntries(dir).map((e) => e.kind)).toEqual([
      'init',
      'start',
      'open',
      'close',
      'stop',
    ]);
    const report = await verifyDirectory(dir, key);
    expect(report.recordings).toMatchObject([
      { file, finding: 'ok', detail: 'sealed through line 3' },
    ]);
    expect(report.exitCode).toBe(0);
  });

  it('is off with seal: false and in a directory never set up', async () => {
    const { dir } = sealed();
    const off = new Recorder({ enabled: true, dir, seal: false, log: () => {} });
    off.check();
    expect(off.sealing).toBeUndefined();
    await off.close();
    const plain = tempDir();
    dirs.push(plain);
    const r = new Recorder({ enabled: true, dir: plain, log: () => {} });
    r.check();
    expect(r.sealing).toBeUndefined();
    expect(fs.existsSync(path.join(plain, '.sshcast'))).toBe(false);
    await r.close();
  });

  it('seals only what is in the file after a failed write was cut back', async () => {
    const { dir, key } = sealed();
    const { ops, calls } = faultyOps({ failWritevAt: 2, partialBytes: 7 });
    const recorder = new Recorder({
      enabled: true,
      dir,
      log: () => {},
      fileOps: { ...ops, writeSync: (fd, b) => fs.writeSync(fd, b) },
    });
    const rec = recorder.start({ cols: 80, rows: 24 });
    for (let i = 0; i < 3 && calls.faults === 0; i++) {
      rec.output(Buffer.from(`line ${i}\r\n`));
      await new Promise((r) => setTimeout(r, 20));
    }
    await rec.finish(0);
    await recorder.close();
    expect(calls.faults).toBeGreaterThan(0); // the fault fired, and the file was cut back
    expect(calls.ftruncate.length).toBeGreaterThan(0);
    const lines = castLines(rec.file!).length;
    const close = ledgerEntries(dir).find((e) => e.kind === 'close')!;
    expect(close).toMatchObject({ lines, bytes: fs.statSync(rec.file!).size });
    const report = await verifyDirectory(dir, key);
    expect(report.recordings[0]).toMatchObject({
      finding: 'ok',
      detail: `sealed through line ${lines}`,
    });
  });

  it('hashes each line as the writer gave it: a byte changed in the file just after its write is found', async () => {
    // DESIGN section 6: the chain is computed from the line's bytes before any sink has them.
    // An attacker who changes the file the moment a write lands, before the hasher has seen
    // those lines (the hasher waits up to 20 ms, or for 1 MiB), must not get that change sealed:
    // a hasher that read the lines back from the file would seal it, and verify would say ok.
    const { dir, key } = sealed(3600);
    let tampered: { at: number; was: number } | undefined;
    const recorder = new Recorder({
      enabled: true,
      dir,
      log: () => {},
      fileOps: {
        writeSync: (fd, b) => fs.writeSync(fd, b),
        writev: (fd, bufs, cb) =>
          fs.writev(fd, bufs, (err, n) => {
            if (!err && !tampered && n >= 32 * 1024) {
              // A letter in the middle of what was just written becomes another letter: the
              // line stays valid JSON, only its bytes differ.
              const end = fs.fstatSync(fd).size;
              const window = Buffer.alloc(256);
              const reader = fs.openSync(`/proc/self/fd/${fd}`, 'r'); // the sink's is write-only
              fs.readSync(reader, window, 0, window.length, end - Math.floor(n / 2));
              fs.closeSync(reader);
              const i = window.findIndex((c) => c >= 0x61 && c <= 0x79);
              const at = end - Math.floor(n / 2) + i;
              fs.writeSync(fd, Buffer.from([window[i]! + 1]), 0, 1, at);
              tampered = { at, was: window[i]! };
            }
            cb(err, n);
          }),
        ftruncate: (fd, len, cb) => fs.ftruncate(fd, len, cb),
        fsync: (fd, cb) => fs.fsync(fd, cb),
        close: (fd, cb) => fs.close(fd, cb),
      },
    });
    const rec = recorder.start({ cols: 80, rows: 24 });
    const text = Buffer.from('abcdefghijklmnopqrstuvwxy'.repeat(320) + '\r\n'); // 8 KiB a chunk
    for (let i = 0; i < 384; i++) if (!rec.output(text)) await once(rec, 'drain'); // 3 MiB
    await rec.finish(0);
    await recorder.close();
    expect(tampered).toBeDefined();
    const file = fs.readFileSync(rec.file!);
    expect(file[tampered!.at]).toBe(tampered!.was + 1);
    // What was sealed is the chain of the lines as written, not of the file as it is: sealing
    // what the file holds (the naive hasher) would have made verify's own computation agree.
    const close = ledgerEntries(dir).find((e) => e.kind === 'close')!;
    const asWritten = Buffer.from(file);
    asWritten[tampered!.at] = tampered!.was;
    expect(close).toMatchObject({ bytes: file.length, chain: chainOf(asWritten).chain });
    expect(chainOf(file).chain).not.toBe((close as { chain?: string }).chain);
    const report = await verifyDirectory(dir, key);
    expect(report.recordings).toMatchObject([{ finding: 'modified' }]);
    expect(report.exitCode).toBe(1);
  });

  it('refuses a session whose open entry cannot be written, and removes its file', async () => {
    const { dir } = sealed();
    const log: string[] = [];
    const sealOps = failingAppends((b) => b.includes('"kind":"open"'));
    const recorder = new Recorder({ enabled: true, dir, sealOps, log: (m) => log.push(m) });
    expect(() => recorder.start({ cols: 80, rows: 24 })).toThrow(RecordingStartError);
    expect(log.at(-1)).toMatch(
      /^sshcast: cannot start recording: sealing to .*ledger\.jsonl failed: ENOSPC.*; session refused$/,
    );
    expect(fs.readdirSync(dir).filter((f) => f.endsWith('.cast'))).toEqual([]);
    await recorder.close();

    const lenient = new Recorder({
      enabled: true,
      dir,
      sealOps,
      onStartFailure: 'continue',
      log: () => {},
    });
    expect(lenient.start({ cols: 80, rows: 24 }).active).toBe(false);
    await lenient.close();
  });

  for (const policy of ['continue', 'terminate'] as WriteFailurePolicy[]) {
    it(`a failed seal mid-session is a write failure under policy ${policy}`, async () => {
      const { dir, now } = sealed();
      const clock = new ManualClock(now * 1000);
      let full = false;
      const log: string[] = [];
      const recorder = new Recorder({
        enabled: true,
        dir,
        clock,
        onWriteFailure: policy,
        sealOps: failingAppends(() => full),
        log: (m) => log.push(m),
      });
      const rec = recorder.start({ cols: 80, rows: 24 });
      const failure = once(rec, 'failure') as Promise<[SinkWriteError, WriteFailurePolicy]>;
      const emitted = once(recorder, 'write-failure') as Promise<[SinkWriteError]>;
      rec.output(Buffer.from('typed\r\n'));
      full = true;
      clock.advance(1); // the epoch ends: its seal and tick cannot be written
      const [err, action] = await failure;
      expect(err).toBeInstanceOf(SealWriteError);
      expect(action).toBe(policy);
      expect((await emitted)[0]).toBe(err);
      expect(log.at(-1)).toMatch(
        policy === 'terminate'
          ? /sealing to .* failed: ENOSPC.*; ending session$/
          : /sealing to .* failed: ENOSPC.*; session continues, its recording unsealed$/,
      );
      // The recording itself goes on being written.
      expect(rec.active).toBe(true);
      full = false;
      await rec.finish(0);
      await recorder.close();
    });
  }
});
