/**
 * The built example server (plain node, dist/) against the real OpenSSH client.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import ssh2 from 'ssh2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  execFileP,
  finished,
  outputOf,
  readCast,
  recordingAfter,
  recordings,
  requireTool,
  ssh,
  sshOptions,
  startExampleServer,
  tempDir,
  until,
  type ExampleServer,
  authorizedKey,
  startRecordingServer,
} from '../helpers/e2e.js';
import { Tmux } from '../helpers/tmux.js';

const USER = 'root';
let work: string;
let dir: string;
let key: { file: string; pub: string };
let authorizedKeys: string;
let server: ExampleServer;

beforeAll(async () => {
  for (const tool of ['ssh', 'ssh-keygen', 'tmux', 'script', 'asciinema']) requireTool(tool);
  work = tempDir();
  dir = path.join(work, 'rec');
  ({ authorizedKeys, ...key } = await authorizedKey(work));
  server = await startRecordingServer({
    dir,
    hostKey: path.join(work, 'host_key'),
    authorizedKeys,
  });
});

afterAll(async () => {
  await server?.stop();
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

function childrenOf(pid: number): number[] {
  return fs
    .readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .filter((d) => {
      try {
        const stat = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
        return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid;
      } catch {
        return false;
      }
    })
    .map(Number);
}

/** The recording a session made: the one file that appeared since `before`. */
async function newRecording(before: string[]): Promise<ReturnType<typeof readCast>> {
  return finished(await recordingAfter(dir, before));
}

describe('the example server', () => {
  it('says where it records, and keeps its host key private', () => {
    expect(server.output()).toContain(`recording to ${dir}\n`);
    expect(server.output()).toMatch(/listening on 127\.0\.0\.1:\d+\n/);
    expect(fs.statSync(path.join(work, 'host_key')).mode & 0o777).toBe(0o600);
  });

  it('runs a command with its exit status; the recording is 0600 in a 0700 directory', async () => {
    const before = recordings(dir);
    const r = await ssh(server.port, key.file, USER, 'echo hi; echo oops >&2; exit 7');
    expect(r.stdout.toString()).toBe('hi\n');
    expect(r.stderr).toBe('oops\n');
    expect(r.code).toBe(7);
    const cast = await newRecording(before);
    expect(cast.header).toMatchObject({
      version: 2,
      command: 'echo hi; echo oops >&2; exit 7',
      localUser: USER,
    });
    expect(Object.keys(cast.header)).toEqual([
      'version',
      'width',
      'height',
      'timestamp',
      'command',
      'env',
      'localUser',
    ]);
    expect(outputOf(cast)).toBe('hi\noops\n');
    expect(cast.events.at(-1)).toEqual([expect.any(Number), 'x', '7']);
    const file = recordings(dir).find((f) => !before.includes(f))!;
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(fs.statSync(dir).mode & 0o777).toBe(0o700);
    expect(path.basename(file)).toMatch(/^ssh-session-\d+-[0-9a-f]+\.cast$/);
  });

  it('ends a non-pty command on the client’s EOF (`echo hi | ssh host cat`)', async () => {
    const r = await ssh(server.port, key.file, USER, 'cat', { input: 'hi\n' });
    expect(r.stdout.toString()).toBe('hi\n');
    expect(r.code).toBe(0);
  });

  it('records a UTF-8 character the program wrote in two halves as one character', async () => {
    const before = recordings(dir);
    const r = await ssh(
      server.port,
      key.file,
      USER,
      "printf '\\360\\237'; sleep 0.3; printf '\\230\\200'",
      { pre: ['-tt'] },
    );
    expect(r.stdout.toString()).toBe('😀');
    const cast = await newRecording(before);
    expect(outputOf(cast)).toBe('😀');
    expect(cast.text).not.toContain('\ufffd');
  });

  it('loses no byte of fast-exiting commands, on the client or in the recording (50 runs)', async () => {
    const sizes = Array.from({ length: 50 }, (_, i) => 20_000 + i * 997);
    const losses: string[] = [];
    const queue = [...sizes];
    const worker = async () => {
      for (let n = queue.shift(); n !== undefined; n = queue.shift()) {
        const before = recordings(dir);
        // -tt with stdin at EOF: OpenSSH asks for a 0x0 pty and sends EOF at once.
        const r = await ssh(server.port, key.file, USER, `head -c ${n} /dev/zero | tr '\\0' a`, {
          pre: ['-tt'],
        });
        if (r.stdout.length !== n) losses.push(`client got ${r.stdout.length} of ${n}`);
        const mine = await until(
          () =>
            recordings(dir)
              .filter((f) => !before.includes(f))
              .find((f) => fs.readFileSync(f, 'utf8').includes(`"command":"head -c ${n} `)),
          `the recording of ${n}`,
          { watch: dir },
        );
        const cast = await finished(mine);
        const recorded = outputOf(cast);
        if (recorded.length !== n || /[^a]/.test(recorded))
          losses.push(`recording has ${recorded.length} of ${n}`);
        expect(cast.header).toMatchObject({ width: 80, height: 24 });
      }
    };
    const fdsBefore = fs.readdirSync(`/proc/${server.child.pid}/fd`).length;
    await Promise.all([worker(), worker(), worker()]);
    expect(losses).toEqual([]);
    // Nothing left behind: no child process, no descriptor beyond what an idle server holds.
    await until(
      () => (childrenOf(server.child.pid!).length === 0 ? true : undefined),
      'no session processes left',
    );
    await until(
      () => (fs.readdirSync(`/proc/${server.child.pid}/fd`).length <= fdsBefore ? true : undefined),
      `the server's descriptors to return to ${fdsBefore}`,
    );
  }, 120_000);

  it('serves an interactive shell in a real terminal, with a resize', async () => {
    const tmux = new Tmux();
    const before = recordings(dir);
    try {
      tmux.start(['ssh', ...sshOptions(server.port, key.file), '-t', `${USER}@127.0.0.1`], 100, 30);
      tmux.type("PS1='sshcast$ '; stty size");
      await tmux.waitFor(/^30 100$/m, 'stty size 30 100');
      tmux.type('echo hello-$((6*7))');
      await tmux.waitFor(/^hello-42$/m);
      tmux.resize(120, 40);
      tmux.type('clear; stty size');
      await tmux.waitFor(/^40 120$/m, 'stty size 40 120');
      tmux.type('exit 3');
      await until(() => (tmux.alive() ? undefined : true), 'ssh to exit');
    } finally {
      tmux.kill();
    }
    const cast = await newRecording(before);
    expect(cast.header).toMatchObject({ width: 100, height: 30, localUser: USER });
    expect(cast.header.command).toBeUndefined();
    expect(cast.events.filter((e) => e[1] === 'r').map((e) => e[2])).toContain('120x40');
    expect(outputOf(cast)).toContain('hello-42');
    expect(cast.events.at(-1)?.slice(1)).toEqual(['x', '3']);
  });

  it('gives each session multiplexed on one connection its own recording', async () => {
    const before = recordings(dir);
    const client = new ssh2.Client();
    await new Promise<void>((resolve, reject) => {
      client.on('ready', () => resolve()).on('error', reject);
      client.connect({
        host: '127.0.0.1',
        port: server.port,
        username: USER,
        privateKey: fs.readFileSync(key.file),
      });
    });
    const exec = (cmd: string) =>
      new Promise<string>((resolve, reject) =>
        client.exec(cmd, (err, ch) => {
          if (err) return reject(err);
          let out = '';
          ch.on('data', (d: Buffer) => (out += d.toString())).on('close', () => resolve(out));
          ch.stderr.resume();
        }),
      );
    const outs = await Promise.all([exec('sleep 0.3; echo one'), exec('echo two')]);
    client.end();
    expect(outs).toEqual(['one\n', 'two\n']);
    const files = await until(
      () => {
        const f = recordings(dir).filter((x) => !before.includes(x));
        return f.length === 2 ? f : undefined;
      },
      'two recordings',
      { watch: dir },
    );
    const texts = await Promise.all(files.map(async (f) => outputOf(await finished(f))));
    expect(texts.sort()).toEqual(['one\n', 'two\n']);
  });

  it('Debian’s asciinema accepts every recording it made', async () => {
    const files = recordings(dir);
    expect(files.length).toBeGreaterThan(50);
    const bad: string[] = [];
    const queue = [...files];
    const worker = async () => {
      for (let f = queue.shift(); f !== undefined; f = queue.shift()) {
        // Debian's asciinema 2.2 needs a terminal: give it one with script(1).
        const r = await execFileP('script', ['-qec', `asciinema cat ${f}`, '/dev/null']);
        if (r.code !== 0) bad.push(`${path.basename(f)}: ${r.stdout.slice(-300)}`);
      }
    };
    await Promise.all([worker(), worker(), worker(), worker()]);
    expect(bad).toEqual([]);
  }, 120_000);
});

describe('start-up', () => {
  it('says recording is off when TS_DEBUG_LOG_SSH is not set, and records nothing', async () => {
    const off = tempDir();
    const s = await startRecordingServer({
      env: { TS_DEBUG_LOG_SSH: undefined },
      dir: path.join(off, 'rec'),
      hostKey: path.join(off, 'hk'),
      authorizedKeys,
    });
    try {
      expect(s.output()).toContain('recording off (TS_DEBUG_LOG_SSH is not set)\n');
      const r = await ssh(s.port, key.file, USER, 'echo unrecorded');
      expect(r.stdout.toString()).toBe('unrecorded\n');
      expect(fs.existsSync(path.join(off, 'rec'))).toBe(false);
    } finally {
      await s.stop();
      fs.rmSync(off, { recursive: true, force: true });
    }
  });

  /** The server stopped with a non-zero status and one line of output naming `what`, no stack. */
  function expectOneLineStop(s: ExampleServer, what: string): void {
    expect(s.child.exitCode).not.toBe(0);
    expect(s.output().trim().split('\n')).toHaveLength(1);
    expect(s.output()).toContain(what);
    expect(s.output()).not.toMatch(/\n\s+at /);
  }

  it('stops with one line naming TS_DEBUG_LOG_SSH when its value is invalid', async () => {
    const s = await startExampleServer({
      env: { TS_DEBUG_LOG_SSH: 'yes' },
      args: ['--dir', dir],
      expectExit: true,
    });
    expectOneLineStop(s, 'TS_DEBUG_LOG_SSH');
  });

  it('stops with one line naming --dir when it cannot create files there', async () => {
    const notDir = path.join(work, 'plain-file');
    fs.writeFileSync(notDir, '');
    const s = await startExampleServer({
      env: { TS_DEBUG_LOG_SSH: 'true' },
      args: ['--dir', path.join(notDir, 'rec')],
      expectExit: true,
    });
    expectOneLineStop(s, '--dir');
  });

  it('finishes open recordings with their x event on SIGTERM', async () => {
    const own = tempDir();
    const ownDir = path.join(own, 'rec');
    const s = await startRecordingServer({
      dir: ownDir,
      hostKey: path.join(own, 'hk'),
      authorizedKeys,
    });
    const session = ssh(s.port, key.file, USER, 'echo started; sleep 600', { pre: ['-tt'] });
    const file = await recordingAfter(ownDir);
    await until(
      () => (fs.readFileSync(file, 'utf8').includes('started') ? true : undefined),
      'output',
      { watch: file },
    );
    expect(await s.stop('SIGTERM')).toBe(0);
    await session;
    const cast = readCast(file);
    expect(cast.events.at(-1)?.[1]).toBe('x');
    fs.rmSync(own, { recursive: true, force: true });
  });

  it('finishes the recording of a client that stopped reading, on SIGTERM', async () => {
    const own = tempDir();
    const ownDir = path.join(own, 'rec');
    const s = await startRecordingServer({
      dir: ownDir,
      hostKey: path.join(own, 'hk'),
      authorizedKeys,
    });
    const client = spawn(
      'ssh',
      [...sshOptions(s.port, key.file), '-tt', `${USER}@127.0.0.1`, 'yes'],
      {
        stdio: ['pipe', 'pipe', 'ignore'],
      },
    );
    let seen = 0;
    // Read the first chunk, then stop reading: ssh, then the server, back up.
    await new Promise<void>((resolve) =>
      client.stdout!.once('data', (d: Buffer) => {
        seen += d.length;
        client.stdout!.pause();
        resolve();
      }),
    );
    const file = await recordingAfter(ownDir);
    expect(await s.stop('SIGTERM')).toBe(0);
    expect(readCast(file).events.at(-1)?.[1]).toBe('x');
    expect(seen).toBeGreaterThan(0);
    client.kill('SIGKILL');
    fs.rmSync(own, { recursive: true, force: true });
  });
});
