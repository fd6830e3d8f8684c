import { describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { encodeCast } from '../../src/asciicast/encoder.js';
import type { Event, Header } from '../../src/asciicast/event.js';
import { cliPath, runCli, tempDir } from './helpers.js';
import { runInPty } from './pty.js';

function writeCast(
  dir: string,
  name: string,
  events: [number, string][],
  header: Partial<Header> = {},
): string {
  const file = path.join(dir, name);
  const list: Event[] = events.map(([s, data]) => ({ time: Math.round(s * 1e6), code: 'o', data }));
  list.push({ time: list[list.length - 1]!.time, code: 'x', data: '0' });
  fs.writeFileSync(file, encodeCast({ version: 2, width: 80, height: 24, ...header }, list));
  return file;
}

/** Runs `play` in a pty between two `stty -g`, to see the terminal settings before and after. */
function playInPty(dir: string, file: string, flags: string[] = []) {
  const script = `stty -g > ${dir}/before; echo ready; ${JSON.stringify(process.execPath)} ${JSON.stringify(cliPath)} play ${flags.join(' ')} ${JSON.stringify(file)}; echo "status=$?"; stty -g > ${dir}/after; stty -a > ${dir}/after-a; echo done`;
  return runInPty('/bin/sh', ['-c', script]);
}

function childPids(pid: number): number[] {
  const text = fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
  return text ? text.split(/\s+/).map(Number) : [];
}

describe('sshcast play', () => {
  it('replays every output event in order, at the given speed, without a terminal', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const file = writeCast(dir, 't.cast', [
        [0, 'one '],
        [0.5, 'two '],
        [1.0, 'three\r\n'],
      ]);
      const r = await runCli(['play', '-s', '20', file]);
      expect(r.code).toBe(0);
      expect(r.stdout).toBe('one two three\r\n');
    } finally {
      cleanup();
    }
  });

  it('shortens long pauses with -i, and with the file’s idle_time_limit', async () => {
    const { dir, cleanup } = tempDir();
    try {
      // Without the limit this would take 1000 seconds and the test would time out.
      const file = writeCast(dir, 'idle.cast', [
        [0, 'a'],
        [1000, 'b'],
      ]);
      const r = await runCli(['play', '-i', '0.01', file]);
      expect(r.stdout).toBe('ab');
      const withLimit = writeCast(
        dir,
        'limit.cast',
        [
          [0, 'a'],
          [1000, 'b'],
        ],
        { idle_time_limit: 0.01 },
      );
      expect((await runCli(['play', withLimit])).stdout).toBe('ab');
    } finally {
      cleanup();
    }
  });

  it('q quits at once and the terminal is restored', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const file = writeCast(dir, 'q.cast', [
        [0, 'first\r\n'],
        [1000, 'never\r\n'],
      ]);
      const run = playInPty(dir, file);
      await run.waitFor('first');
      run.term.write('q');
      await run.waitFor('done');
      expect(run.output()).toContain('status=0');
      expect(run.output()).not.toContain('never');
      expect(fs.readFileSync(`${dir}/after`, 'utf8')).toBe(
        fs.readFileSync(`${dir}/before`, 'utf8'),
      );
      expect(fs.readFileSync(`${dir}/after-a`, 'utf8')).toMatch(/(^|\s)icanon(\s|$)/m);
      expect(fs.readFileSync(`${dir}/after-a`, 'utf8')).toMatch(/(^|\s)echo(\s|$)/m);
    } finally {
      cleanup();
    }
  });

  it('Ctrl-C quits too, and the terminal is restored', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const file = writeCast(dir, 'c.cast', [
        [0, 'first\r\n'],
        [1000, 'never\r\n'],
      ]);
      const run = playInPty(dir, file);
      await run.waitFor('first');
      run.term.write('\u0003');
      await run.waitFor('done');
      expect(run.output()).not.toContain('never');
      expect(fs.readFileSync(`${dir}/after`, 'utf8')).toBe(
        fs.readFileSync(`${dir}/before`, 'utf8'),
      );
    } finally {
      cleanup();
    }
  });

  it('space pauses, . steps one event while paused, space resumes', async () => {
    const { dir, cleanup } = tempDir();
    try {
      // 100-second gaps: "second" and "third" can only appear by stepping.
      const file = writeCast(dir, 'p.cast', [
        [0, 'first\r\n'],
        [100, 'second\r\n'],
        [200, 'third\r\n'],
        [200.01, 'fourth\r\n'],
      ]);
      const run = playInPty(dir, file);
      await run.waitFor('first');
      run.term.write(' .');
      await run.waitFor('second');
      expect(run.output()).not.toContain('third');
      run.term.write('.');
      await run.waitFor('third');
      run.term.write(' ');
      await run.waitFor('fourth');
      await run.waitFor('done');
      expect(run.output()).toContain('status=0');
      expect(fs.readFileSync(`${dir}/after`, 'utf8')).toBe(
        fs.readFileSync(`${dir}/before`, 'utf8'),
      );
    } finally {
      cleanup();
    }
  });

  it('SIGTERM ends it and the terminal is restored', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const file = writeCast(dir, 's.cast', [
        [0, 'first\r\n'],
        [1000, 'never\r\n'],
      ]);
      const run = playInPty(dir, file);
      await run.waitFor('first');
      const [node] = childPids(run.term.pid);
      expect(node).toBeGreaterThan(0);
      process.kill(node!, 'SIGTERM');
      await run.waitFor('done');
      expect(run.output()).toContain('status=143');
      expect(fs.readFileSync(`${dir}/after`, 'utf8')).toBe(
        fs.readFileSync(`${dir}/before`, 'utf8'),
      );
    } finally {
      cleanup();
    }
  });
});
