// Connection limits as wired into the built example server: unauthenticated connections at once,
// and channels per connection.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import ssh2 from 'ssh2';
import { DEFAULT_MAX_CHANNELS, DEFAULT_MAX_UNAUTHENTICATED } from '../../src/ssh/limits.js';
import { makeKey, startExampleServer, tempDir, type ExampleServer } from '../helpers/e2e.js';

let dir: string;
let server: ExampleServer;
let key: { file: string; pub: string };

beforeAll(async () => {
  dir = tempDir('limits-');
  key = await makeKey(dir, 'k');
  const authorizedKeys = path.join(dir, 'authorized_keys');
  fs.writeFileSync(authorizedKeys, `${key.pub}\n`, { mode: 0o600 });
  server = await startExampleServer({
    args: ['--authorized-keys', authorizedKeys, '--host-key', path.join(dir, 'host_key')],
    env: { TS_DEBUG_LOG_SSH: undefined },
  });
});
afterAll(async () => {
  await server?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

function idle(port: number) {
  const s = net.connect(port, '127.0.0.1');
  s.on('error', () => {});
  const state = { socket: s, bytes: 0, closed: new Promise<void>((r) => s.on('close', () => r())) };
  s.on('data', (d) => (state.bytes += d.length));
  return state;
}

/** Whether the server sends its banner to a new connection now (and not closes it at once). */
async function greets(port: number): Promise<boolean> {
  const probe = idle(port);
  const banner = new Promise<boolean>((r) => probe.socket.once('data', () => r(true)));
  const greeted = await Promise.race([banner, probe.closed.then(() => false)]);
  probe.socket.destroy();
  await probe.closed;
  return greeted;
}

describe('the example server', () => {
  it(`closes a new connection at once while ${DEFAULT_MAX_UNAUTHENTICATED} are unauthenticated`, async () => {
    const idlers = Array.from({ length: DEFAULT_MAX_UNAUTHENTICATED }, () => idle(server.port));
    try {
      await expect.poll(() => idlers.every((i) => i.bytes > 0)).toBe(true); // each got the banner
      const extra = idle(server.port);
      await extra.closed;
      expect(extra.bytes).toBe(0);
      await server.waitFor(
        `connections not yet authenticated (max ${DEFAULT_MAX_UNAUTHENTICATED})`,
      );
    } finally {
      for (const i of idlers) i.socket.destroy();
      // The next test's login needs the server to have counted these out: its close events can
      // come after ours on a busy machine, and until then a new connection is refused.
      await expect.poll(() => greets(server.port), { timeout: 10_000 }).toBe(true);
    }
  });

  it(`refuses channels beyond ${DEFAULT_MAX_CHANNELS} on one connection`, async () => {
    const client = await new Promise<ssh2.Client>((resolve, reject) => {
      const c = new ssh2.Client();
      c.on('ready', () => resolve(c)).on('error', reject);
      c.connect({
        host: '127.0.0.1',
        port: server.port,
        username: 'root',
        privateKey: fs.readFileSync(key.file),
      });
    });
    try {
      const open = (): Promise<boolean> =>
        new Promise((resolve) => client.shell(false, (err) => resolve(!err)));
      const results: boolean[] = [];
      for (let i = 0; i < DEFAULT_MAX_CHANNELS + 1; i++) results.push(await open());
      expect(results.filter(Boolean).length).toBe(DEFAULT_MAX_CHANNELS);
      expect(results.at(-1)).toBe(false);
      await server.waitFor(`channels open (max ${DEFAULT_MAX_CHANNELS})`);
    } finally {
      client.end();
    }
  });
});
