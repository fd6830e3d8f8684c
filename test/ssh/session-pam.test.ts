// The launcher as the session's parent, with PAM's session stage (a test-only service from the
// shipped file): who waits for whom, signals both ways, exit statuses, descriptors, job control,
// every byte of a fast exit, and PAM's session closed when the session ends.
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type ssh2 from 'ssh2';
import { parseCast } from '../../src/asciicast/reader.js';
import { Recorder } from '../../src/recording/recorder.js';
import { MemorySink } from '../../src/recording/sink.js';
import { lookupAccount } from '../../src/ssh/account.js';
import type { Identity } from '../../src/ssh/identity.js';
import { createAccount, type TestAccount } from '../helpers/accounts.js';
import { until } from '../helpers/e2e.js';
import { connect, run, startTestServer, type TestServer } from '../helpers/inprocess.js';
import { installTestPamService, type TestPamService } from '../helpers/pam.js';

let user: TestAccount;
let pam: TestPamService;
let server: TestServer;
let client: ssh2.Client;
const sinks: MemorySink[] = [];
const PTY = { cols: 80, rows: 24 };

beforeAll(async () => {
  if (process.getuid?.() !== 0) throw new Error('this test needs root (useradd, PAM)');
  user = createAccount({ prefix: 'shc-s-' });
  pam = installTestPamService();
  const identity: Identity = {
    account: (await lookupAccount(user.name))!,
    keyOptions: {},
    login: { remoteAddress: '192.0.2.9', pamService: pam.name },
  };
  server = await startTestServer({ identity, recorder: recorderFor(), log: () => {} });
  client = await connect(server.port);
});

afterAll(async () => {
  client?.end();
  await server?.close();
  user?.remove();
  pam?.remove();
});

/** A recorder whose recordings land in `sinks`. */
function recorderFor(): Recorder {
  return new Recorder({
    enabled: true,
    log: () => {},
    sink: () => {
      const s = new MemorySink();
      sinks.push(s);
      return s;
    },
  });
}

/** The `x` event of the last recording, once it is finished. */
async function lastExit(): Promise<string> {
  const sink = await until(() => (sinks.at(-1)?.closed ? sinks.at(-1) : undefined), 'recording');
  return parseCast(sink.text()).events.at(-1)!.data;
}

/** Opens a channel running `command`, resolves with it once `ready` was printed. */
function started(
  command: string,
  pty: boolean,
): Promise<{ channel: ssh2.ClientChannel; done: ReturnType<typeof run> }> {
  return new Promise((resolve) => {
    let out = '';
    const done = run(client, command, {
      keepOpen: true,
      ...(pty ? { pty: PTY } : {}),
      onChannel: (channel) => {
        channel.on('data', (d: Buffer) => {
          out += d.toString();
          if (out.includes('ready')) resolve({ channel, done });
        });
      },
    });
  });
}

describe('who waits for whom', () => {
  it('the shell leads its own session on the terminal; its parent is the root launcher, holding PAM', async () => {
    const r = await run(
      client,
      'ps -o pid=,ppid=,sid=,tty=,user= -p $$; ps -o user=,tty=,args= -p $PPID | cut -c1-40; cat /proc/self/loginuid; echo; cat /proc/$PPID/loginuid',
      { pty: PTY },
    );
    const lines = r.stdout.toString().split('\r\n');
    const [pid, , sid, tty, owner] = lines[0]!.trim().split(/\s+/);
    expect(sid).toBe(pid);
    expect(tty).toMatch(/^pts\/\d+$/);
    expect(owner).toBe(user.name);
    expect(lines[1]).toMatch(/^root\s+\?\s+\/usr\/bin\/perl -e/);
    expect(lines[2]).toBe(String(user.uid));
    expect(lines[3]).toBe(String(user.uid));
    expect(r.code).toBe(0);
  });

  it('PAM saw the client address and PAM_TTY ssh, and its session is closed when the session ends', async () => {
    const before = pam.calls().length;
    const r = await run(client, 'echo hi');
    expect(r.stdout.toString()).toBe('hi\n');
    const calls = await until(
      () => (pam.calls().length >= before + 2 ? pam.calls().slice(before) : undefined),
      'open and close of the PAM session',
    );
    expect(calls).toEqual([
      `open_session ${user.name} 192.0.2.9 ssh`,
      `close_session ${user.name} 192.0.2.9 ssh`,
    ]);
  });

  it('the session’s process holds only fds 0-2, with or without a pty', async () => {
    for (const pty of [false, true]) {
      const r = await run(client, 'ls /proc/self/fd', pty ? { pty: PTY } : {});
      // ls's own directory handle is the 4th.
      expect(r.stdout.toString().split(/\s+/).filter(Boolean)).toEqual(['0', '1', '2', '3']);
    }
  });
});

describe('exit statuses', () => {
  for (const pty of [false, true]) {
    it(`${pty ? 'pty' : 'pipes'}: a status, a signal ssh can name, one it cannot (128 + n), as the process ended`, async () => {
      const plain = await run(client, 'exit 3', pty ? { pty: PTY } : {});
      expect([plain.code, plain.signal, await lastExit()]).toEqual([3, undefined, '3']);
      const term = await run(client, 'kill -TERM $$', pty ? { pty: PTY } : {});
      expect([term.code, term.signal, await lastExit()]).toEqual([undefined, 'SIGTERM', '143']);
      // A core signal: the launcher raises it on itself without leaving a core file.
      const cores = () => fs.readdirSync('/').filter((f) => f.startsWith('core'));
      const coresBefore = cores();
      const segv = await run(client, 'kill -SEGV $$', pty ? { pty: PTY } : {});
      expect([segv.code, segv.signal, await lastExit()]).toEqual([undefined, 'SIGSEGV', '139']);
      const bus = await run(client, 'kill -BUS $$', pty ? { pty: PTY } : {});
      expect([bus.code, bus.signal, await lastExit()]).toEqual([135, undefined, '135']);
      expect(cores()).toEqual(coresBefore);
    });
  }
});

describe('signals from the client reach the session’s process group', () => {
  for (const pty of [false, true]) {
    it(`${pty ? 'pty' : 'pipes'}: INT reaches a trap in the shell and its command; KILL ends them all`, async () => {
      const a = await started(
        "trap 'echo got-int; exit 7' INT; echo ready; while :; do sleep 0.1; done",
        pty,
      );
      a.channel.signal('INT');
      const r = await a.done;
      expect(r.stdout.toString()).toContain('got-int');
      expect(r.code).toBe(7);

      const nap = `100.${Math.floor(Math.random() * 1e6)}`;
      const b = await started(`echo ready; sleep ${nap}; echo not-reached`, pty);
      const sleeper = await until(() => {
        const found = fs
          .readdirSync('/proc')
          .filter((p) => /^\d+$/.test(p))
          .find((p) => {
            try {
              return (
                fs.readFileSync(`/proc/${p}/cmdline`, 'utf8') === `sleep\x00${nap}\x00` &&
                fs.statSync(`/proc/${p}`).uid === user.uid
              );
            } catch {
              return false;
            }
          });
        return found;
      }, 'the sleep');
      b.channel.signal('KILL');
      const k = await b.done;
      expect(k.signal).toBe('SIGKILL');
      expect(k.stdout.toString()).not.toContain('not-reached');
      expect(await lastExit()).toBe('137');
      await until(() => (fs.existsSync(`/proc/${sleeper}`) ? undefined : true), 'the sleep to go');
    });
  }

  it('a client that goes away: the shell gets SIGHUP, and PAM’s session is closed', async () => {
    const other = await connect(server.port);
    const before = pam.calls().length;
    await new Promise<void>((resolve) => {
      let out = '';
      void run(other, "trap 'exit 9' HUP; echo ready; while :; do sleep 0.05; done", {
        keepOpen: true,
        pty: PTY,
        onChannel: (ch) =>
          ch.on('data', (d: Buffer) => {
            out += d.toString();
            if (out.includes('ready')) resolve();
          }),
      }).catch(() => {});
    });
    other.end();
    expect(await lastExit()).toBe('9');
    await until(
      () =>
        pam
          .calls()
          .slice(before)
          .some((c) => c.startsWith('close_session'))
          ? true
          : undefined,
      'the PAM session to close',
    );
  });
});

describe('the terminal', () => {
  it('job control works in an interactive shell: ^Z stops a job, bg and jobs see it', async () => {
    let out = '';
    const done = run(client, undefined, {
      keepOpen: true,
      pty: PTY,
      onChannel: (ch) => {
        ch.on('data', (d: Buffer) => (out += d.toString()));
        ch.write("PS1='$ '; echo ready\n");
        void until(() => (out.includes('ready') ? true : undefined), 'the shell').then(() => {
          ch.write('sleep 50\n');
          setTimeout(() => ch.write('\x1a'), 300);
          void until(() => (/Stopped/.test(out) ? true : undefined), 'a stopped job').then(() =>
            ch.write('bg; jobs; kill %1; exit\n'),
          );
        });
      },
    });
    const r = await done;
    expect(out).not.toMatch(/no job control/);
    expect(out).toMatch(/\[1\]\+\s+Stopped\s+sleep 50/);
    expect(out).toMatch(/\[1\]\+\s+Running\s+sleep 50 &/);
    expect(r.code).toBe(0);
  });

  it('every byte of a command that exits at once arrives, through the launcher', async () => {
    const short: string[] = [];
    for (let i = 0; i < 10; i++) {
      const n = 20_000 + i * 4321;
      const r = await run(client, `head -c ${n} /dev/zero | tr '\\0' a`, { pty: PTY });
      if (r.stdout.length !== n) short.push(`${r.stdout.length}/${n}`);
    }
    expect(short).toEqual([]);
  });
});

describe('a PAM session that cannot open', () => {
  it('the session does not start: PAM’s word on stderr, exit status 254 (as sshd)', async () => {
    const name = `sshcast-test-deny${Math.random().toString(36).slice(2, 8)}`;
    const file = `/etc/pam.d/${name}`;
    fs.writeFileSync(file, 'account required pam_permit.so\nsession required pam_deny.so\n', {
      flag: 'wx',
    });
    const identity: Identity = {
      account: (await lookupAccount(user.name))!,
      keyOptions: {},
      login: { remoteAddress: '192.0.2.9', pamService: name },
    };
    const denying = await startTestServer({
      identity,
      recorder: new Recorder({ enabled: false }),
      log: () => {},
    });
    const c = await connect(denying.port);
    try {
      const r = await run(c, 'echo ran');
      expect(r.stdout.toString()).toBe('');
      expect(r.stderr.toString()).toMatch(
        new RegExp(`^sshcast: PAM: cannot open a session \\(service ${name}\\): `),
      );
      expect(r.code).toBe(254);
    } finally {
      c.end();
      await denying.close();
      fs.rmSync(file, { force: true });
    }
  });
});

describe('a client gone while PAM opens the session', () => {
  it('no session starts after it, its recording ends, and nothing is left', async () => {
    // pam_exec holds the session stage for a moment, long enough to hang up inside it.
    const name = `sshcast-test-slow${Math.random().toString(36).slice(2, 8)}`;
    const file = `/etc/pam.d/${name}`;
    fs.writeFileSync(
      file,
      'account required pam_permit.so\nsession required pam_exec.so /bin/sleep 1\n',
      { flag: 'wx' },
    );
    const identity: Identity = {
      account: (await lookupAccount(user.name))!,
      keyOptions: {},
      login: { remoteAddress: '192.0.2.9', pamService: name },
    };
    const slow = await startTestServer({ identity, recorder: recorderFor(), log: () => {} });
    const c = await connect(slow.port);
    try {
      const marker = `6${Math.floor(Math.random() * 1e6)}.5`;
      const before = sinks.length;
      await new Promise<void>((resolve) =>
        run(c, `echo up; sleep ${marker}`, {
          keepOpen: true,
          pty: PTY,
          onChannel: () => resolve(),
        }).catch(() => {}),
      );
      c.end();
      const sink = await until(
        () => (sinks[before]?.closed ? sinks[before] : undefined),
        'the recording to end',
      );
      // The session's command never ran: it ended before its shell (by the hangup, 129, or
      // failing to become the account once its terminal was gone, 1).
      const cast = parseCast(sink.text());
      expect(cast.events.at(-1)!.code).toBe('x');
      expect(
        cast.events
          .filter((e) => e.code === 'o')
          .map((e) => e.data)
          .join(''),
      ).not.toContain('up');
      await new Promise((r) => setTimeout(r, 1500));
      const left = fs
        .readdirSync('/proc')
        .filter((p) => /^\d+$/.test(p))
        .filter((p) => {
          try {
            return fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(marker);
          } catch {
            return false;
          }
        });
      expect(left).toEqual([]);
    } finally {
      await slow.close();
      fs.rmSync(file, { force: true });
    }
  });
});
