/**
 * Load on one example server (a child process): 500 sessions one after another (ten per
 * connection, every tenth with a pty and three window changes), then 50 pty sessions at once on
 * their own connections, from in-process ssh2 clients, each printing known output. Every recording is complete and valid, holds exactly the events that
 * were sent, and afterwards the server has no more descriptors or child processes than before.
 */
import fs from 'node:fs';
import { once } from 'node:events';
import type ssh2 from 'ssh2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCast } from '../../src/asciicast/reader.js';
import { recordings, requireTool, until } from '../helpers/e2e.js';
import { openChannel, startServerEnv, type ServerEnv } from '../faults/server-env.js';
import { descendants, fdCount } from '../faults/proc.js';

const SEQUENTIAL = Number(process.env.SSHCAST_LOAD_SEQUENTIAL ?? 500);
const CONCURRENT = Number(process.env.SSHCAST_LOAD_CONCURRENT ?? 50);
const LINES = 20;

let env: ServerEnv;
let baseline: { fds: number; children: number };

beforeAll(async () => {
  requireTool('ssh-keygen');
  env = await startServerEnv(['--keepalive', '0']);
  await onConnection([0]); // warm-up: the directory, host key and first-use descriptors are open after it
  await settle(Infinity);
  baseline = { fds: fdCount(env.pid), children: descendants(env.pid).length };
}, 60_000);
afterAll(async () => env?.close());

/** Waits until the server's children are gone and its descriptors at most `fds`. */
async function settle(fds: number): Promise<void> {
  await until(
    () => (descendants(env.pid).length === 0 ? true : undefined),
    'session processes to end',
    30_000,
  );
  await until(
    () => (fdCount(env.pid) <= fds ? true : undefined),
    `descriptors back to ${fds}`,
    30_000,
  );
}

/** What session `id` sends and expects: every tenth has a pty and three window changes. */
function plan(id: number) {
  const pty = id % 10 === 0;
  const sizes: (readonly [number, number])[] = pty
    ? [
        [81 + (id % 50), 25],
        [100, 30 + (id % 20)],
        [120 + (id % 7), 40],
      ]
    : [];
  const eol = pty ? '\r\n' : '\n';
  const lines = Array.from({ length: LINES }, (_, i) => `s${id} line ${i + 1}${eol}`).join('');
  return { pty, sizes, output: pty ? `go${eol}${lines}` : lines };
}

/** One session on `client`: with a pty, three resizes and `go` first; then known output. */
async function session(client: ssh2.Client, id: number): Promise<void> {
  const want = plan(id);
  const seq = `seq -f "s${id} line %g" ${LINES}`;
  const ch = await openChannel(
    client,
    want.pty ? `read go; ${seq}` : seq,
    want.pty ? { cols: 80, rows: 24 } : undefined,
  );
  let out = '';
  ch.on('data', (d: Buffer) => (out += d.toString()));
  for (const [cols, rows] of want.sizes) ch.setWindow(rows, cols, 0, 0);
  if (want.pty) ch.write('go\n');
  const closed = once(ch, 'close');
  const [code] = (await once(ch, 'exit')) as [number];
  ch.end();
  await closed;
  expect(code).toBe(0);
  expect(out).toBe(want.output);
}

/** Sessions `ids`, one after another, on one connection. */
async function onConnection(ids: number[]): Promise<void> {
  const client = await env.connect();
  try {
    for (const id of ids) await session(client, id);
  } finally {
    client.end();
  }
}

/** Checks every recording: complete, valid, and holding exactly what its session sent. */
function checkRecordings(expected: number): void {
  const files = recordings(env.dir);
  expect(files).toHaveLength(expected);
  const seen = new Set<number>();
  for (const file of files) {
    const cast = parseCast(fs.readFileSync(file, 'utf8'));
    expect(cast.truncated).toBeUndefined();
    const output = cast.events
      .filter((e) => e.code === 'o')
      .map((e) => e.data)
      .join('');
    const id = Number(/s(\d+) line 1\r?\n/.exec(output)?.[1]);
    expect(Number.isInteger(id)).toBe(true);
    seen.add(id);
    const want = plan(id);
    expect(output).toBe(want.output);
    expect(cast.events.filter((e) => e.code === 'r').map((e) => e.data)).toEqual(
      want.sizes.map(([c, r]) => `${c}x${r}`),
    );
    expect(cast.events.at(-1)).toEqual(expect.objectContaining({ code: 'x', data: '0' }));
    expect(cast.events.filter((e) => e.code === 'x')).toHaveLength(1);
  }
  expect(seen.size).toBe(expected);
}

describe('load on one server', () => {
  it(`${SEQUENTIAL} sessions one after another, then ${CONCURRENT} at once: every recording complete and exact, no leaks`, async () => {
    // Ten sessions per connection, so that most of the time goes to sessions, not handshakes.
    for (let id = 1; id <= SEQUENTIAL; id += 10) {
      const n = Math.min(10, SEQUENTIAL - id + 1);
      await onConnection(Array.from({ length: n }, (_, k) => id + k));
    }
    await settle(baseline.fds);
    checkRecordings(1 + SEQUENTIAL);
    // At once: each on its own connection, all with a pty (ids that are multiples of ten).
    const first = Math.ceil((SEQUENTIAL + 1) / 10) * 10;
    const ids = Array.from({ length: CONCURRENT }, (_, i) => first + 10 * i);
    // The server lets only a few connections authenticate at once (like sshd's MaxStartups):
    // connect in small batches, then run every session at the same time.
    const clients: ssh2.Client[] = [];
    for (let i = 0; i < ids.length; i += 5) {
      clients.push(...(await Promise.all(ids.slice(i, i + 5).map(() => env.connect()))));
    }
    try {
      await Promise.all(ids.map((id, i) => session(clients[i]!, id)));
    } finally {
      for (const c of clients) c.end();
    }
    await settle(baseline.fds);
    checkRecordings(1 + SEQUENTIAL + CONCURRENT);
    expect(fdCount(env.pid)).toBeLessThanOrEqual(baseline.fds);
    expect(descendants(env.pid)).toHaveLength(baseline.children);
    expect(env.server.child.exitCode).toBeNull();
    // Each session opens a PAM session in its launcher (a perl process, ~0.2 s of CPU): 550 of
    // them took 211 s alone at load 10 on 2 cores. The bound is for a hang, not a speed target.
  }, 600_000);
});
