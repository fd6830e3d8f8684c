/**
 * The pty process both the session layer and `sshcast rec` run: the drain after a fast exit gives
 * every byte and nothing else (the sentinel never shows), and a terminal whose output was stopped
 * cannot hold the exit back.
 */
import { describe, expect, it } from 'vitest';
import { PtyProcess } from '../../src/pty/pty.js';

function run(
  command: string,
  drainTimeoutMs?: number,
): { proc: PtyProcess; output: () => string; exit: Promise<unknown> } {
  const proc = new PtyProcess({
    ...(drainTimeoutMs !== undefined ? { drainTimeoutMs } : {}),
    file: '/bin/sh',
    args: ['-c', command],
    env: { PATH: '/usr/bin:/bin' },
    cwd: '/',
    cols: 80,
    rows: 24,
    term: 'xterm',
  });
  const chunks: Buffer[] = [];
  proc.on('data', (d) => chunks.push(d));
  const exit = new Promise((resolve) => proc.once('exit', resolve));
  return { proc, output: () => Buffer.concat(chunks).toString('latin1'), exit };
}

describe('PtyProcess', () => {
  it('a fast exit: every byte, in order, and no sentinel', async () => {
    for (let i = 0; i < 10; i++) {
      const n = 3000 + i * 4111;
      const { output, exit } = run(`head -c ${n} /dev/zero | tr '\\0' a; printf END`);
      expect(await exit).toEqual({ status: 0 });
      expect(output()).toBe('a'.repeat(n) + 'END');
    }
  });

  it('the exit status, or the signal', async () => {
    expect(await run('exit 7').exit).toEqual({ status: 7 });
    expect(await run('kill -9 $$').exit).toEqual({ signal: 9 });
  });

  it('a terminal whose output was stopped (^S) does not hold the exit back for good', async () => {
    const { proc, exit } = run('stty ixon; echo ready; sleep 0.3', 300);
    await new Promise<void>((resolve) => {
      const onData = (d: Buffer) => {
        if (!d.toString().includes('ready')) return;
        proc.off('data', onData);
        resolve();
      };
      proc.on('data', onData);
    });
    proc.write(Buffer.from('\x13')); // XOFF: the sentinel cannot come out
    expect(await exit).toEqual({ status: 0 });
  });
});
