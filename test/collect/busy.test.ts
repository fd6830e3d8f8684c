/**
 * A device's token cannot take more of the collector than its share: requests one device has
 * open at once are capped (`maxRequestsPerDevice`), past it 429 with Retry-After, and another
 * device is served all the while. The attack first, against a collector without the cap: a
 * compromised device holds as many slow requests open as it likes.
 */
import fs from 'node:fs';
import http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { startCollector } from '../../src/collect/server.js';
import { parseTokens } from '../../src/collect/tokens.js';
import { DirStore } from '../../src/storage/dir.js';
import { DEVICES, METRICS_TOKEN, TOKENS_TEXT, deviceUploader } from '../helpers/collector.js';
import { tempDir } from '../helpers/e2e.js';
import { shipped, startFeed } from '../helpers/recording-feed.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const tus = { 'tus-resumable': '1.0.0' };
const auth = (token: string) => ({ authorization: `Bearer ${token}` });
const b64 = (s: string) => Buffer.from(s).toString('base64');
const nameOf = (i: number) => `ssh-session-17000000000000${String(i).padStart(5, '0')}-abcdef.cast`;

async function collector(maxRequestsPerDevice?: number) {
  const root = tempDir('store-');
  const c = await startCollector({
    store: new DirStore(root),
    tokens: parseTokens(TOKENS_TEXT),
    settleMs: 20,
    sweepMs: 0,
    log: () => {},
    ...(maxRequestsPerDevice !== undefined ? { maxRequestsPerDevice } : {}),
  });
  cleanups.push(() => c.close());
  return Object.assign(c, { root });
}

async function create(base: string, token: string, name: string): Promise<number> {
  const r = await fetch(`${base}/files`, {
    method: 'POST',
    headers: {
      ...tus,
      ...auth(token),
      'upload-defer-length': '1',
      'upload-metadata': `name ${b64(name)}`,
    },
  });
  await r.text();
  return r.status;
}

/** A PATCH that sends half its body and holds the rest: open until `release()`. */
function heldPatch(base: string, name: string) {
  const body = Buffer.alloc(2000, 0x61);
  const r = http.request(`${base}/files/${DEVICES.a.device}/${name}`, {
    method: 'PATCH',
    headers: {
      ...tus,
      ...auth(DEVICES.a.token),
      'upload-offset': '0',
      'content-type': 'application/offset+octet-stream',
      'content-length': String(body.length),
    },
  });
  const status = new Promise<number>((resolve, reject) => {
    r.on('response', (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode!));
    });
    r.on('error', reject);
  });
  r.write(body.subarray(0, 1000));
  cleanups.push(() => void r.destroy());
  return { status, release: () => r.end(body.subarray(1000)) };
}

/** `device`'s value of the collector's /metrics family `name` (0 when it has none). */
async function metric(base: string, name: string, device: string): Promise<number> {
  const text = await (await fetch(`${base}/metrics`, { headers: auth(METRICS_TOKEN) })).text();
  const m = new RegExp(`^${name}\\{device="${device}"\\} (\\d+)$`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

const refusedBusy = (base: string, device: string) =>
  metric(base, 'sshcast_collect_refused_busy_total', device);

/**
 * Waits (bounded) until the collector has taken `n` requests of device A: the held ones are
 * then open in its handler, counted against the cap.
 */
async function heard(base: string, n: number): Promise<void> {
  for (let i = 0; i < 250; i++) {
    if ((await metric(base, 'sshcast_collect_requests_total', DEVICES.a.device)) >= n) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`the collector did not take ${n} requests of ${DEVICES.a.device} in 5 s`);
}

describe('requests open at once, per device', () => {
  it('the attack: without a cap, one device holds 20 slow requests open and every one is taken', async () => {
    const c = await collector(Infinity);
    for (let i = 0; i < 20; i++) expect(await create(c.url, DEVICES.a.token, nameOf(i))).toBe(201);
    const held = Array.from({ length: 20 }, (_, i) => heldPatch(c.url, nameOf(i)));
    await heard(c.url, 40);
    // A 21st request is taken too: nothing stops a device from opening more.
    expect(await create(c.url, DEVICES.a.token, nameOf(99))).toBe(201);
    for (const h of held) h.release();
    expect(await Promise.all(held.map((h) => h.status))).toEqual(Array(20).fill(204));
  }, 60_000);

  it('with the cap: past it 429 with Retry-After, another device served, room again once they end', async () => {
    const c = await collector(4);
    for (let i = 0; i < 6; i++) expect(await create(c.url, DEVICES.a.token, nameOf(i))).toBe(201);
    const held = Array.from({ length: 4 }, (_, i) => heldPatch(c.url, nameOf(i)));
    await heard(c.url, 10);
    // The fifth open request of device A: refused at once, its body never read.
    const fifth = heldPatch(c.url, nameOf(4));
    fifth.release();
    expect(await fifth.status).toBe(429);
    const busy = await fetch(`${c.url}/files/${DEVICES.a.device}/${nameOf(5)}`, {
      method: 'HEAD',
      headers: { ...tus, ...auth(DEVICES.a.token) },
    });
    expect(busy.status).toBe(429);
    expect(busy.headers.get('retry-after')).toBe('1');
    // Device B is served all the while.
    expect(await create(c.url, DEVICES.b.token, nameOf(0))).toBe(201);
    // The held ones complete normally; then A has room again.
    for (const h of held) h.release();
    expect(await Promise.all(held.map((h) => h.status))).toEqual([204, 204, 204, 204]);
    const again = await fetch(`${c.url}/files/${DEVICES.a.device}/${nameOf(5)}`, {
      method: 'HEAD',
      headers: { ...tus, ...auth(DEVICES.a.token) },
    });
    expect(again.status).toBe(200);
    expect(await refusedBusy(c.url, DEVICES.a.device)).toBe(2);
    expect(await refusedBusy(c.url, DEVICES.b.device)).toBe(0);
  }, 60_000);

  it('an uploader told 429 waits quietly and ships everything', async () => {
    const c = await collector(1);
    const logged: string[] = [];
    const dir = tempDir('dev-');
    const up = await deviceUploader(c.url, dir, DEVICES.a, {
      backoffMinMs: 20,
      backoffMaxMs: 200,
      log: (m) => logged.push(m),
    });
    cleanups.push(() => up.close());
    const feeds = await Promise.all(
      [0, 1, 2].map((i) => startFeed(up, dir, { tickMs: 5, linesPerTick: 20, name: nameOf(i) })),
    );
    await new Promise((r) => setTimeout(r, 500));
    for (const f of feeds) await f.stop();
    for (const f of feeds) await shipped(up, f.name);
    for (const f of feeds) {
      const done = `${c.root}/.uploads/${DEVICES.a.device}/${f.name}/done`;
      for (let i = 0; i < 500 && !fs.existsSync(done); i++)
        await new Promise((r) => setTimeout(r, 20));
      expect(
        fs.readFileSync(`${c.root}/${DEVICES.a.device}/${f.name}`).equals(fs.readFileSync(f.file)),
      ).toBe(true);
    }
    expect(await refusedBusy(c.url, DEVICES.a.device)).toBeGreaterThan(0);
    expect(logged).toEqual([]);
  }, 60_000);
});
