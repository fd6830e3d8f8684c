/**
 * The device's uploader against a real collector (in this process, storing in a directory; the
 * S3 path is covered by the collector tests): batching, collectors in order, a collector down at
 * start, a frozen network past the lag limit, a restart mid-upload, the ledger, and backoff.
 */
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startCollector, type Collector } from '../../src/collect/server.js';
import { parseTokens } from '../../src/collect/tokens.js';
import {
  LEDGER_FILE,
  Uploader,
  UploadStartError,
  type UploaderOptions,
} from '../../src/remote/uploader.js';
import { UPLOAD_THREAD_SCRIPT, endUploadThreadForTests } from '../../src/remote/http-thread.js';
import { DirStore } from '../../src/storage/dir.js';
import { listStored, openStored, readLedgerReceipts } from '../../src/storage/reader.js';
import { DEVICES, TOKENS_TEXT } from '../helpers/collector.js';
import { tempDir } from '../helpers/e2e.js';
import { startProxy, type Proxy } from '../helpers/proxy.js';
import { recordingName, shipped, startFeed } from '../helpers/recording-feed.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function collector(
  root = tempDir('store-'),
): Promise<Collector & { store: DirStore; root: string }> {
  const store = new DirStore(root);
  const c = await startCollector({
    store,
    tokens: parseTokens(TOKENS_TEXT),
    settleMs: 20,
    leaseMs: 2000,
    sweepMs: 0,
    log: () => {},
  });
  cleanups.push(() => c.close());
  return Object.assign(c, { store, root });
}

async function uploader(options: Partial<UploaderOptions> & { urls: string[]; dir?: string }) {
  const u = await Uploader.open({
    token: DEVICES.a.token,
    device: DEVICES.a.device,
    dir: options.dir ?? tempDir('dev-'),
    batchMs: 50,
    requestTimeoutMs: 1000,
    backoffMinMs: 50,
    backoffMaxMs: 300,
    log: () => {},
    ...options,
  });
  cleanups.push(() => u.close());
  return u;
}

async function until(check: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`not reached in ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The finished object's bytes, once the collector composed it. */
async function finished(c: { root: string }, name: string): Promise<Buffer> {
  const file = path.join(c.root, DEVICES.a.device, name);
  const done = path.join(c.root, '.uploads', DEVICES.a.device, name, 'done');
  await until(() => fs.existsSync(done));
  return fs.readFileSync(file);
}

function segmentsOf(c: { root: string }, name: string): number {
  const d = path.join(c.root, '.uploads', DEVICES.a.device, name, 'd');
  return fs.readdirSync(d).reduce((n, g) => n + fs.readdirSync(path.join(d, g)).length, 0);
}

describe('Uploader', () => {
  it('batches: writes within the window go in one request; while behind, everything waiting', async () => {
    const c = await collector();
    const proxy = await startProxy(c.url);
    cleanups.push(() => proxy.close());
    const up = await uploader({ urls: [proxy.url], batchMs: 400 });
    const feed = await startFeed(up, up.dir, { tickMs: 100_000 });
    await up.flush();
    const patches = () => proxy.requests.filter((r) => r.startsWith('PATCH')).length;
    const before = patches();
    // Five writes 20 ms apart, inside one 400 ms window: one request.
    const fd = fs.openSync(feed.file, 'a');
    const write = (text: string) => {
      fs.writeSync(fd, text);
      up.grew(feed.name, fs.fstatSync(fd).size);
    };
    for (let i = 0; i < 5; i++) {
      write(`[1.${i}, "o", "key ${i}"]\n`);
      await new Promise((r) => setTimeout(r, 20));
    }
    await up.flush();
    expect(patches() - before).toBe(1);
    // Behind (the network held): 500 writes wait, then go in one request.
    proxy.freeze();
    for (let i = 0; i < 500; i++) write(`[2.${i}, "o", "burst ${i}"]\n`);
    const held = patches();
    proxy.thaw();
    await up.flush();
    expect(patches() - held).toBeLessThanOrEqual(2);
    fs.closeSync(fd);
    up.closed(feed.name, fs.statSync(feed.file).size);
    await shipped(up, feed.name);
    expect((await finished(c, feed.name)).equals(fs.readFileSync(feed.file))).toBe(true);
    // Shipped: gone from the device's state.
    const state = JSON.parse(fs.readFileSync(path.join(up.dir, '.sshcast/uploads.json'), 'utf8'));
    expect(state.uploads).toEqual([]);
  }, 60_000);

  it('after a failed request it asks the offset (HEAD) before it sends again', async () => {
    const c = await collector();
    // An HTTP proxy in front of the collector that fails every 5th PATCH with a 503.
    const seen: string[] = [];
    let patches = 0;
    const front = http.createServer((req, res) => {
      seen.push(req.method!);
      if (req.method === 'PATCH' && ++patches % 5 === 0) {
        seen.push('(503)');
        req.resume();
        req.on('end', () => res.writeHead(503).end());
        return;
      }
      const target = new URL(req.url!, c.url);
      const out = http.request(target, { method: req.method, headers: req.headers }, (r) => {
        res.writeHead(r.statusCode!, r.headers);
        r.pipe(res);
      });
      req.pipe(out);
    });
    await new Promise<void>((r) => front.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise<void>((r) => front.close(() => r())));
    const up = await uploader({
      urls: [`http://127.0.0.1:${(front.address() as AddressInfo).port}`],
      batchMs: 20,
    });
    const feed = await startFeed(up, up.dir, { tickMs: 5, linesPerTick: 20 });
    await until(() => seen.filter((m) => m === '(503)').length >= 3);
    await feed.stop();
    await shipped(up, feed.name);
    // Every failure is followed by a HEAD, never by a PATCH at a guessed offset.
    seen.forEach((m, i) => {
      if (m === '(503)') expect(seen[i + 1]).toBe('HEAD');
    });
    expect((await finished(c, feed.name)).equals(fs.readFileSync(feed.file))).toBe(true);
  }, 60_000);

  it('tries the collectors in order: a dead first one, then the next', async () => {
    const dead = await deadUrl();
    const c = await collector();
    const up = await uploader({ urls: [dead, c.url] });
    const feed = await startFeed(up, up.dir, { tickMs: 5 });
    await up.accepted(feed.name, 10_000);
    await feed.stop();
    await shipped(up, feed.name);
    expect((await finished(c, feed.name)).equals(fs.readFileSync(feed.file))).toBe(true);
  });

  it('collector down at start: the upload is not accepted in time, records on, ships once it is up', async () => {
    const proxy = await startProxy(await deadUrl());
    cleanups.push(() => proxy.close());
    const up = await uploader({ urls: [proxy.url] });
    const feed = await startFeed(up, up.dir, { tickMs: 5 });
    await expect(up.accepted(feed.name, 500)).rejects.toBeInstanceOf(UploadStartError);
    // The device state lists it already, so a restart would ship it too.
    const state = fs.readFileSync(path.join(up.dir, '.sshcast/uploads.json'), 'utf8');
    expect(state).toContain(feed.name);
    expect(fs.statSync(path.join(up.dir, '.sshcast/uploads.json')).mode & 0o777).toBe(0o600);
    const c = await collector();
    proxy.setTarget(c.url);
    await up.accepted(feed.name, 15_000);
    await feed.stop();
    await shipped(up, feed.name);
    expect((await finished(c, feed.name)).equals(fs.readFileSync(feed.file))).toBe(true);
  }, 60_000);

  it('a frozen network past the lag limit: `lagging`, then it catches up (`caught-up`) and ships all', async () => {
    const c = await collector();
    const proxy: Proxy = await startProxy(c.url);
    cleanups.push(() => proxy.close());
    const up = await uploader({ urls: [proxy.url], maxLagMs: 1500, requestTimeoutMs: 800 });
    const feed = await startFeed(up, up.dir, { tickMs: 5, linesPerTick: 5 });
    await until(() => up.progress(feed.name)!.acknowledged > 5000);
    proxy.freeze();
    const frozenAt = performance.now();
    const lagging = await new Promise<number>((r) => up.once('lagging', (_n, lag) => r(lag)));
    expect(lagging).toBeGreaterThan(1500);
    expect(performance.now() - frozenAt).toBeLessThan(1500 + 3000);
    // Past the limit, still frozen: nothing more was acknowledged.
    const stuck = up.progress(feed.name)!.acknowledged;
    proxy.thaw();
    await new Promise<void>((r) => up.once('caught-up', () => r()));
    expect(up.progress(feed.name)!.acknowledged).toBeGreaterThan(stuck);
    await feed.stop();
    await shipped(up, feed.name);
    expect((await finished(c, feed.name)).equals(fs.readFileSync(feed.file))).toBe(true);
  }, 60_000);

  it('after a restart mid-upload, ships what the last run did not, as the file is on disk', async () => {
    const c = await collector();
    const dir = tempDir('dev-');
    const first = await uploader({ urls: [c.url], dir });
    const feed = await startFeed(first, dir, { tickMs: 5 });
    await until(() => first.progress(feed.name)!.acknowledged > 3000);
    await feed.stop(false);
    await first.close(); // the server went down mid-session: no `closed`
    fs.appendFileSync(feed.file, '[99, "o", "a cut-short last li'); // and the last write was cut short
    const second = await uploader({ urls: [c.url], dir });
    expect(second.names()).toEqual([feed.name]);
    await shipped(second, feed.name);
    expect((await finished(c, feed.name)).equals(fs.readFileSync(feed.file))).toBe(true);
  }, 60_000);

  it('ships the ledger, and on rotation finishes the old one; both readable with receipt times', async () => {
    const c = await collector();
    const dir = tempDir('dev-');
    const up = await uploader({ urls: [c.url], dir });
    fs.mkdirSync(path.join(dir, '.sshcast'), { recursive: true, mode: 0o700 });
    const ledger = path.join(dir, LEDGER_FILE);
    const entry = (seq: number, t0: number) =>
      `{"seq":${seq},"epoch":0,"time":${t0 + seq},"prev":"${'0'.repeat(64)}","kind":"tick","mac":"${'a'.repeat(64)}"}\n`;
    fs.writeFileSync(ledger, entry(0, 1000) + entry(1, 1000), { mode: 0o600 });
    up.grew(LEDGER_FILE, fs.statSync(ledger).size);
    await until(async () => (await listStored(c.store, DEVICES.a.device)).some((e) => e.size > 0));
    fs.appendFileSync(ledger, entry(2, 1000));
    up.grew(LEDGER_FILE, fs.statSync(ledger).size);
    await up.flush();
    const live = await openStored(c.store, DEVICES.a.device, '.sshcast/ledger-1000.jsonl');
    expect(live?.live).toBe(true);
    expect((await live!.read(0, 1 << 20)).equals(fs.readFileSync(ledger))).toBe(true);
    expect(live!.pieces!.length).toBe(2);
    const receipts = await readLedgerReceipts(
      c.store,
      DEVICES.a.device,
      '.sshcast/ledger-1000.jsonl',
    );
    expect(receipts!.map((r) => r.line)).toEqual([1, 2, 3]);
    expect(receipts!.every((r) => Math.abs(r.receivedAt - Date.now()) < 60_000)).toBe(true);
    expect(receipts![2]!.receivedAt).toBeGreaterThanOrEqual(receipts![0]!.receivedAt);
    // seal init --rotate: the old ledger kept as ledger-1000.jsonl, a new one begun.
    fs.renameSync(ledger, path.join(dir, '.sshcast/ledger-1000.jsonl'));
    fs.writeFileSync(ledger, entry(0, 2000), { mode: 0o600 });
    up.grew(LEDGER_FILE, fs.statSync(ledger).size);
    await shipped(up, '.sshcast/ledger-1000.jsonl');
    expect(
      (await finished(c, '.sshcast/ledger-1000.jsonl')).equals(
        fs.readFileSync(path.join(dir, '.sshcast/ledger-1000.jsonl')),
      ),
    ).toBe(true);
    // Finished: the receipt times are kept beside it, as they were while it was live.
    expect(
      await readLedgerReceipts(c.store, DEVICES.a.device, '.sshcast/ledger-1000.jsonl'),
    ).toEqual(receipts!.map((r) => ({ line: r.line, receivedAt: Math.floor(r.receivedAt) })));
    await up.flush();
    const current = await openStored(c.store, DEVICES.a.device, '.sshcast/ledger-2000.jsonl');
    expect((await current!.read(0, 1 << 20)).toString()).toBe(entry(0, 2000));
  }, 60_000);

  it('ships the ledger untold, as sealing writes it: complete lines only', async () => {
    const c = await collector();
    const dir = tempDir('dev-');
    const up = await uploader({ urls: [c.url], dir });
    fs.mkdirSync(path.join(dir, '.sshcast'), { recursive: true, mode: 0o700 });
    const ledger = path.join(dir, LEDGER_FILE);
    const line = `{"seq":0,"epoch":0,"time":3000,"prev":"${'0'.repeat(64)}","kind":"init"}\n`;
    // A whole line and the start of the next: only the whole line goes.
    fs.writeFileSync(ledger, line + '{"seq":1,', { mode: 0o600 });
    const stored = async () =>
      (await openStored(c.store, DEVICES.a.device, '.sshcast/ledger-3000.jsonl'))?.read(0, 1 << 20);
    await until(async () => (await stored())?.toString() === line);
    fs.appendFileSync(ledger, '"time":3001}\n');
    await until(async () => (await stored())?.equals(fs.readFileSync(ledger)) ?? false);
  }, 60_000);

  it('backs off exponentially, capped at backoffMaxMs, while the collector fails', async () => {
    const seen: { method: string; at: number }[] = [];
    const failing = http.createServer((req, res) => {
      seen.push({ method: req.method!, at: performance.now() });
      req.resume();
      res.writeHead(503).end();
    });
    await new Promise<void>((r) => failing.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise<void>((r) => failing.close(() => r())));
    const up = await uploader({
      urls: [`http://127.0.0.1:${(failing.address() as AddressInfo).port}`],
      backoffMinMs: 20,
      backoffMaxMs: 200,
    });
    const name = recordingName();
    fs.writeFileSync(path.join(up.dir, name), '{"version":2}\n');
    await up.opened(name);
    await until(() => seen.length >= 10, 20_000);
    const gaps = seen.slice(1).map((s, i) => s.at - seen[i]!.at);
    expect(Math.max(...gaps)).toBeLessThan(200 + 150);
    expect(gaps.slice(-3).every((g) => g > 60)).toBe(true);
    expect(new Set(seen.map((s) => s.method))).toEqual(new Set(['POST']));
  });
});

/** A loopback address nothing listens on. */
async function deadUrl(): Promise<string> {
  const s = http.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return `http://127.0.0.1:${port}`;
}

/** Counts the HTTP requests this thread makes while `fn` runs. */
async function countingRequests(fn: () => Promise<void>): Promise<number> {
  const original = http.request;
  let n = 0;
  http.request = ((...args: Parameters<typeof http.request>) => {
    n++;
    return original(...args);
  }) as typeof http.request;
  try {
    await fn();
  } finally {
    http.request = original;
  }
  return n;
}

async function shipOne(options: Partial<UploaderOptions> = {}) {
  const c = await collector();
  const up = await uploader({ urls: [c.url], batchMs: 20, ...options });
  const feed = await startFeed(up, up.dir, { tickMs: 5, linesPerTick: 50, lineBytes: 200 });
  await new Promise((r) => setTimeout(r, 300));
  await feed.stop();
  await shipped(up, feed.name);
  expect((await finished(c, feed.name)).equals(fs.readFileSync(feed.file))).toBe(true);
}

// The requests go out from the upload thread (reading the batch back and writing it to the
// collector's connection off the server's thread); a thread that ends mid-request costs a retry.
describe('the upload thread', () => {
  it('sends every request: none goes out from the calling thread (with thread: false, all do)', async () => {
    expect(await countingRequests(() => shipOne())).toBe(0);
    expect(await countingRequests(() => shipOne({ thread: false }))).toBeGreaterThan(2);
  }, 60_000);

  it('ending mid-request: the request fails, the offset is asked, every byte is shipped once', async () => {
    const c = await collector();
    const proxy = await startProxy(c.url);
    cleanups.push(() => proxy.close());
    const up = await uploader({ urls: [proxy.url], batchMs: 20, requestTimeoutMs: 2000 });
    const feed = await startFeed(up, up.dir, { tickMs: 5, linesPerTick: 50, lineBytes: 200 });
    await up.accepted(feed.name, 10_000);
    // A request held in flight by the network, then the thread ends under it.
    proxy.freeze();
    await new Promise((r) => setTimeout(r, 200));
    const acknowledged = up.progress(feed.name)!.acknowledged;
    const opened = proxy.connections();
    await endUploadThreadForTests();
    proxy.thaw();
    await new Promise((r) => setTimeout(r, 200));
    await feed.stop();
    await shipped(up, feed.name);
    // Everything written during the freeze was still to send when the thread ended.
    expect(acknowledged).toBeLessThan(fs.statSync(feed.file).size);
    // The new thread's connections: the offset asked first, never a PATCH at a guessed offset.
    const later = proxy.sniffed.filter((r) => r.connection > opened).map((r) => r.request);
    expect(later[0]).toMatch(/^HEAD /);
    expect(later.some((r) => r.startsWith('PATCH '))).toBe(true);
    expect((await finished(c, feed.name)).equals(fs.readFileSync(feed.file))).toBe(true);
  }, 60_000);

  it('a thread that cannot run (its script fails to load): requests go out from the calling thread', async () => {
    const broken = path.join(tempDir('thread-'), 'broken.js');
    fs.writeFileSync(broken, 'throw new Error("this thread cannot start");\n');
    await endUploadThreadForTests(broken);
    cleanups.push(() => endUploadThreadForTests(UPLOAD_THREAD_SCRIPT));
    // The first request fails with the thread, as a dropped connection; the rest go out here.
    expect(await countingRequests(() => shipOne())).toBeGreaterThan(2);
    // Once it runs again, none does.
    await endUploadThreadForTests(UPLOAD_THREAD_SCRIPT);
    expect(await countingRequests(() => shipOne())).toBe(0);
  }, 60_000);
});
