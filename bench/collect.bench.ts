/**
 * Off-device copies: the uploader and `sshcast collect` on a real S3 (Debian's OpenStack Swift
 * with s3api on loopback). Lag from a byte written on the device to its acknowledgement, for
 * typing and for a flood; bytes written to the store per byte recorded, ours and the stock
 * @tus/s3-store (bytes on the wire to Swift, through a counting proxy); the time to notice a
 * dead or stopped collector, and to catch up once the network is back.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { Server as TusServer } from '@tus/server';
import { S3Store as StockS3Store } from '@tus/s3-store';
import { startCollector, type Collector } from '../src/collect/server.js';
import { parseTokens } from '../src/collect/tokens.js';
import { Uploader } from '../src/remote/uploader.js';
import { DirStore } from '../src/storage/dir.js';
import type { ObjectStore } from '../src/storage/objects.js';
import { S3Store } from '../src/storage/s3.js';
import { startSwift, type SwiftServer } from '../src/testing/swift.js';

export const title = 'Off-device copies: lag, store bytes, failover (collector on Swift s3api)';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const CLI = path.join(ROOT, 'dist/src/cli/main.js');
const DEVICE = 'bench';
const TOKEN = crypto.randomBytes(24).toString('hex');
const TOKENS = `${DEVICE} ${TOKEN}\n`;
const HOUR_WRITES = 4 * 3600;

const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? NaN;
};
const ms = (x: number) => `${x < 10 ? x.toFixed(1) : Math.round(x)} ms`;
const sleep = (t: number) => new Promise((r) => setTimeout(r, t));

function tempDir(tag: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `sshcast-bench-${tag}-`));
}

/** A bucket with a fresh name in `swift`. */
export async function makeBucket(swift: SwiftServer): Promise<string> {
  const name = `bench-${crypto.randomBytes(5).toString('hex')}`;
  const client = new S3Client({
    endpoint: swift.endpoint,
    region: swift.region,
    forcePathStyle: true,
    credentials: { accessKeyId: swift.accessKeyId, secretAccessKey: swift.secretAccessKey },
  });
  await client.send(new CreateBucketCommand({ Bucket: name }));
  client.destroy();
  return name;
}

/**
 * A TCP proxy to `port` that counts what clients send through it: all bytes, and the bytes of
 * request bodies (from each request's Content-Length).
 */
async function countingProxy(
  port: number,
): Promise<{ endpoint: string; sent: () => number; bodies: () => number; close: () => void }> {
  let sent = 0;
  let bodies = 0;
  const server = net.createServer((client) => {
    const up = net.connect(port, '127.0.0.1');
    let head = '';
    let skip = 0;
    client.on('data', (d: Buffer) => {
      sent += d.length;
      for (let at = 0; at < d.length;) {
        if (skip > 0) {
          const n = Math.min(skip, d.length - at);
          skip -= n;
          at += n;
          continue;
        }
        const end = d.indexOf('\r\n\r\n', at);
        head += d.toString('latin1', at, end < 0 ? d.length : end + 4);
        if (end < 0) break;
        const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1] ?? 0);
        bodies += length;
        skip = length;
        head = '';
        at = end + 4;
      }
    });
    client.pipe(up).pipe(client);
    const close = () => (client.destroy(), up.destroy());
    client.on('error', close).on('close', close);
    up.on('error', close).on('close', close);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    sent: () => sent,
    bodies: () => bodies,
    close: () => server.close(),
  };
}

async function ourCollector(store: ObjectStore, now?: () => number): Promise<Collector> {
  return startCollector({
    store,
    tokens: parseTokens(TOKENS),
    sweepMs: 0,
    log: () => {},
    ...(now ? { now } : {}),
  });
}

async function uploader(urls: string[], dir = tempDir('dev')): Promise<Uploader> {
  return Uploader.open({ urls, token: TOKEN, device: DEVICE, dir, log: () => {} });
}

/**
 * Writes `lines` of `bytes` each, `perTick` every `tickMs`, to a new recording shipped by `up`;
 * records for each write the time until it is acknowledged.
 */
async function stream(
  up: Uploader,
  o: { count: number; bytes: number; tickMs: number; perTick: number },
): Promise<{ lags: number[]; name: string; file: string }> {
  const name = `ssh-session-${Date.now()}000000-bench.cast`;
  const file = path.join(up.dir, name);
  const fd = fs.openSync(file, 'wx', 0o600);
  let size = fs.writeSync(fd, '{"version":2,"width":80,"height":24}\n');
  await up.opened(name);
  up.grew(name, size);
  const line = `[1.0, "o", "${'z'.repeat(o.bytes - 16)}"]\n`;
  const pending: { end: number; at: number }[] = [];
  const lags: number[] = [];
  const watch = setInterval(() => {
    const acked = up.progress(name)?.acknowledged ?? 0;
    while (pending.length > 0 && pending[0]!.end <= acked)
      lags.push(performance.now() - pending.shift()!.at);
  }, 2);
  for (let written = 0; written < o.count;) {
    for (let i = 0; i < o.perTick && written < o.count; i++, written++) {
      size += fs.writeSync(fd, line);
      up.grew(name, size);
      pending.push({ end: size, at: performance.now() });
    }
    await sleep(o.tickMs);
  }
  await up.flush();
  clearInterval(watch);
  const acked = up.progress(name)?.acknowledged ?? size;
  while (pending.length > 0 && pending[0]!.end <= acked)
    lags.push(performance.now() - pending.shift()!.at);
  size += fs.writeSync(fd, '[2.0, "x", "0"]\n');
  fs.closeSync(fd);
  up.closed(name, size);
  return { lags, name, file };
}

/** tus requests straight to a collector: `n` PATCHes of `bytes`, then the length. */
async function typeInto(
  base: string,
  name: string,
  n: number,
  bytes: number,
  headers: Record<string, string>,
  onWrite?: () => void,
) {
  const h = { 'tus-resumable': '1.0.0', ...headers };
  const created = await fetch(`${base}/files`, {
    method: 'POST',
    headers: {
      ...h,
      'upload-defer-length': '1',
      'upload-metadata': `name ${Buffer.from(name).toString('base64')}`,
    },
  });
  if (created.status !== 201) throw new Error(`POST: ${created.status}`);
  const location = created.headers.get('location')!;
  const url = new URL(location, base).href;
  const body = `[1.0, "o", "${'k'.repeat(bytes - 16)}"]\n`;
  let offset = 0;
  for (let i = 0; i < n; i++) {
    onWrite?.();
    const r = await fetch(url, {
      method: 'PATCH',
      headers: {
        ...h,
        'upload-offset': String(offset),
        'content-type': 'application/offset+octet-stream',
        ...(i === n - 1 ? { 'upload-length': String(offset + body.length) } : {}),
      },
      body,
    });
    if (r.status !== 204) throw new Error(`PATCH ${i}: ${r.status} ${await r.text()}`);
    offset += body.length;
  }
  return offset;
}

function startCli(
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, [CLI, 'collect', ...args], {
    env,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /collecting on (\S+)/.exec(out);
      if (m) resolve({ url: m[1]!, child });
    });
    child.once('exit', (code) => reject(new Error(`collect exited ${code}`)));
  });
}

/** A proxy whose forwarding can be held (connections stay open, nothing moves). */
async function holdingProxy(target: string) {
  const t = new URL(target);
  let held = false;
  const pairs = new Set<[net.Socket, net.Socket]>();
  const server = net.createServer((c) => {
    const u = net.connect(Number(t.port), t.hostname);
    const pair: [net.Socket, net.Socket] = [c, u];
    pairs.add(pair);
    const end = () => (c.destroy(), u.destroy(), pairs.delete(pair));
    c.on('error', end).on('close', end);
    u.on('error', end).on('close', end);
    if (held) (c.pause(), u.pause());
    else c.pipe(u).pipe(c);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    hold() {
      held = true;
      for (const [c, u] of pairs) (c.unpipe(u), u.unpipe(c), c.pause(), u.pause());
    },
    release() {
      held = false;
      for (const [c, u] of pairs) c.pipe(u).pipe(c);
    },
    close: () => server.close(),
  };
}

async function waitFor(check: () => boolean, timeoutMs: number): Promise<number> {
  const start = performance.now();
  while (!check()) {
    if (performance.now() - start > timeoutMs) throw new Error(`not reached in ${timeoutMs} ms`);
    await sleep(10);
  }
  return performance.now() - start;
}

/** The environment for an `sshcast collect` process storing in `swift` (the standard S3 variables). */
export function swiftEnv(swift: SwiftServer): NodeJS.ProcessEnv {
  return {
    ...process.env,
    AWS_ENDPOINT_URL: swift.endpoint,
    AWS_REGION: swift.region,
    AWS_ACCESS_KEY_ID: swift.accessKeyId,
    AWS_SECRET_ACCESS_KEY: swift.secretAccessKey,
  };
}

/** Our S3 store on `bucket` under `prefix` of `swift`, reached at `endpoint` (a proxy, say). */
export function swiftStore(
  swift: SwiftServer,
  bucket: string,
  prefix: string,
  endpoint = swift.endpoint,
): S3Store {
  return new S3Store({
    bucket,
    prefix,
    endpoint,
    region: swift.region,
    credentials: { accessKeyId: swift.accessKeyId, secretAccessKey: swift.secretAccessKey },
  });
}

export async function run(): Promise<string> {
  const swift = await startSwift();
  const env = swiftEnv(swift);
  const s3 = (bucket: string, endpoint = swift.endpoint) =>
    swiftStore(swift, bucket, 'fleet/', endpoint);
  const rows: string[] = [];
  try {
    // 1. Lag, uploader defaults (batches within 250 ms of a write).
    const bucket = await makeBucket(swift);
    const store = s3(bucket);
    const c = await ourCollector(store);
    const up = await uploader([c.url]);
    const typing = await stream(up, { count: 120, bytes: 200, tickMs: 250, perTick: 1 });
    const flood = await stream(up, { count: 25_000, bytes: 4096, tickMs: 10, perTick: 25 });
    await up.close();
    await c.close();
    store.close();
    const lagRows = [
      `| typing: 200 B written every 250 ms for 30 s | ${typing.lags.length} | ${ms(quantile(typing.lags, 0.5))} | ${ms(quantile(typing.lags, 0.99))} |`,
      `| flood: 4 KiB lines at 10 MB/s for 10 s (100 MB) | ${flood.lags.length} | ${ms(quantile(flood.lags, 0.5))} | ${ms(quantile(flood.lags, 0.99))} |`,
    ];

    // 2. Store bytes per recorded byte.
    // An hour of typing, simulated: 14,400 writes of 200 B, the lease clock 250 ms a write. The
    // byte accounting is the store's own (segments, composition, leases), the same for a directory.
    let clock = 0;
    const dirStore = new DirStore(tempDir('hour'));
    const hourCollector = await ourCollector(dirStore, () => clock);
    const hourBytes = await typeInto(
      hourCollector.url,
      'ssh-session-1-hour.cast',
      HOUR_WRITES,
      200,
      { authorization: `Bearer ${TOKEN}` },
      () => (clock += 250),
    );
    await hourCollector.finisher.idle();
    await hourCollector.close();
    const hs = dirStore.stats;
    rows.push(
      `| an hour of typing (14,400 writes of 200 B), sshcast collect, store's own count | ${(hourBytes / 1e6).toFixed(2)} MB | **${((hs.uploadedBytes + hs.copiedBytes) / hourBytes).toFixed(3)}** (${(hs.uploadedBytes / hourBytes).toFixed(3)} uploaded + ${(hs.copiedBytes / hourBytes).toFixed(3)} copied) | ${(Object.values(hs.requests).reduce((a, b) => a + b, 0) / HOUR_WRITES).toFixed(2)} |`,
    );

    // Typing on Swift, on the wire: ours, and the stock @tus/s3-store with @tus/server.
    const N = 600;
    const proxy = await countingProxy(Number(new URL(swift.endpoint).port));
    const b2 = await makeBucket(swift);
    const wireStore = s3(b2, proxy.endpoint);
    const wire = await ourCollector(wireStore);
    let before = proxy.sent();
    let beforeBodies = proxy.bodies();
    const ourBytes = await typeInto(wire.url, 'ssh-session-2-wire.cast', N, 200, {
      authorization: `Bearer ${TOKEN}`,
    });
    await wire.finisher.idle();
    const ourWire = proxy.sent() - before;
    const ourBodies = proxy.bodies() - beforeBodies;
    await wire.close();
    wireStore.close();
    const stock = new TusServer({
      path: '/files',
      datastore: new StockS3Store({
        s3ClientConfig: {
          bucket: b2,
          endpoint: proxy.endpoint,
          region: swift.region,
          forcePathStyle: true,
          credentials: { accessKeyId: swift.accessKeyId, secretAccessKey: swift.secretAccessKey },
          requestChecksumCalculation: 'WHEN_REQUIRED',
          responseChecksumValidation: 'WHEN_REQUIRED',
        },
      }),
      namingFunction: (_req, m) => `stock-${m?.name}`,
    });
    const stockHttp = http.createServer((q, r) => void stock.handle(q, r));
    await new Promise<void>((r) => stockHttp.listen(0, '127.0.0.1', r));
    const stockUrl = `http://127.0.0.1:${(stockHttp.address() as net.AddressInfo).port}`;
    before = proxy.sent();
    beforeBodies = proxy.bodies();
    const t0 = performance.now();
    const stockBytes = await typeInto(stockUrl, 'ssh-session-3-stock.cast', N, 200, {});
    const stockMs = (performance.now() - t0) / N;
    const stockWire = proxy.sent() - before;
    const stockBodies = proxy.bodies() - beforeBodies;
    stockHttp.close();
    proxy.close();
    rows.push(
      `| ${N} writes of 200 B (2.5 min of typing), sshcast collect, request bodies to Swift | ${(ourBytes / 1e3).toFixed(0)} kB | **${(ourBodies / ourBytes).toFixed(3)}** (all bytes on the wire, headers too: ${(ourWire / ourBytes).toFixed(1)}) | |`,
      `| the same, stock @tus/s3-store 2.0.7 + @tus/server 2.4.5 | ${(stockBytes / 1e3).toFixed(0)} kB | **${(stockBodies / stockBytes).toFixed(1)}**, growing with the session's length (on the wire: ${(stockWire / stockBytes).toFixed(1)}; ${ms(stockMs)} a write) | |`,
    );

    // A flood on Swift: segments of up to 8 MiB, composed by server-side part copies.
    const b3 = await makeBucket(swift);
    const floodStore = s3(b3);
    const fc = await ourCollector(floodStore);
    const fu = await uploader([fc.url]);
    const f = await stream(fu, { count: 25_000, bytes: 4096, tickMs: 10, perTick: 25 });
    while (fu.names().includes(f.name)) await sleep(50);
    await fc.finisher.idle();
    await fu.close();
    await fc.close();
    const recorded = fs.statSync(f.file).size;
    const fstats = floodStore.stats;
    floodStore.close();
    rows.push(
      `| flood: 100 MB, sshcast collect on Swift | ${(recorded / 1e6).toFixed(0)} MB | **${((fstats.uploadedBytes + fstats.copiedBytes) / recorded).toFixed(3)}** (${(fstats.uploadedBytes / recorded).toFixed(3)} uploaded + ${(fstats.copiedBytes / recorded).toFixed(3)} copied by Swift) | ${Object.values(
        fstats.requests,
      )
        .reduce((a, b) => a + b, 0)
        .toFixed(0)} requests |`,
    );

    // 3. Failover with the CLI's defaults (lease 10 s; the uploader's request timeout 10 s).
    const b4 = await makeBucket(swift);
    const work = tempDir('failover');
    const tokens = path.join(work, 'tokens');
    fs.writeFileSync(tokens, TOKENS, { mode: 0o600 });
    const args = ['--listen', '127.0.0.1:0', '--tokens', tokens, '--s3', `s3://${b4}/fleet`];
    const failRows: string[] = [];
    for (const signal of ['SIGKILL', 'SIGSTOP'] as const) {
      const a = await startCli(args, env);
      const b = await startCli(args, env);
      const fup = await uploader([a.url, b.url]);
      const name = `ssh-session-${Date.now()}000000-fail.cast`;
      const file = path.join(fup.dir, name);
      const fd = fs.openSync(file, 'wx', 0o600);
      let size = fs.writeSync(fd, '{"version":2,"width":80,"height":24}\n');
      await fup.opened(name);
      fup.grew(name, size);
      const writer = setInterval(() => {
        size += fs.writeSync(fd, `[1.0, "o", "${'w'.repeat(10_000)}"]\n`);
        fup.grew(name, size);
      }, 10);
      await waitFor(() => (fup.progress(name)?.acknowledged ?? 0) > 2e6, 60_000);
      a.child.kill(signal);
      const at = fup.progress(name)!.acknowledged;
      const t = await waitFor(() => (fup.progress(name)?.acknowledged ?? 0) > at + 10_000, 120_000);
      const caught = await waitFor(() => (fup.progress(name)?.lagMs ?? 0) < 1000, 120_000);
      failRows.push(
        `| collector ${signal === 'SIGKILL' ? 'killed (SIGKILL)' : 'stopped (SIGSTOP)'}: until the second collector acknowledges | ${(t / 1000).toFixed(1)} s | then ${(caught / 1000).toFixed(1)} s more to be within 1 s of the writes |`,
      );
      clearInterval(writer);
      fs.closeSync(fd);
      await fup.close();
      a.child.kill('SIGCONT');
      a.child.kill('SIGKILL');
      b.child.kill('SIGTERM');
    }
    // The network to the collector held for 30 s at 1 MB/s, then released.
    {
      const cc = await startCli(args, env);
      const hold = await holdingProxy(cc.url);
      const cup = await uploader([hold.url]);
      const name = `ssh-session-${Date.now()}000000-hold.cast`;
      const fd = fs.openSync(path.join(cup.dir, name), 'wx', 0o600);
      let size = fs.writeSync(fd, '{"version":2,"width":80,"height":24}\n');
      await cup.opened(name);
      cup.grew(name, size);
      const writer = setInterval(() => {
        size += fs.writeSync(fd, `[1.0, "o", "${'h'.repeat(10_000)}"]\n`);
        cup.grew(name, size);
      }, 10);
      await waitFor(() => (cup.progress(name)?.acknowledged ?? 0) > 1e6, 60_000);
      hold.hold();
      const tHeld = performance.now();
      const noticed = await new Promise<number>((r) =>
        cup.once('lagging', () => r(performance.now() - tHeld)),
      );
      await sleep(Math.max(0, 30_000 - (performance.now() - tHeld)));
      const backlog = size - cup.progress(name)!.acknowledged;
      hold.release();
      const caught = await waitFor(() => (cup.progress(name)?.lagMs ?? Infinity) < 1000, 180_000);
      clearInterval(writer);
      fs.closeSync(fd);
      await cup.close();
      hold.close();
      cc.child.kill('SIGTERM');
      failRows.push(
        `| network to the collector held 30 s at 1 MB/s (\`lagging\` fired after ${(noticed / 1000).toFixed(1)} s, limit 30 s): from release until within 1 s, ${(backlog / 1e6).toFixed(0)} MB behind | ${(caught / 1000).toFixed(1)} s | retries back off up to 30 s |`,
      );
    }

    return `Swift 2.30 (Debian) with s3api on loopback, one replica, on this machine; the uploader and collector in one process for the lag numbers, \`sshcast collect\` processes for failover. Lag is from the write (and \`grew\`) on the device to the acknowledgement that covers it; acknowledged bytes are already in the bucket.

| workload | writes | lag p50 | lag p99 |
|---|---|---|---|
${lagRows.join('\n')}

Bytes written to the store ÷ bytes recorded (target ≤ 2 for an hour of typing as for a flood):

| workload | recorded | store ÷ recorded | requests a write |
|---|---|---|---|
${rows.join('\n')}

| failover | time | |
|---|---|---|
${failRows.join('\n')}
`;
  } finally {
    await swift.stop();
  }
}
