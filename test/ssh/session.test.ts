import fs from 'node:fs';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type ssh2 from 'ssh2';
import { MemorySink } from '../../src/recording/sink.js';
import { Recorder } from '../../src/recording/recorder.js';
import type { Recording } from '../../src/recording/recording.js';
import { parseCast, type Cast } from '../../src/asciicast/reader.js';
import { currentAccount, type Account } from '../../src/ssh/account.js';
import { terminalSize } from '../../src/asciicast/terminal.js';
import { handleSession } from '../../src/ssh/session.js';
import {
  fakeSession,
  memoryRecorder as newMemoryRecorder,
  type MemoryRecorder,
  type MemoryRecorderOptions,
} from '../../src/testing/index.js';
import { connect, run, startTestServer, type TestServer } from '../helpers/inprocess.js';
import { tempDir, until } from '../helpers/e2e.js';
import { needs, notRoot } from '../helpers/needs.js';

let account: Account;
let server: TestServer;
let client: ssh2.Client;
let main: MemoryRecorder;
/** Every recording of every memory recorder here, in the order they started, with its sink. */
const started: { recording: Recording; sink: MemorySink }[] = [];

function memoryRecorder(options: MemoryRecorderOptions = {}): MemoryRecorder {
  const recorder = newMemoryRecorder({ log: () => {}, ...options });
  recorder.on('start', (recording) =>
    started.push({ recording, sink: recorder.sinkOf(recording)! }),
  );
  return recorder;
}

/** Resolves once `sink`'s recording has finished and closed. */
async function finished({ recording, sink }: (typeof started)[number]): Promise<MemorySink> {
  if (!sink.closed) await once(recording, 'close');
  return sink;
}

/** The recording of the last session, once finished. */
async function lastCast() {
  const last = started.at(-1);
  if (!last) throw new Error('no recording has started');
  return parseCast((await finished(last)).text());
}

function outputText(cast: Cast): string {
  return cast.events
    .filter((e) => e.code === 'o')
    .map((e) => e.data)
    .join('');
}

beforeAll(async () => {
  account = await currentAccount();
  server = await startTestServer({
    identity: { account, keyOptions: {} },
    recorder: (main = memoryRecorder()),
    allowEnv: ['SSHCAST_TEST_*'],
    log: () => {},
  });
  client = await connect(server.port);
});

afterAll(async () => {
  client?.end();
  await server?.close();
});

describe('terminalSize', () => {
  it('defaults a 0 side and clamps each side to 1000', () => {
    expect(terminalSize(0, 0)).toEqual({ cols: 80, rows: 24 });
    expect(terminalSize(70000, 70000)).toEqual({ cols: 1000, rows: 1000 });
    expect(terminalSize(132, 0)).toEqual({ cols: 132, rows: 24 });
  });
});

describe('exec without a pty', () => {
  it('sends stdout and stderr apart, records both, and sends the exit status before close', async () => {
    const r = await run(client, 'echo out; echo err >&2; exit 3');
    expect(r.stdout.toString()).toBe('out\n');
    expect(r.stderr.toString()).toBe('err\n');
    expect(r.code).toBe(3);
    const cast = await lastCast();
    expect(cast.header.command).toBe('echo out; echo err >&2; exit 3');
    expect(cast.header.localUser).toBe(account.name);
    expect(cast.header.env).toEqual({ SHELL: account.shell });
    expect(cast.header.width).toBe(80);
    expect(outputText(cast)).toContain('out\n');
    expect(outputText(cast)).toContain('err\n');
    expect(cast.events.at(-1)).toMatchObject({ code: 'x', data: '3' });
  });

  it('ends the command’s stdin on the client’s EOF', async () => {
    const r = await run(client, 'cat; echo done', { input: 'hello\n' });
    expect(r.stdout.toString()).toBe('hello\ndone\n');
    expect(r.code).toBe(0);
  });

  it('gives the account’s environment, accepted client variables, and nothing of the server’s', async () => {
    process.env.SSHCAST_LEAK_CHECK = 'leaked';
    const r = await run(client, 'env', {
      env: {
        LANG: 'C.UTF-8',
        LC_TIME: 'C',
        SSHCAST_TEST_X: 'yes',
        EVIL_VAR: 'no',
        LD_PRELOAD: '/x.so',
      },
    });
    delete process.env.SSHCAST_LEAK_CHECK;
    const env = Object.fromEntries(
      r.stdout
        .toString()
        .trim()
        .split('\n')
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    );
    expect(env).toMatchObject({
      HOME: account.home,
      USER: account.name,
      LOGNAME: account.name,
      SHELL: account.shell,
    });
    expect(env.LANG).toBe('C.UTF-8');
    expect(env.LC_TIME).toBe('C');
    expect(env.SSHCAST_TEST_X).toBe('yes');
    expect(env.EVIL_VAR).toBeUndefined();
    expect(env.LD_PRELOAD).toBeUndefined();
    expect(env.SSHCAST_LEAK_CHECK).toBeUndefined();
    expect(env.PERL_BADLANG).toBeUndefined();
    expect(env.TERM).toBeUndefined();
  });

  it('a process killed by a signal ssh2 cannot name ends with 128 + n', async () => {
    const r = await run(client, 'kill -BUS $$');
    expect(r.code).toBe(135);
    expect((await lastCast()).events.at(-1)).toMatchObject({ code: 'x', data: '135' });
  });

  it('a process killed by an RFC 4254 signal ends with that signal; the recording says 128 + n', async () => {
    const r = await run(client, 'kill -TERM $$');
    expect(r.signal).toBe('SIGTERM');
    expect((await lastCast()).events.at(-1)).toMatchObject({ code: 'x', data: '143' });
  });

  it('forwards RFC 4254 signals and ignores other names', async () => {
    // ssh2's client refuses to send a name outside its list; the fake session's client sends
    // any, as a hostile client would.
    const s = fakeSession();
    const logs: string[] = [];
    handleSession(s.session, {
      identity: { account, keyOptions: {} },
      recorder: main,
      log: (m) => logs.push(m),
    });
    const ch = await s.exec(
      'trap "echo got-usr1" USR1; trap "echo got-int; exit 9" INT; echo ready; while :; do sleep 0.05; done',
    );
    const slow = { timeout: 20_000 }; // a real shell, on a machine that may be busy
    await ch.waitForOutput('ready\n', slow);
    ch.signal('BOGUS');
    // A name of the client's choosing is logged, escaped: it cannot retitle the admin's terminal.
    ch.signal('\u001b]0;PWNED\u0007\r');
    ch.signal('USR1');
    await ch.waitForOutput('got-usr1\n', slow);
    ch.signal('INT');
    const exit = await ch.waitForExit(slow);
    expect(ch.stdout).toBe('ready\ngot-usr1\ngot-int\n');
    expect(exit.code).toBe(9);
    expect(logs.filter((l) => l.includes('ignored signal'))).toEqual([
      'sshcast: ignored signal "BOGUS" (not an RFC 4254 name)',
      'sshcast: ignored signal "\\e]0;PWNED\\x07\\r" (not an RFC 4254 name)',
    ]);
  });
});

describe("signals reach the process group, as sshd's killpg does", () => {
  it("a command the shell runs gets the client's TERM too", async () => {
    // With the signal sent to the shell alone, the inner loop never hears it and times out.
    const inner =
      'trap "echo child-term; exit 0" TERM; echo ready; i=0; while [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done; echo child-timeout';
    const r = await run(client, `trap "echo outer-term" TERM; sh -c '${inner}'; echo done`, {
      keepOpen: true,
      onChannel: (ch) => {
        let sent = false;
        ch.on('data', (d: Buffer) => {
          if (sent || !d.toString().includes('ready')) return;
          sent = true;
          ch.signal('TERM');
        });
      },
    });
    expect(r.stdout.toString()).toBe('ready\nchild-term\nouter-term\ndone\n');
    expect(r.code).toBe(0);
  });
});

describe('pty sessions', () => {
  it('runs in a terminal of the requested size, owned by the account with mode 620', async (ctx) => {
    needs(ctx, notRoot); // the launcher gives the terminal to group tty, as root
    const r = await run(client, 'stty size; stat -c "%U %G %a" $(tty); echo $TERM; exit 4', {
      pty: { cols: 100, rows: 30, term: 'xterm-256color' },
    });
    expect(r.stdout.toString()).toBe(`30 100\r\n${account.name} tty 620\r\nxterm-256color\r\n`);
    expect(r.code).toBe(4);
    const cast = await lastCast();
    expect(cast.header).toMatchObject({
      width: 100,
      height: 30,
      env: { TERM: 'xterm-256color', SHELL: account.shell },
    });
    expect(cast.events.at(-1)).toMatchObject({ code: 'x', data: '4' });
  });

  it('turns a 0x0 pty request into 80x24', async () => {
    const r = await run(client, 'stty size', { pty: { cols: 0, rows: 0 } });
    expect(r.stdout.toString()).toBe('24 80\r\n');
    expect((await lastCast()).header).toMatchObject({ width: 80, height: 24 });
  });

  it('outlives the client’s EOF', async () => {
    // EOF is sent at once (as OpenSSH does for `ssh -tt host cmd </dev/null`).
    const r = await run(client, 'sleep 0.3; echo still-here', { pty: { cols: 80, rows: 24 } });
    expect(r.stdout.toString()).toBe('still-here\r\n');
    expect(r.code).toBe(0);
  });

  it('resizes on window-change, ignores a 0 side, clamps to 1000, and records what was applied', async () => {
    const r = await run(client, 'read a; stty size; read b; stty size; read c; stty size', {
      pty: { cols: 80, rows: 24 },
      keepOpen: true,
      onChannel: (ch) => {
        const steps = [
          () => ch.setWindow(40, 120, 0, 0),
          () => ch.setWindow(0, 0, 0, 0),
          () => ch.setWindow(70000, 70000, 0, 0),
        ];
        let seen = 0;
        let out = '';
        const next = () => {
          const step = steps.shift();
          if (!step) return;
          step();
          ch.write('\n');
        };
        ch.on('data', (d: Buffer) => {
          out += d.toString();
          const sizes = out.match(/\d+ \d+\r\n/g)?.length ?? 0;
          if (sizes > seen) {
            seen = sizes;
            next();
          }
        });
        next();
      },
    });
    const sizes = r.stdout.toString().match(/\d+ \d+/g);
    expect(sizes).toEqual(['40 120', '40 120', '1000 1000']);
    const cast = await lastCast();
    expect(cast.events.filter((e) => e.code === 'r').map((e) => e.data)).toEqual([
      '120x40',
      '1000x1000',
    ]);
  });

  it('records a UTF-8 character split across two writes as one character', async () => {
    const r = await run(client, "printf '\\360\\237'; sleep 0.2; printf '\\230\\200\\n'", {
      pty: { cols: 80, rows: 24 },
    });
    expect(r.stdout.toString()).toBe('😀\r\n');
    const cast = await lastCast();
    expect(outputText(cast)).toBe('😀\r\n');
    expect(cast.events.filter((e) => e.code === 'o').length).toBeGreaterThanOrEqual(1);
  });
});

describe('a session that waits for its recording to be accepted (remote policy closed)', () => {
  it('starts at the window size the client changed to meanwhile, and records the change', async () => {
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const recorder = memoryRecorder();
    // As a closed remote policy does: the session may not start before the gate opens.
    recorder.on('start', (recording) => recording.waitFor(gate));
    const waiting = await startTestServer({
      identity: { account, keyOptions: {} },
      recorder,
      log: () => {},
    });
    const c = await connect(waiting.port);
    try {
      const r = await run(c, 'stty size', {
        pty: { cols: 80, rows: 24 },
        onChannel: (ch) => {
          ch.setWindow(30, 100, 0, 0);
          // A request the server answers: packets are handled in order, so once it is answered
          // the window change has been too. Then the gate opens.
          c.openssh_noMoreSessions(() => open());
        },
      });
      expect(r.stdout.toString()).toBe('30 100\r\n');
      const cast = await lastCast();
      expect(cast.header).toMatchObject({ width: 80, height: 24 });
      expect(cast.events[0]).toMatchObject({ code: 'r', data: '100x30' });
    } finally {
      c.end();
      await waiting.close();
    }
  });
});

describe('requests that are refused', () => {
  it('rejects a subsystem without a handler, and agent forwarding, without hanging', async () => {
    const err = await new Promise<Error | undefined>((resolve) =>
      client.subsys('sftp', (e) => resolve(e)),
    );
    expect(err?.message).toMatch(/Unable to start subsystem|failure/i);
    const ok = await run(client, 'echo $SSH_AUTH_SOCK.', {});
    expect(ok.stdout.toString()).toBe('.\n');
  });

  it('serves a subsystem the host gives a handler for', async () => {
    const s = await startTestServer({
      identity: { account, keyOptions: {} },
      recorder: memoryRecorder(),
      subsystems: { hello: (ch) => ch.end('hi from subsystem\n') },
    });
    const c = await connect(s.port);
    const text = await new Promise<string>((resolve, reject) =>
      c.subsys('hello', (e, ch) => {
        if (e) return reject(e);
        let out = '';
        ch.on('data', (d: Buffer) => (out += d.toString())).on('close', () => resolve(out));
      }),
    );
    expect(text).toBe('hi from subsystem\n');
    c.end();
    await s.close();
  });

  it('honours the key’s command=, no-pty and environment=', async () => {
    const s = await startTestServer({
      identity: {
        account,
        keyOptions: {
          command: 'echo forced:$SSH_ORIGINAL_COMMAND:$KEYVAR',
          noPty: true,
          environment: { KEYVAR: 'k' },
        },
      },
      recorder: memoryRecorder(),
    });
    const c = await connect(s.port);
    const r = await run(c, 'rm -rf /nothing');
    expect(r.stdout.toString()).toBe('forced:rm -rf /nothing:k\n');
    expect((await lastCast()).header.command).toBe('echo forced:$SSH_ORIGINAL_COMMAND:$KEYVAR');
    const ptyErr = await new Promise<Error | undefined>((resolve) =>
      c.exec('true', { pty: { rows: 24, cols: 80 } }, (e) => resolve(e)),
    );
    expect(ptyErr).toBeInstanceOf(Error);
    c.end();
    await s.close();
  });
});

describe('several sessions on one connection', () => {
  it('gives each its own recording', async () => {
    const before = main.sinks.length;
    const [a, b] = await Promise.all([
      run(client, 'sleep 0.2; echo first'),
      run(client, 'echo second', { pty: { cols: 80, rows: 24 } }),
    ]);
    expect(a.stdout.toString()).toBe('first\n');
    expect(b.stdout.toString()).toBe('second\r\n');
    await main.waitForRecordings(before + 2);
    expect(main.sinks).toHaveLength(before + 2);
    const texts = main.sinks.slice(before).map((s) => outputText(parseCast(s.text())));
    expect(texts.sort()).toEqual(['first\n', 'second\r\n']);
  });
});

describe('failure policy', () => {
  it('refuses the session with "can\'t start new recording" when the recording cannot start', async () => {
    const parent = tempDir();
    const dir = `${parent}/rec`;
    fs.writeFileSync(dir, 'a file where the directory should be');
    const recorder = new Recorder({ enabled: true, dir, log: () => {} });
    // The fault is real: the recorder cannot open its directory.
    expect(() => recorder.check()).toThrow();
    const s = await startTestServer({ identity: { account, keyOptions: {} }, recorder });
    const c = await connect(s.port);
    const r = await run(c, 'echo should-not-run');
    expect(r.stdout.toString()).toBe('');
    expect(r.stderr.toString()).toBe("can't start new recording\n");
    expect(r.code).toBe(1);
    c.end();
    await s.close();
    fs.rmSync(parent, { recursive: true });
  });

  it('continues unrecorded with onStartFailure "continue"', async () => {
    const parent = tempDir();
    fs.writeFileSync(`${parent}/rec`, '');
    const recorder = new Recorder({
      enabled: true,
      dir: `${parent}/rec`,
      onStartFailure: 'continue',
      log: () => {},
    });
    const failures: unknown[] = [];
    recorder.on('start-failure', (e) => failures.push(e));
    const s = await startTestServer({ identity: { account, keyOptions: {} }, recorder });
    const c = await connect(s.port);
    const r = await run(c, 'echo ran');
    expect(r.stdout.toString()).toBe('ran\n');
    expect(failures).toHaveLength(1);
    c.end();
    await s.close();
    fs.rmSync(parent, { recursive: true });
  });

  for (const policy of ['continue', 'terminate'] as const) {
    it(`on a write failure mid-session: ${policy}`, async () => {
      const failing = new MemorySink();
      let writes = 0;
      const write = failing.write.bind(failing);
      failing.write = (b: Buffer) => {
        if (++writes === 3) {
          queueMicrotask(() => failing.emit('error', new Error('disk on fire')));
          return true;
        }
        return write(b);
      };
      const recorder = new Recorder({
        enabled: true,
        onWriteFailure: policy,
        log: () => {},
        sink: () => failing,
      });
      const seen: Error[] = [];
      recorder.on('write-failure', (e) => seen.push(e));
      const s = await startTestServer({ identity: { account, keyOptions: {} }, recorder });
      const c = await connect(s.port);
      const r = await run(c, 'echo one; sleep 0.3; echo two; sleep 0.3; echo three');
      expect(seen.map((e) => e.message)).toEqual([expect.stringContaining('disk on fire')]);
      if (policy === 'continue') {
        expect(r.stdout.toString()).toBe('one\ntwo\nthree\n');
        expect(r.code).toBe(0);
      } else {
        expect(r.stdout.toString()).not.toContain('three');
        expect(r.stderr.toString()).toContain('recording failed');
        expect(r.code).not.toBe(0);
      }
      c.end();
      await s.close();
    });
  }
});

function ptyDescriptors(): string[] {
  return fs
    .readdirSync('/proc/self/fd')
    .map((fd) => {
      try {
        return fs.readlinkSync(`/proc/self/fd/${fd}`);
      } catch {
        return '';
      }
    })
    .filter((l) => l.startsWith('/dev/pts') || l === '/dev/ptmx');
}

describe('client gone', () => {
  for (const pty of [true, false]) {
    it(`${pty ? 'pty' : 'exec'}: the process gets SIGHUP, the recording ends with x, nothing is left`, async () => {
      const dir = tempDir();
      const before = ptyDescriptors().length;
      const c = await connect(server.port);
      let pid = 0;
      const script = `trap 'echo hup > ${dir}/hup; exit 0' HUP; echo pid=$$; while :; do sleep 0.05; done`;
      await new Promise<void>((resolve, reject) =>
        c.exec(script, pty ? { pty: { rows: 24, cols: 80 } } : {}, (e, ch) => {
          if (e) return reject(e);
          ch.on('data', (d: Buffer) => {
            const m = /pid=(\d+)/.exec(d.toString());
            if (m) {
              pid = Number(m[1]);
              resolve();
            }
          });
        }),
      );
      expect(fs.existsSync(`/proc/${pid}`)).toBe(true);
      // Drop the connection without a goodbye.
      (c as unknown as { _sock: { destroy(): void } })._sock.destroy();
      await until(() => (fs.existsSync(`${dir}/hup`) ? true : undefined), 'the SIGHUP trap', {
        watch: dir,
      });
      const cast = await lastCast();
      expect(cast.events.at(-1)?.code).toBe('x');
      await until(
        () => (fs.existsSync(`/proc/${pid}`) ? undefined : true),
        'the process to be gone',
      );
      await until(
        () => (ptyDescriptors().length === before ? true : undefined),
        'pty descriptors to be closed',
      );
      fs.rmSync(dir, { recursive: true });
    });
  }
});

describe('backpressure', () => {
  for (const pty of [true, false]) {
    it(`${pty ? 'pty' : 'exec'}: a client that stops reading pauses the process; memory stays bounded`, async () => {
      const c = await connect(server.port);
      const baseline = process.memoryUsage().rss;
      let received = 0;
      let channel!: ssh2.ClientChannel;
      await new Promise<void>((resolve, reject) =>
        c.exec(
          'yes 0123456789abcdefghijklmnopqrstuvwxyz',
          pty ? { pty: { rows: 24, cols: 80 } } : {},
          (e, ch) => {
            if (e) return reject(e);
            channel = ch;
            ch.on('data', (d: Buffer) => {
              received += d.length;
              // Stop reading after the first window's worth: the client then sends no window adjust.
              if (received > 4 * 2 ** 20) {
                ch.pause();
                resolve();
              }
            });
          },
        ),
      );
      const last = started.at(-1)!;
      const sink = last.sink;
      // Give an unbounded server ample time to show itself: at hundreds of MB/s it would take GBs.
      let peak = 0;
      for (let i = 0; i < 30; i++) {
        await new Promise((r) => setTimeout(r, 50));
        peak = Math.max(peak, process.memoryUsage().rss - baseline);
      }
      const recorded = sink.bytes().length;
      await new Promise((r) => setTimeout(r, 200));
      expect(sink.bytes().length - recorded).toBeLessThan(4 * 2 ** 20);
      expect(peak).toBeLessThan(64 * 2 ** 20);
      channel.resume();
      channel.close();
      c.end();
      await finished(last);
    });
  }
});

describe('input backpressure', () => {
  it('a pty process that does not read its input pauses the client instead of queueing in the server', async () => {
    const c = await connect(server.port);
    let channel!: ssh2.ClientChannel;
    await new Promise<void>((resolve, reject) =>
      c.exec('stty raw -echo; echo ready; sleep 30', { pty: { rows: 24, cols: 80 } }, (e, ch) => {
        if (e) return reject(e);
        channel = ch;
        ch.on('data', (d: Buffer) => d.toString().includes('ready') && resolve());
      }),
    );
    const chunk = Buffer.alloc(256 * 1024, 'x');
    let accepted = 0;
    // Write until ssh's own flow control says stop: the server stopped taking input.
    for (let i = 0; i < 200; i++) {
      const ok = channel.write(chunk);
      accepted += chunk.length;
      if (!ok) break;
      await new Promise((r) => setImmediate(r));
    }
    // A stalled client is stopped after about one window (2 MiB) plus the server's 64 KiB.
    expect(accepted).toBeLessThan(16 * 2 ** 20);
    const blocked = await Promise.race([
      new Promise<boolean>((r) => channel.once('drain', () => r(false))),
      new Promise<boolean>((r) => setTimeout(() => r(true), 1000)),
    ]);
    expect(blocked).toBe(true);
    channel.close();
    c.end();
  });
});

describe('input recording', () => {
  it('records keystrokes as i events only when the recorder records input', async () => {
    for (const recordInput of [false, true]) {
      const s = await startTestServer({
        identity: { account, keyOptions: {} },
        recorder: memoryRecorder({ recordInput }),
      });
      const c = await connect(s.port);
      const r = await run(c, 'read line; echo got-$line', {
        pty: { cols: 80, rows: 24 },
        input: 'secret\r',
      });
      expect(r.stdout.toString()).toContain('got-secret');
      const inputs = (await lastCast()).events.filter((e) => e.code === 'i').map((e) => e.data);
      expect(inputs).toEqual(recordInput ? ['secret\r'] : []);
      c.end();
      await s.close();
    }
  });
});
