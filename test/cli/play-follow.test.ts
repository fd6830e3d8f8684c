/**
 * `sshcast play --follow` under plain node, against a recording written by another process that
 * holds it open, as a recorder does: the present screen at once (not the history), new output as
 * it is appended, the end at the `x` event, and the end when the writer is killed.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cliPath, isOneLineError, runCli, tempDir } from './helpers.js';
import { runInPty } from './pty.js';

const children: ChildProcess[] = [];
const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL');
  for (const f of cleanups.splice(0)) f();
});

/** A process that holds `file` open for appending and appends each line it is sent. */
function writer(file: string): { append(text: string): Promise<void>; child: ChildProcess } {
  const child = spawn(
    process.execPath,
    [
      '-e',
      `const fs = require('fs'); const fd = fs.openSync(process.argv[1], 'a');
       require('readline').createInterface({ input: process.stdin }).on('line', (l) => {
         fs.writeSync(fd, JSON.parse(l)); process.stdout.write('ok\\n');
       });`,
      file,
    ],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  children.push(child);
  return {
    child,
    append: (text) =>
      new Promise((resolve) => {
        child.stdout!.once('data', () => resolve());
        child.stdin!.write(`${JSON.stringify(text)}\n`);
      }),
  };
}

/** `sshcast play --follow FILE` with its output collected, and a wait on it. */
function follow(file: string) {
  const child = spawn(process.execPath, [cliPath, 'play', '--follow', file], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let out = '';
  let err = '';
  const waiters = new Set<() => void>();
  const wake = () => waiters.forEach((w) => w());
  child.stdout!.on('data', (d: Buffer) => ((out += d.toString()), wake()));
  child.stderr!.on('data', (d: Buffer) => ((err += d.toString()), wake()));
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  return {
    out: () => out,
    err: () => err,
    exited,
    /** Resolves once stdout holds `text`. */
    waitFor: (text: string, ms = 10_000) =>
      new Promise<void>((resolve, reject) => {
        const check = () => {
          if (!out.includes(text)) return;
          waiters.delete(check);
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(
            new Error(`no ${JSON.stringify(text)} within ${ms} ms; got ${JSON.stringify(out)}`),
          );
        }, ms);
        waiters.add(check);
        check();
      }),
  };
}

const HEADER = '{"version":2,"width":40,"height":5,"timestamp":1700000000}\n';

function setup(): string {
  const { dir, cleanup } = tempDir('sshcast-follow-cli-');
  cleanups.push(cleanup);
  const file = path.join(dir, 'ssh-session-1-live.cast');
  // 50 lines of history on a 5-row screen: only the last ones are on it.
  const history = Array.from({ length: 50 }, (_, i) => `[${i / 100},"o","history ${i}\\r\\n"]\n`);
  fs.writeFileSync(file, HEADER + history.join(''), { mode: 0o600 });
  return file;
}

describe('sshcast play --follow', () => {
  it('paints the present screen at once, then new output as it is appended, and ends at the x event', async () => {
    const file = setup();
    const w = writer(file);
    await w.append('[0.6,"o","prompt$ "]\n');
    const f = follow(file);
    await f.waitFor('prompt$ ');
    // The screen, not the history: the last lines are there, the early ones are not.
    expect(f.out()).toContain('history 49');
    expect(f.out()).not.toContain('history 10');
    expect(f.out().startsWith('\x1b[0m\x1b[H\x1b[2J')).toBe(true);

    const before = f.out().length;
    await w.append('[1.0,"o","typed later\\r\\n"]\n');
    await f.waitFor('typed later');
    expect(f.out().slice(before)).toBe('typed later\r\n');
    // A line is shown only once complete: half of one is not output.
    await w.append('[1.5,"o","half ');
    await w.append('line\\r\\n"]\n[1.6,"x","3"]\n');
    expect(await f.exited).toBe(0);
    expect(f.out()).toContain('half line\r\n');
    expect(f.err()).toBe('sshcast play: the session ended (exit 3)\n');
  });

  it('ends when the writer is killed before its x event', async () => {
    const file = setup();
    const w = writer(file);
    await w.append('[0.6,"o","still here"]\n');
    const f = follow(file);
    await f.waitFor('still here');
    w.child.kill('SIGKILL');
    expect(await f.exited).toBe(0);
    expect(f.err()).toBe(
      'sshcast play: the recording is no longer written (its writer is gone); it ends here\n',
    );
  });

  it('a finished recording shows its last screen and ends', async () => {
    const file = setup();
    fs.appendFileSync(file, '[1,"o","the end"]\n[1.1,"x","0"]\n');
    const r = await runCli(['play', '--follow', file]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('the end');
    expect(r.stderr).toBe('sshcast play: the session ended (exit 0)\n');
  });

  it('q quits in a terminal, leaving it as it was', async () => {
    const file = setup();
    writer(file);
    const run = runInPty('/bin/sh', [
      '-c',
      `stty -g > ${file}.before; ${JSON.stringify(process.execPath)} ${JSON.stringify(cliPath)} play --follow ${JSON.stringify(file)}; echo "status=$?"; stty -g > ${file}.after`,
    ]);
    await run.waitFor('history 49');
    run.term.write('q');
    await run.waitFor('status=0');
    await run.exited;
    expect(fs.readFileSync(`${file}.after`, 'utf8')).toBe(
      fs.readFileSync(`${file}.before`, 'utf8'),
    );
  });

  it('refuses a FIFO, a damaged file and -s with one line each', async () => {
    const { dir, cleanup } = tempDir('sshcast-follow-cli-');
    cleanups.push(cleanup);
    const fifo = path.join(dir, 'x.cast');
    execFileSync('mkfifo', [fifo]);
    const r = await runCli(['play', '--follow', fifo]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`sshcast: ${fifo}: not a regular file\n`);
    const bad = path.join(dir, 'bad.cast');
    fs.writeFileSync(bad, 'not json\n');
    const d = await runCli(['play', '--follow', bad]);
    expect(d.code).toBe(1);
    expect(isOneLineError(d.stderr)).toBe(true);
    expect(d.stderr).toContain(bad);
    const s = await runCli(['play', '--follow', '-s', '2', bad]);
    expect(s.code).toBe(2);
    expect(isOneLineError(s.stderr)).toBe(true);
  });
});
