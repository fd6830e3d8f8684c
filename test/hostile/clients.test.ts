/**
 * Hostile and broken clients against the built example server (a child process, watched through
 * /proc): a connection reset mid-session, a client that stops reading a flood, hundreds of window
 * changes a second, and garbage on the channel and on the TCP connection. The server stays up,
 * every recording is finished and valid, and nothing leaks.
 */
import fs from 'node:fs';
import net from 'node:net';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type ssh2 from 'ssh2';
import { parseCast, type Cast } from '../../src/asciicast/reader.js';
import { DEFAULT_PER_SOURCE_MAX_STARTUPS } from '../../src/ssh/limits.js';
import { recordingAfter, recordings, requireTool, until } from '../helpers/e2e.js';
import { openChannel, startServerEnv, type ServerEnv } from '../faults/server-env.js';
import { descendants, fdCount, processesWith, rssBytes } from '../faults/proc.js';
import fc from 'fast-check';
import { SEED } from '../fuzz/seed.js';

/** One value of `arb`, the same for the same seed. */
function sample<T>(arb: fc.Arbitrary<T>, seed: number): T {
  return fc.sample(arb, { seed, numRuns: 1 })[0]!;
}

/** `n` uniformly random bytes (no bias towards small values). */
function bytes(n: number): fc.Arbitrary<Uint8Array> {
  return fc.noBias(fc.uint8Array({ minLength: n, maxLength: n }));
}

let env: ServerEnv;
let baselineFds: number;

beforeAll(async () => {
  for (const tool of ['ssh-keygen']) requireTool(tool);
  env = await startServerEnv(['--keepalive', '0']);
  // One session first, so lazily opened descriptors (the directory, the host key) are counted.
  await exec('true');
  await until(() => (descendants(env.pid).length === 0 ? true : undefined), 'warm-up to end');
  baselineFds = fdCount(env.pid);
}, 60_000);
afterAll(async () => env?.close());

/** Runs `command` on a new connection; returns its output and exit code. */
async function exec(command: string, pty?: { cols: number; rows: number }) {
  const client = await env.connect();
  try {
    const ch = await openChannel(client, command, pty);
    const out: Buffer[] = [];
    ch.on('data', (d: Buffer) => out.push(d));
    ch.stderr.on('data', () => {});
    const closed = once(ch, 'close');
    const [code] = (await once(ch, 'exit')) as [number];
    // ssh2 emits 'close' only once this side has ended too.
    ch.end();
    await closed;
    return { out: Buffer.concat(out).toString(), code };
  } finally {
    client.end();
  }
}

/** The recording that appears after `before`, once it has its x event. */
async function finishedAfter(before: string[]): Promise<Cast> {
  const file = await recordingAfter(env.dir, before);
  return until(
    () => {
      const cast = parseCast(fs.readFileSync(file, 'utf8'));
      return cast.events.at(-1)?.code === 'x' ? cast : undefined;
    },
    `${file} to finish`,
    { watch: file },
  );
}

/** Waits until the server's descriptors and children are back to where they started. */
async function noLeaks(): Promise<void> {
  await until(
    () => (descendants(env.pid).length === 0 ? true : undefined),
    'no session process left',
  );
  await until(
    () => (fdCount(env.pid) <= baselineFds ? true : undefined),
    `descriptors back to ${baselineFds}`,
  );
}

function outputOf(cast: Cast): string {
  return cast.events
    .filter((e) => e.code === 'o')
    .map((e) => e.data)
    .join('');
}

describe('a client that vanishes', () => {
  it('connection reset mid-session: the process is hung up, the recording finished, nothing leaks', async () => {
    const before = recordings(env.dir);
    const marker = `8${Math.floor(Math.random() * 1e6)}.25`;
    const client = await env.connect();
    const ch = await openChannel(
      client,
      `while :; do echo tick; sleep 0.05; done & sleep ${marker}`,
      {
        cols: 80,
        rows: 24,
      },
    );
    let shown = '';
    ch.on('data', (d: Buffer) => (shown += d.toString()));
    await until(() => (processesWith(marker).length > 0 ? true : undefined), 'the session process');
    await until(() => (shown.includes('tick') ? true : undefined), 'output', {
      on: [[ch, 'data']],
    });
    const sock = (client as unknown as { _sock: net.Socket })._sock;
    sock.resetAndDestroy();
    // The fault: the TCP connection is gone with a reset.
    expect(sock.destroyed).toBe(true);
    const cast = await finishedAfter(before);
    expect(outputOf(cast)).toContain('tick');
    expect(cast.events.at(-1)).toMatchObject({ code: 'x', data: '129' }); // SIGHUP
    await until(
      () => (processesWith(marker).length === 0 ? true : undefined),
      'the process to end',
    );
    await noLeaks();
    expect((await exec('echo alive')).out).toBe('alive\n');
  });
});

describe('a client that stops reading', () => {
  it('a flood to a stalled client pauses the command: server memory and the recording stay bounded; a reset then ends it', async () => {
    const before = recordings(env.dir);
    const idle = rssBytes(env.pid);
    const client = await env.connect();
    const ch = await openChannel(client, 'head -c 1000000000 /dev/zero | tr "\\0" a', {
      cols: 80,
      rows: 24,
    });
    // Stop reading: ssh2 stops granting window once its buffer is full.
    ch.pause();
    const file = await recordingAfter(env.dir, before);
    // Sample until the recording stops growing (the pty is paused), at most 15 s.
    let peak = idle;
    let last = -1;
    let stable = 0;
    for (let i = 0; i < 150 && stable < 10; i++) {
      await new Promise((r) => setTimeout(r, 100));
      peak = Math.max(peak, rssBytes(env.pid));
      const size = fs.statSync(file).size;
      stable = size === last && size > 0 ? stable + 1 : 0;
      last = size;
    }
    // The fault: the client really stalled, so the flood stopped well short of 1 GB.
    console.log(
      `stalled client: recording stopped at ${last} bytes, server RSS +${((peak - idle) / 2 ** 20).toFixed(1)} MiB over idle`,
    );
    expect(stable).toBe(10);
    expect(last).toBeLessThan(64 * 1024 * 1024);
    expect(peak - idle).toBeLessThan(64 * 1024 * 1024);
    // Then it vanishes while the command is paused for it: the session still ends cleanly.
    (client as unknown as { _sock: net.Socket })._sock.resetAndDestroy();
    const cast = await finishedAfter(before);
    expect(cast.events.at(-1)?.code).toBe('x');
    await noLeaks();
  });
});

describe('window changes, hundreds a second', () => {
  it('2,000 resizes (some 0x0, some 70000x70000): clamped, recorded as applied, the session still works', async () => {
    const before = recordings(env.dir);
    const client = await env.connect();
    const ch = await openChannel(client, 'read line; stty size', { cols: 80, rows: 24 });
    let out = '';
    ch.on('data', (d: Buffer) => (out += d.toString()));
    // One in ten 0x0, one in ten 70000x70000, the rest ordinary sizes; seeded.
    const sizes = sample(
      fc.array(
        fc.oneof(
          { weight: 1, arbitrary: fc.constant([0, 0]) },
          { weight: 1, arbitrary: fc.constant([70000, 70000]) },
          {
            weight: 8,
            arbitrary: fc.tuple(fc.integer({ min: 1, max: 300 }), fc.integer({ min: 1, max: 100 })),
          },
        ),
        { minLength: 2000, maxLength: 2000 },
      ),
      SEED,
    );
    let applied = 0;
    for (const [cols, rows] of sizes) {
      ch.setWindow(rows!, cols!, 0, 0);
      if (cols! > 0 && rows! > 0) applied++;
    }
    ch.setWindow(33, 111, 0, 0);
    applied++;
    const closed = once(ch, 'close');
    ch.write('go\n');
    await once(ch, 'exit');
    ch.end();
    await closed;
    client.end();
    expect(out).toContain('33 111');
    const cast = await finishedAfter(before);
    const resizes = cast.events.filter((e) => e.code === 'r').map((e) => e.data);
    expect(resizes).toHaveLength(applied);
    for (const r of resizes) {
      const [c, w] = r.split('x').map(Number);
      expect(c).toBeGreaterThan(0);
      expect(c).toBeLessThanOrEqual(1000);
      expect(w).toBeGreaterThan(0);
      expect(w).toBeLessThanOrEqual(1000);
    }
    expect(resizes).toContain('1000x1000');
    expect(resizes.at(-1)).toBe('111x33');
    await noLeaks();
  });
});

describe('garbage', () => {
  it('random bytes on the channel (raw pty, and a pipe): every byte arrives, the recording is valid', async () => {
    const garbage = Buffer.from(sample(bytes(200_000), SEED + 1));
    for (const pty of [undefined, { cols: 80, rows: 24 }]) {
      const before = recordings(env.dir);
      const client = await env.connect();
      // In a pty the line discipline must be raw before the garbage comes (no echo, no ^C).
      const command = pty ? 'stty raw -echo; echo ready; head -c 200000 | wc -c' : 'wc -c';
      const ch = await openChannel(client, command, pty);
      let out = '';
      ch.on('data', (d: Buffer) => (out += d.toString()));
      if (pty)
        await until(() => (out.includes('ready') ? true : undefined), 'raw mode', {
          on: [[ch, 'data']],
        });
      const closed = once(ch, 'close');
      ch.write(garbage);
      if (!pty) ch.end();
      await once(ch, 'exit');
      ch.end();
      await closed;
      client.end();
      expect(out.trim().split(/\s+/).at(-1)).toBe('200000');
      const cast = await finishedAfter(before);
      expect(cast.events.at(-1)).toMatchObject({ code: 'x', data: '0' });
      expect(cast.events.some((e) => e.code === 'i')).toBe(false);
    }
    await noLeaks();
  });

  /**
   * A raw TCP connection to the server, its errors handled from the start: a server that resets
   * it (a drop, as sshd's MaxStartups may) is a server that dropped it, not a failure here.
   */
  async function garbageSocket(): Promise<net.Socket> {
    const sock = net.connect(env.server.port, '127.0.0.1');
    sock.on('error', () => {});
    sock.on('data', () => {});
    // Plain listeners: events.once would reject on the reset's 'error', which is handled here.
    await new Promise<void>((resolve) => {
      sock.once('connect', () => resolve());
      sock.once('close', () => resolve());
    });
    return sock;
  }

  it('garbage instead of the SSH protocol, and after a valid banner: dropped, the server stays up', async () => {
    // A bad packet length right after the banner, and an HTTP request.
    const badLength = Buffer.from([0xff, 0xff, 0xff, 0xf0]);
    for (const prefix of [
      Buffer.concat([Buffer.from('SSH-2.0-evil\r\n'), badLength]),
      Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'),
    ]) {
      const sock = await garbageSocket();
      sock.write(Buffer.concat([prefix, sample(bytes(64 * 1024), SEED + 2)]));
      // The fault: the server hangs up on the garbage.
      await until(
        () => (sock.destroyed ? true : undefined),
        `the server to drop ${JSON.stringify(prefix.toString('latin1'))}`,
        { on: [[sock, 'close']] },
      );
    }
    // Garbage that looks like the start of a packet keeps its connection waiting (until the login
    // grace time): as many as one address may hold beside a real session do not stop it (the
    // server lets 5 connections from one address be unauthenticated at once, and ten in all
    // before it starts dropping, as sshd's MaxStartups does).
    const pending: net.Socket[] = [];
    for (let i = 0; i < DEFAULT_PER_SOURCE_MAX_STARTUPS - 1; i++) {
      const sock = await garbageSocket();
      sock.write(
        Buffer.concat([
          Buffer.from('SSH-2.0-slow\r\n'),
          Buffer.from([0, 0, 0x10, 0]),
          sample(bytes(100), SEED + 3 + i),
        ]),
      );
      pending.push(sock);
    }
    expect((await exec('echo still here')).out).toBe('still here\n');
    for (const sock of pending) sock.destroy();
    expect(env.server.child.exitCode).toBeNull();
    await noLeaks();
  });
});
