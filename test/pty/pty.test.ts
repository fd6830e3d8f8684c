/**
 * The pty process both the session layer and `sshcast rec` run: the drain after a fast exit gives
 * every byte and nothing else (the sentinel never shows), a terminal whose output was stopped
 * cannot hold the exit back, and the terminal hook's release runs once, before the master closes.
 */
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { PtyProcess, type PtyOptions } from '../../src/pty/pty.js';

function run(
  command: string,
  drainTimeoutMs?: number,
  onTerminal?: PtyOptions['onTerminal'],
): { proc: PtyProcess; output: () => string; exit: Promise<unknown> } {
  const proc = new PtyProcess({
    ...(drainTimeoutMs !== undefined ? { drainTimeoutMs } : {}),
    ...(onTerminal ? { onTerminal } : {}),
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

  describe('the terminal hook', () => {
    /** A hook that notes, at each release, whether the master it was given is still open. */
    function hook() {
      const releases: string[] = [];
      let terminal: { fd: number; path: string } | undefined;
      const onTerminal: PtyOptions['onTerminal'] = (t) => {
        terminal = t;
        return () => {
          let target = 'closed';
          try {
            target = fs.readlinkSync(`/proc/self/fd/${t.fd}`);
          } catch {
            /* the master is gone already */
          }
          releases.push(target);
        };
      };
      return { onTerminal, releases, terminal: () => terminal };
    }

    it('the end of the output (EIO): released once, with the master still open, and every byte', async () => {
      const h = hook();
      const { output, exit } = run('printf done', undefined, h.onTerminal);
      expect(h.terminal()?.path).toMatch(/^\/dev\/pts\/\d+$/);
      expect(h.releases).toEqual([]);
      expect(await exit).toEqual({ status: 0 });
      expect(output()).toBe('done');
      expect(h.releases).toEqual(['/dev/ptmx']);
    });

    it('a terminal a leftover process still holds: released once, with the master still open', async () => {
      // The shell is gone, but a process that ignores SIGHUP holds the terminal: no EIO comes, and
      // the master is closed once it has been quiet.
      const h = hook();
      const { proc, output, exit } = run(
        "trap '' HUP; sleep 30 & echo $!; printf done",
        undefined,
        h.onTerminal,
      );
      try {
        expect(await exit).toEqual({ status: 0 });
        const leftover = Number(/^(\d+)\r\ndone$/.exec(output())?.[1]);
        expect(fs.existsSync(`/proc/${leftover}`)).toBe(true);
        expect(h.releases).toEqual(['/dev/ptmx']);
      } finally {
        try {
          process.kill(-proc.pid, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
    });

    it('a hangup: released once, with the master still open', async () => {
      const h = hook();
      const { proc, exit } = run('echo ready; sleep 10', undefined, h.onTerminal);
      await new Promise<void>((resolve) =>
        proc.on('data', (d) => d.toString().includes('ready') && resolve()),
      );
      proc.hangup();
      expect(h.releases).toEqual(['/dev/ptmx']);
      await exit;
      expect(h.releases).toEqual(['/dev/ptmx']);
    });
  });
});
