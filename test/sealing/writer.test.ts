/**
 * Our writer reproduces the shared vectors' `base/.sshcast/ledger.jsonl` byte for byte, given
 * their seed, times and lines: seal init, a server that records one session over two epochs and
 * stops cleanly in the third, and another that starts in the sixth.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CastWriter } from '../../src/recording/writer.js';
import { ManualClock } from '../../src/clock.js';
import { sealPaths } from '../../src/sealing/layout.js';
import { Sealer } from '../../src/sealing/sealer.js';
import { initSealing } from '../../src/sealing/setup.js';
import { CountingSink, tempDir, VECTOR_SEED, VECTORS } from './helpers.js';

const T0 = 1767225600;
const NAME = 'ssh-session-1767225601000000000-abc123.cast';
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

/** Moves the manual clock to wall second `t` (it only moves forward). */
function at(clock: ManualClock, t: number): void {
  clock.advance(t - clock.wall() / 1000);
}

describe('ledger writer', () => {
  it('reproduces the vectors’ base ledger and recording byte for byte', async () => {
    const dir = tempDir();
    dirs.push(dir);
    const { key } = initSealing(dir, { seed: VECTOR_SEED, interval: 10, retention: 60, now: T0 });
    expect(key.t0).toBe(T0);
    const clock = new ManualClock(T0 * 1000);
    const log: string[] = [];
    const first = Sealer.open(dir, { clock, timers: false, log: (m) => log.push(m) });
    first.start();
    at(clock, T0 + 1);
    const sink = new CountingSink();
    const rec = first.track(NAME, sink);
    const writer = new CastWriter(sink, { clock, onLine: rec.onLine });
    writer.start({
      width: 80,
      height: 24,
      env: { TERM: 'xterm', SHELL: '/bin/sh' },
      localUser: 'alice',
    });
    rec.open();
    at(clock, T0 + 1.5);
    writer.output('hello é\r\n');
    await rec.hasher.drained();
    at(clock, T0 + 10);
    first.poll();
    at(clock, T0 + 13.25);
    writer.output('bye\r\n');
    at(clock, T0 + 13.3);
    writer.exit(0);
    await writer.close();
    await rec.close();
    at(clock, T0 + 21);
    await first.stop();

    at(clock, T0 + 52);
    const second = Sealer.open(dir, { clock, timers: false, log: (m) => log.push(m) });
    second.start();
    at(clock, T0 + 60);
    second.poll();

    const base = path.join(VECTORS, 'base');
    expect(sink.bytes().equals(fs.readFileSync(path.join(base, NAME)))).toBe(true);
    const want = fs.readFileSync(path.join(base, '.sshcast/ledger.jsonl'), 'utf8');
    expect(fs.readFileSync(sealPaths(dir).ledger, 'utf8')).toBe(want);
    await second.stop();
    expect(log).toEqual([]);
  });
});
