import fs from 'node:fs';
import pty from 'node-pty';
import { expect, it } from 'vitest';
import { spawnSession } from '../../src/ssh/process.js';
import { until } from '../helpers/e2e.js';

const N = 2_000; // fits in the terminal's buffers: the writer exits while nothing reads
const COMMAND = `head -c ${N} /dev/zero | tr '\\0' a`;

// node-pty closes its side 200 ms after the child exits, read or not: hold reading longer than that.
const PAST_NODE_PTY_TIMER_MS = 500;

async function gone(pid: number): Promise<void> {
  await until(() => (fs.existsSync(`/proc/${pid}`) ? undefined : true), `process ${pid} to exit`);
  await new Promise((r) => setTimeout(r, PAST_NODE_PTY_TIMER_MS));
}

it('naive node-pty: output not yet read when the process exits is lost (reading paused for backpressure)', async () => {
  const term = pty.spawn('/bin/sh', ['-c', COMMAND], { encoding: null } as pty.IPtyForkOptions);
  term.pause();
  let got = 0;
  term.onData((d) => (got += d.length));
  const exited = new Promise<void>((r) => term.onExit(() => r()));
  await gone(term.pid);
  term.resume();
  await exited;
  expect(got).toBeLessThan(N);
});

it('sshcast: every byte arrives before exit, even when reading was paused across the exit', async () => {
  const proc = spawnSession({
    command: { file: '/bin/sh', args: ['-c', COMMAND], env: {} },
    env: { PATH: '/usr/bin:/bin' },
    cwd: '/',
    pty: { cols: 80, rows: 24, term: 'xterm' },
  });
  proc.pause();
  let got = 0;
  let gotAtExit = -1;
  proc.on('data', (d) => (got += d.length));
  const exited = new Promise<void>((r) =>
    proc.on('exit', (e) => {
      gotAtExit = got;
      expect(e).toEqual({ status: 0 });
      r();
    }),
  );
  await gone(proc.pid);
  proc.resume();
  await exited;
  expect(gotAtExit).toBe(N);
});

it('sshcast: 30 fast exits, byte-exact', async () => {
  const short: string[] = [];
  for (let i = 0; i < 30; i++) {
    const n = 10_000 + i * 1237;
    const proc = spawnSession({
      command: { file: '/bin/sh', args: ['-c', `head -c ${n} /dev/zero | tr '\\0' a`], env: {} },
      env: { PATH: '/usr/bin:/bin' },
      cwd: '/',
      pty: { cols: 80, rows: 24, term: 'xterm' },
    });
    let got = 0;
    proc.on('data', (d) => (got += d.length));
    await new Promise<void>((r) => proc.on('exit', () => r()));
    if (got !== n) short.push(`${got}/${n}`);
  }
  expect(short).toEqual([]);
});
