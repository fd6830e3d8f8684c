/**
 * What the collector writes: an upload whose device went silent is copied to its object after the
 * idle time (an hour by default; shortened here), and goes on when the device comes back; and the
 * bytes written to the store stay within 2x the bytes recorded for many small writes (typing),
 * where the stock S3 store re-uploads its pending part at every write.
 */
import fs from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { startCollector } from '../../src/collect/server.js';
import { parseTokens } from '../../src/collect/tokens.js';
import { DirStore } from '../../src/storage/dir.js';
import { uploadDir } from '../../src/storage/layout.js';
import { s3Settings } from '../../src/storage/location.js';
import { S3Store } from '../../src/storage/s3.js';
import { botoGet, botoList } from '../helpers/boto.js';
import { DEVICES, TOKENS_TEXT, deviceUploader } from '../helpers/collector.js';
import { tempDir } from '../helpers/e2e.js';
import { recordingName, shipped, startFeed } from '../helpers/recording-feed.js';
import { makeBucket, s3Env, useSwift } from '../helpers/swift.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function until(check: () => Promise<boolean> | boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`not reached in ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('the finisher', () => {
  it('copies a silent device’s upload to its object, and goes on when the device comes back', async () => {
    const swift = await useSwift();
    const bucket = await makeBucket(swift);
    const store = new S3Store(s3Settings(`s3://${bucket}/idle`, s3Env(swift)));
    const c = await startCollector({
      store,
      tokens: parseTokens(TOKENS_TEXT),
      settleMs: 20,
      leaseMs: 500,
      idleMs: 1500,
      sweepMs: 300,
      log: () => {},
    });
    cleanups.push(async () => {
      await c.close();
      store.close();
    });
    const dir = tempDir('dev-');
    const up = await deviceUploader(c.url, dir);
    cleanups.push(() => up.close());
    const feed = await startFeed(up, dir, { tickMs: 5 });
    await until(() => (up.progress(feed.name)?.acknowledged ?? 0) > 2000);
    await feed.stop(false); // the session goes quiet, its recording open
    await up.flush();
    const soFar = fs.readFileSync(feed.file);
    const key = `idle/${DEVICES.a.device}/${feed.name}`;
    await until(async () => (await botoList(swift, bucket, key)).some((o) => o.key === key));
    expect((await botoGet(swift, bucket, key)).equals(soFar)).toBe(true);
    const dirKey = `idle/${uploadDir(`${DEVICES.a.device}/${feed.name}`)}`;
    const keys = (await botoList(swift, bucket, dirKey)).map((o) => o.key.slice(dirKey.length));
    expect(keys).toContain('snapshot');
    expect(keys).not.toContain('done');

    // The device comes back: the upload goes on, and ends whole.
    fs.appendFileSync(feed.file, '[9.5, "o", "back again"]\n[9.6, "x", "0"]\n');
    up.closed(feed.name, fs.statSync(feed.file).size);
    await shipped(up, feed.name);
    await until(async () =>
      (await botoList(swift, bucket, dirKey)).some((o) => o.key.endsWith('/done')),
    );
    expect((await botoGet(swift, bucket, key)).equals(fs.readFileSync(feed.file))).toBe(true);
  }, 90_000);

  it('writes at most 2x the recorded bytes for 600 writes of 200 bytes (typing)', async () => {
    const root = tempDir('amp-');
    const store = new DirStore(root);
    const c = await startCollector({
      store,
      tokens: parseTokens(TOKENS_TEXT),
      settleMs: 10,
      sweepMs: 0,
      log: () => {},
    });
    cleanups.push(() => c.close());
    const name = recordingName();
    const auth = { authorization: `Bearer ${DEVICES.a.token}`, 'tus-resumable': '1.0.0' };
    const created = await fetch(`${c.url}/files`, {
      method: 'POST',
      headers: {
        ...auth,
        'upload-defer-length': '1',
        'upload-metadata': `name ${Buffer.from(name).toString('base64')}`,
      },
    });
    expect(created.status).toBe(201);
    const url = `${c.url}/files/${DEVICES.a.device}/${name}`;
    const chunk = `[1.0, "o", "${'k'.repeat(200 - 16)}"]\n`;
    let offset = 0;
    for (let i = 0; i < 600; i++) {
      const last = i === 599;
      const r = await fetch(url, {
        method: 'PATCH',
        headers: {
          ...auth,
          'upload-offset': String(offset),
          'content-type': 'application/offset+octet-stream',
          ...(last ? { 'upload-length': String(offset + chunk.length) } : {}),
        },
        body: chunk,
      });
      expect(r.status).toBe(204);
      offset += chunk.length;
    }
    const live = store.stats.uploadedBytes;
    // Each write stored once, plus the upload's few small records.
    expect(live).toBeLessThan(offset * 1.02 + 1024);
    await c.finisher.idle();
    expect(fs.statSync(`${root}/${DEVICES.a.device}/${name}`).size).toBe(offset);
    expect(store.stats.uploadedBytes / offset).toBeLessThanOrEqual(2.02);
  }, 120_000);
});

describe('the finisher under many endings at once', () => {
  it('composes at most `finishing` uploads at a time, and finishes every one', async () => {
    const root = tempDir('store-');
    let now = 0;
    let most = 0;
    class CountingStore extends DirStore {
      override async compose(...args: Parameters<DirStore['compose']>): Promise<void> {
        most = Math.max(most, ++now);
        try {
          await new Promise((r) => setTimeout(r, 500)); // a slow store: composes overlap
          return await super.compose(...args);
        } finally {
          now--;
        }
      }
    }
    const store = new CountingStore(root);
    const c = await startCollector({
      store,
      tokens: parseTokens(TOKENS_TEXT),
      finishing: 3,
      sweepMs: 0,
      log: () => {},
    });
    cleanups.push(() => c.close());
    const dir = tempDir('dev-');
    const up = await deviceUploader(c.url, dir);
    cleanups.push(() => up.close());
    const feeds = await Promise.all(
      Array.from({ length: 12 }, () => startFeed(up, dir, { tickMs: 5 })),
    );
    await new Promise((r) => setTimeout(r, 100));
    await Promise.all(feeds.map((f) => f.stop(true)));
    for (const f of feeds) await shipped(up, f.name);
    await until(async () => {
      await c.finisher.idle();
      return feeds.every((f) => fs.existsSync(`${root}/${DEVICES.a.device}/${f.name}`));
    });
    for (const f of feeds)
      expect(fs.readFileSync(`${root}/${DEVICES.a.device}/${f.name}`)).toEqual(
        fs.readFileSync(f.file),
      );
    expect(most).toBeGreaterThan(1); // they did overlap...
    expect(most).toBeLessThanOrEqual(3); // ...but never more than three at once (12 without the bound)
  });
});
