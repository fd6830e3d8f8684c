/**
 * The collector's read side (GET /copies/): only the read token lists and reads stored copies,
 * finished and live; a device's token, the metrics token, no token or a wrong one get 401, so a
 * device still reads nothing back; paths outside a device's recordings and ledgers get 404.
 */
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCopiesPath } from '../../src/collect/read.js';
import { startCollector, type Collector } from '../../src/collect/server.js';
import { parseTokens } from '../../src/collect/tokens.js';
import { Uploader } from '../../src/remote/uploader.js';
import { DirStore } from '../../src/storage/dir.js';
import {
  DEVICES,
  METRICS_TOKEN,
  READ_TOKEN,
  TOKENS_TEXT,
  deviceUploader,
} from '../helpers/collector.js';
import { tempDir } from '../helpers/e2e.js';
import { shipped, startFeed, type Feed } from '../helpers/recording-feed.js';

describe('parseCopiesPath', () => {
  it('takes a device and a recording or ledger name, nothing else', () => {
    expect(parseCopiesPath('/copies/dev-a/')).toEqual({ device: 'dev-a', name: undefined });
    expect(parseCopiesPath('/copies/dev-a/x.cast')).toEqual({ device: 'dev-a', name: 'x.cast' });
    expect(parseCopiesPath('/copies/dev-a/.sshcast/ledger-5.jsonl')).toEqual({
      device: 'dev-a',
      name: '.sshcast/ledger-5.jsonl',
    });
    for (const bad of [
      '/copies/',
      '/copies/.uploads/dev-a',
      '/copies/dev-a/../x.cast',
      '/copies/dev-a/.sshcast/state',
      '/copies/dev-a/%2e%2e%2fx.cast',
      '/copies/dev-a/%zz',
    ])
      expect(parseCopiesPath(bad), bad).toBeUndefined();
  });
});

describe('GET /copies/', () => {
  let store: DirStore;
  let collector: Collector;
  let up: Uploader;
  let done: Feed;
  let live: Feed;

  beforeAll(async () => {
    store = new DirStore(tempDir('collector-'));
    collector = await startCollector({
      store,
      tokens: parseTokens(TOKENS_TEXT),
      settleMs: 20,
      sweepMs: 0,
      log: () => {},
    });
    const dir = tempDir('dev-');
    up = await deviceUploader(collector.url, dir);
    done = await startFeed(up, dir, { tickMs: 5 });
    live = await startFeed(up, dir, { tickMs: 1000 });
    while ((up.progress(done.name)?.acknowledged ?? 0) < 1000)
      await new Promise((r) => setTimeout(r, 20));
    await done.stop();
    await shipped(up, done.name);
    await up.flush();
    while (!(await store.head(`.uploads/${DEVICES.a.device}/${done.name}/done`)))
      await new Promise((r) => setTimeout(r, 50));
  }, 60_000);
  afterAll(async () => {
    await live?.stop(false);
    await up?.close();
    await collector?.close();
    store?.close();
  });

  const get = (p: string, token?: string, method = 'GET') =>
    fetch(`${collector.url}${p}`, {
      method,
      headers: token ? { authorization: `Bearer ${token}` } : {},
    });

  it('the read token lists a device: finished and live; and reads each byte for byte', async () => {
    const res = await get(`/copies/${DEVICES.a.device}/`, READ_TOKEN);
    expect(res.status).toBe(200);
    const list = (await res.json()) as { name: string; live: boolean; size: number }[];
    const byName = new Map(list.map((e) => [e.name, e]));
    expect(byName.get(done.name)).toMatchObject({ live: false });
    expect(byName.get(live.name)).toMatchObject({ live: true });
    const body = Buffer.from(
      await (await get(`/copies/${DEVICES.a.device}/${done.name}`, READ_TOKEN)).arrayBuffer(),
    );
    expect(body.equals(fs.readFileSync(done.file))).toBe(true);
    const partial = Buffer.from(
      await (await get(`/copies/${DEVICES.a.device}/${live.name}`, READ_TOKEN)).arrayBuffer(),
    );
    expect(partial.length).toBe(byName.get(live.name)!.size);
    expect(fs.readFileSync(live.file).subarray(0, partial.length).equals(partial)).toBe(true);
    expect((await get(`/copies/${DEVICES.b.device}/`, READ_TOKEN)).status).toBe(200);
    expect((await get(`/copies/${DEVICES.a.device}/nothing.cast`, READ_TOKEN)).status).toBe(404);
    expect((await get(`/copies/${DEVICES.a.device}/..%2f.uploads`, READ_TOKEN)).status).toBe(404);
  });

  it("a device's token, the metrics token, none or a wrong one: 401; writes: 405", async () => {
    const p = `/copies/${DEVICES.a.device}/${done.name}`;
    for (const token of [
      DEVICES.a.token,
      DEVICES.b.token,
      METRICS_TOKEN,
      undefined,
      'x'.repeat(40),
    ]) {
      const res = await get(p, token);
      expect(res.status).toBe(401);
      expect(await res.text()).toBe('the read token is needed\n');
      expect((await get(`/copies/${DEVICES.a.device}/`, token)).status).toBe(401);
    }
    for (const method of ['DELETE', 'PUT', 'POST', 'PATCH'])
      expect((await get(p, READ_TOKEN, method)).status).toBe(405);
    // The read token is no device's: it cannot create an upload.
    const post = await fetch(`${collector.url}/files`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${READ_TOKEN}`,
        'tus-resumable': '1.0.0',
        'upload-defer-length': '1',
        'upload-metadata': `name ${Buffer.from('x.cast').toString('base64')}`,
      },
    });
    expect(post.status).toBe(401);
    expect(
      fs
        .readFileSync(done.file)
        .equals(Buffer.from(await (await get(p, READ_TOKEN)).arrayBuffer())),
    ).toBe(true);
  });

  it('a tokens file may give the read role once, and it names no device', () => {
    expect(parseTokens(TOKENS_TEXT).devices).toEqual([DEVICES.a.device, DEVICES.b.device]);
    expect(() => parseTokens(`${TOKENS_TEXT}@read ${'y'.repeat(32)}\n`)).toThrow(/named twice/);
  });
});
