import type { ServerChannel, Session } from 'ssh2';
import { describe, expect, it } from 'vitest';
import type { Recorder } from '../../src/index.js';
import { fakeSession } from '../../src/testing/fake-session.js';
import { DEFAULT_WAIT_MS } from '../../src/testing/terminal-output.js';
import { memoryRecorder } from '../../src/testing/memory.js';
import '../../src/testing/vitest.js';

/** A tiny custom shell recorded with the Recording API: greets by name, `exit` ends it. */
function greeter(recorder: Recorder) {
  return (session: Session) => {
    let size = { cols: 80, rows: 24 };
    let resize: (cols: number, rows: number) => void = () => {};
    session.on('pty', (accept, _reject, info) => {
      size = { cols: info.cols, rows: info.rows };
      accept?.();
    });
    session.on('window-change', (accept, _reject, info) => {
      resize(info.cols, info.rows);
      accept?.();
    });
    session.on('shell', (accept) => {
      const channel = accept();
      const rec = recorder.start({ ...size, localUser: 'guest' });
      resize = (c, r) => rec.resize(c, r);
      const say = (text: string) => {
        rec.output(text);
        channel.write(text);
      };
      say('name? ');
      let line = '';
      channel.on('data', (data: Buffer) => {
        for (const ch of data.toString()) {
          if (ch !== '\r') {
            line += ch;
            say(ch);
            continue;
          }
          if (line === 'exit') {
            say('\r\nbye\r\n');
            void rec.finish(0).then(() => {
              channel.exit(0);
              channel.end();
            });
            return;
          }
          say(`\r\nhello, ${line}!\r\nname? `);
          line = '';
        }
      });
    });
  };
}

describe('fakeSession with a custom handler using the Recording API', () => {
  it('drives a shell, sees its output, resizes, and gets the exit status; the recording matches', async () => {
    const recorder = memoryRecorder();
    const s = fakeSession();
    greeter(recorder)(s.session);
    const ch = await s.shell({ pty: { cols: 40, rows: 10 } });
    await ch.waitForOutput('name? ');
    ch.type('world\r');
    expect(await ch.waitForOutput(/hello, \w+!/)).toBe('hello, world!');
    ch.resize(60, 12);
    ch.type('exit\r');
    expect(await ch.waitForExit()).toEqual({ code: 0 });
    expect(ch.stdout).toContain('bye');
    expect((await ch.screen()).lines.slice(0, 4)).toEqual([
      'name? world',
      'hello, world!',
      'name? exit',
      'bye',
    ]);

    const cast = recorder.lastCast();
    expect(cast.header).toMatchObject({ width: 40, height: 10, localUser: 'guest' });
    expect(cast.resizes.map(({ cols, rows }) => [cols, rows])).toEqual([[60, 12]]);
    expect(cast).toContainOutput('hello, world!');
    expect(cast).toHaveExitCode(0);
    expect(cast).toBeValidCast();
    await expect(cast).toHaveScreenText('hello, world!\nname? exit\nbye');
    expect(cast.output).toBe(ch.stdout);
  });

  it('a wait fails with the output when the channel closes first', async () => {
    const s = fakeSession();
    s.session.on('exec', (accept) => {
      const ch = accept();
      ch.write('only this\r\n');
      ch.exit(1);
      ch.end();
    });
    const ch = await s.exec('x');
    await expect(ch.waitForOutput('never')).rejects.toThrow(
      /waitForOutput\("never"\): the server sent EOF\n[^]*only this\\r\\n/,
    );
    expect(await ch.waitForExit()).toEqual({ code: 1 });
  });

  it('a failed wait points at the test that waited, and gives up before the test runner does', async () => {
    expect(DEFAULT_WAIT_MS).toBeLessThan(5000); // vitest's and jest's default test timeout
    const s = fakeSession();
    s.session.on('shell', (accept) => accept());
    s.session.on('pty', (accept) => accept?.());
    const ch = await s.shell();
    const output = (await ch
      .waitForOutput('never', { timeout: 20 })
      .catch((e: unknown) => e)) as Error;
    expect(output.message).toMatch(/^waitForOutput\("never"\): no match within 20 ms/);
    const exit = (await ch.waitForExit({ timeout: 20 }).catch((e: unknown) => e)) as Error;
    expect(exit.message).toMatch(/^waitForExit: the channel did not close within 20 ms/);
    // The first frame of each stack is this file, not a timer inside sshcast.
    for (const err of [output, exit]) {
      const firstFrame = err.stack!.split('\n').find((l) => l.startsWith('    at '));
      expect(firstFrame).toMatch(/fake-session\.test\.ts:\d+/);
    }
  });

  it('consumes output: a second wait looks only after the first match', async () => {
    const s = fakeSession();
    let channel!: ServerChannel;
    s.session.on('shell', (accept) => (channel = accept()));
    s.session.on('pty', (accept) => accept?.());
    const ch = await s.shell();
    channel.write('$ ');
    await ch.waitForOutput('$ ');
    const second = ch.waitForOutput('$ ', { timeout: 2000 });
    channel.write('ls\r\n$ ');
    expect(await second).toBe('$ ');
    await expect(ch.waitForOutput('$ ', { timeout: 50 })).rejects.toThrow(/no match within 50 ms/);
  });
});

describe('fakeSession behaves as ssh2 does where a handler can tell', () => {
  it('gives no accept/reject when the client wants no reply (env, window-change, signal)', async () => {
    const s = fakeSession();
    const seen: Array<[string, unknown, unknown]> = [];
    for (const ev of ['env', 'window-change', 'signal', 'pty'] as const) {
      s.session.on(ev, (accept: unknown, reject: unknown) => {
        seen.push([ev, typeof accept, typeof reject]);
        if (typeof accept === 'function') (accept as () => void)();
      });
    }
    s.session.on('shell', (accept) => accept());
    const ch = await s.shell({ env: { LANG: 'C.UTF-8' } });
    ch.resize(100, 30);
    ch.signal('INT');
    expect(seen).toEqual([
      ['env', 'undefined', 'undefined'],
      ['pty', 'function', 'function'],
      ['window-change', 'undefined', 'undefined'],
      ['signal', 'undefined', 'undefined'],
    ]);
  });

  it('rejects a request nobody listens for, and one the handler rejects', async () => {
    const s = fakeSession();
    await expect(s.subsystem('sftp')).rejects.toThrow('the handler rejected the subsystem request');
    const t = fakeSession();
    t.session.on('exec', (_accept, reject) => reject?.());
    await expect(t.exec('id')).rejects.toThrow('the handler rejected the exec request');
  });

  it('fails clearly when the handler never answers', async () => {
    const s = fakeSession({ replyTimeout: 20 });
    s.session.on('shell', () => {});
    await expect(s.shell({ pty: false })).rejects.toThrow(
      'neither accepted nor rejected the shell request within 20 ms',
    );
  });

  it('exit() throws on a signal name ssh2 cannot send, accepts SIG-prefixed names', async () => {
    const s = fakeSession();
    let channel!: ServerChannel;
    s.session.on('exec', (accept) => (channel = accept()));
    const ch = await s.exec('sleep 1');
    expect(() => channel.exit('WINCH')).toThrow('Invalid signal: WINCH');
    channel.exit('SIGTERM');
    channel.end();
    expect(await ch.waitForExit()).toEqual({ code: null, signal: 'TERM' });
  });

  it('end() sends EOF and CLOSE; the server side closes only once its readable side ended', async () => {
    const s = fakeSession();
    let channel!: ServerChannel;
    s.session.on('exec', (accept) => (channel = accept()));
    const ch = await s.exec('true');
    const sessionClosed = new Promise((r) => s.session.once('close', r));
    channel.exit(0);
    channel.end();
    await ch.waitForExit();
    await sessionClosed;
    let closed = false;
    channel.on('close', () => (closed = true));
    expect(closed).toBe(false); // nobody read the channel, so no 'end', so no 'close' (ssh2 too)
    channel.resume();
    await new Promise((r) => channel.once('close', r));
  });

  it('after the client EOF, later requests are rejected and stdin ends', async () => {
    const s = fakeSession();
    const sizes: number[] = [];
    s.session.on('pty', (accept) => accept?.());
    s.session.on('window-change', (_a, _r, info) => sizes.push(info.cols));
    let channel!: ServerChannel;
    s.session.on('shell', (accept) => (channel = accept()));
    const ch = await s.shell();
    const ended = new Promise((r) => channel.once('end', r));
    channel.resume();
    ch.resize(90, 20);
    ch.eof();
    ch.resize(91, 20);
    await ended;
    expect(sizes).toEqual([90]);
  });

  it('keystrokes arrive on the channel as data', async () => {
    const s = fakeSession();
    let channel!: ServerChannel;
    s.session.on('exec', (accept) => (channel = accept()));
    const ch = await s.exec('cat');
    const got = new Promise<string>((r) => channel.once('data', (d: Buffer) => r(d.toString())));
    ch.type('abc');
    expect(await got).toBe('abc');
  });

  it('a paused client makes write() return false, and resuming drains', async () => {
    const s = fakeSession();
    let channel!: ServerChannel;
    s.session.on('exec', (accept) => (channel = accept()));
    const ch = await s.exec('yes');
    ch.pauseOutput();
    const chunk = Buffer.alloc(64 * 1024, 'y');
    let writes = 0;
    while (channel.write(chunk)) writes++;
    expect(writes).toBeLessThan(64);
    expect(ch.stdout).toBe('');
    const drained = new Promise((r) => channel.once('drain', r));
    ch.resumeOutput();
    await drained;
    expect(ch.stdout.length).toBe((writes + 1) * chunk.length);
  });

  it('stderr reaches the client separately; writes after CLOSE are dropped', async () => {
    const s = fakeSession();
    let channel!: ServerChannel;
    s.session.on('exec', (accept) => (channel = accept()));
    const ch = await s.exec('x');
    channel.stderr.write('oops\n');
    await ch.waitForOutput('oops', { stream: 'stderr' });
    channel.close();
    channel.write('late');
    await ch.waitForExit();
    expect(ch.stdout).toBe('');
    expect(ch.stderr).toBe('oops\n');
  });
});

describe('a test channel is itself a recording of what the client saw', () => {
  it('works with the matchers and renderScreen, exit included', async () => {
    const s = fakeSession();
    s.session.on('pty', (accept) => accept?.());
    s.session.on('shell', (accept) => {
      const ch = accept();
      ch.write('\x1b[1mbold\x1b[0m text\r\n');
      ch.exit('KILL');
      ch.end();
    });
    const ch = await s.shell({ pty: { cols: 30, rows: 4 } });
    await ch.waitForExit();
    expect(ch).toContainOutput('\x1b[1mbold');
    await expect(ch).toHaveScreenText('bold text');
    expect(ch).toHaveExitCode(137);
    expect(ch).toBeValidCast();
  });
});
