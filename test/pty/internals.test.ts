/**
 * What src/pty/ relies on in node-pty's private API. Each test fails as soon as an upgrade changes
 * one of them: then the workaround that uses it must be looked at again.
 */
import fs from 'node:fs';
import pty from 'node-pty';
import { describe, expect, it } from 'vitest';
import { ptyInternals, spawnWithExitHook } from '../../src/pty/internals.js';

const spawn = (command: string) => () =>
  pty.spawn('/bin/sh', ['-c', command], { encoding: null } as pty.IPtyForkOptions);

function exited(term: pty.IPty): Promise<{ exitCode: number; signal?: number }> {
  return new Promise((resolve) => term.onExit(resolve));
}

describe('node-pty 1.1 internals', () => {
  it('_fd is the master, non-blocking: a write it cannot take fails with EAGAIN instead of waiting', async () => {
    const term = pty.spawn('/bin/sh', ['-c', 'stty raw -echo; sleep 5'], {
      encoding: null,
    } as pty.IPtyForkOptions);
    try {
      const { masterFd } = ptyInternals(term);
      expect(fs.readlinkSync(`/proc/self/fd/${masterFd}`)).toBe('/dev/ptmx');
      const chunk = Buffer.alloc(64 * 1024, 'a');
      let code: string | undefined;
      for (let i = 0; i < 64 && code === undefined; i++) {
        code = await new Promise<string | undefined>((resolve) =>
          fs.write(masterFd, chunk, (err) => resolve(err?.code)),
        );
      }
      expect(code).toBe('EAGAIN');
    } finally {
      term.kill('SIGKILL');
      await exited(term);
    }
  });

  it('ptsName is the slave, which a second handle can open without becoming our terminal', async () => {
    const term = spawn('sleep 5')();
    try {
      const { slavePath } = ptyInternals(term);
      expect(slavePath).toMatch(/^\/dev\/pts\/[0-9]+$/);
      const fd = fs.openSync(slavePath, fs.constants.O_RDWR | fs.constants.O_NOCTTY);
      expect(fs.fstatSync(fd).isCharacterDevice()).toBe(true);
      fs.closeSync(fd);
    } finally {
      term.kill('SIGKILL');
      await exited(term);
    }
  });

  it('the native fork reports the exit at once; _socket.destroy() comes without an argument 200 ms later, output unread or not', async () => {
    const order: string[] = [];
    let hooked: [number, number] | undefined;
    const term = spawnWithExitHook(spawn('exit 3'), (code, signal) => {
      hooked = [code, signal];
      order.push('native exit');
    });
    const { socket, slavePath } = ptyInternals(term);
    // Held open, as the tail-loss fix does: the master then never ends by itself.
    const slave = fs.openSync(slavePath, fs.constants.O_RDWR | fs.constants.O_NOCTTY);
    const destroy = socket.destroy.bind(socket);
    socket.destroy = (...args: unknown[]) => {
      order.push(`destroy(${args.length})`);
      if (args.length === 0 && !socket.readableEnded) fs.closeSync(slave);
      return destroy(...args);
    };
    const done = exited(term);
    await done;
    expect(hooked).toEqual([3, 0]);
    expect(order[0]).toBe('native exit');
    expect(order[1]).toBe('destroy(0)');
  });

  it('the native exit callback carries the signal that killed the child', async () => {
    let hooked: [number, number] | undefined;
    const term = spawnWithExitHook(
      spawn('kill -9 $$'),
      (code, signal) => (hooked = [code, signal]),
    );
    expect(await exited(term)).toMatchObject({ signal: 9 });
    expect(hooked?.[1]).toBe(9);
  });

  it('once the last slave handle is closed the master ends by itself: destroy(error) or destroy() after the end', async () => {
    const term = spawn('echo hi')();
    const { socket } = ptyInternals(term);
    const calls: { args: number; ended: boolean }[] = [];
    const destroy = socket.destroy.bind(socket);
    socket.destroy = (...args: unknown[]) => {
      calls.push({ args: args.length, ended: socket.readableEnded });
      return destroy(...args);
    };
    await exited(term);
    expect(calls.length).toBeGreaterThan(0);
    expect(calls[0]!.args === 1 || calls[0]!.ended).toBe(true);
  });

  it('spawns that do not ask for the hook are passed through untouched', async () => {
    spawnWithExitHook(spawn('true'), () => {});
    const term = spawn('exit 4')();
    expect(await exited(term)).toMatchObject({ exitCode: 4 });
  });
});
