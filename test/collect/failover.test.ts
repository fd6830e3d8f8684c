/**
 * A recording streams to collector A while A is killed (SIGKILL), or stopped (SIGSTOP) and later
 * resumed (SIGCONT); the device fails over to collector B, which shares only the bucket (a real
 * Swift). The stored object must be byte-identical to the device's file: nothing lost, nothing
 * twice. Read back with boto3.
 */
import fs from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Uploader } from '../../src/remote/uploader.js';
import { parseDataKey, parseGenKey, uploadDir } from '../../src/storage/layout.js';
import { botoGet, botoList } from '../helpers/boto.js';
import { DEVICES, startCollectorProcess, type CollectorProcess } from '../helpers/collector.js';
import { tempDir } from '../helpers/e2e.js';
import { shipped, startFeed } from '../helpers/recording-feed.js';
import { makeBucket, s3Env, useSwift, type SwiftInfo } from '../helpers/swift.js';
import { S3Store } from '../../src/storage/s3.js';
import { s3Settings } from '../../src/storage/location.js';

const PREFIX = 'rec/';
let swift: SwiftInfo;
let bucket: string;
const running: CollectorProcess[] = [];
const uploaders: Uploader[] = [];

beforeAll(async () => {
  swift = await useSwift();
  bucket = await makeBucket(swift);
}, 120_000);
afterEach(async () => {
  await Promise.all(uploaders.splice(0).map((u) => u.close()));
  await Promise.all(running.splice(0).map((c) => c.stop()));
});
afterAll(() => {});

async function collector(fault?: Parameters<typeof startCollectorProcess>[0]['fault']) {
  const c = await startCollectorProcess({ store: `s3://${bucket}/${PREFIX}`, swift, fault });
  running.push(c);
  return c;
}

async function uploader(urls: string[]) {
  const dir = tempDir('dev-');
  const u = await Uploader.open({
    urls,
    token: DEVICES.a.token,
    device: DEVICES.a.device,
    dir,
    batchMs: 50,
    requestTimeoutMs: 1500,
    backoffMaxMs: 500,
    log: () => {},
  });
  uploaders.push(u);
  dirs.set(u, dir);
  return u;
}

/** The upload's keys as boto3 lists them, parsed. */
async function stateOf(name: string) {
  const dir = `${PREFIX}${uploadDir(`${DEVICES.a.device}/${name}`)}`;
  const keys = (await botoList(swift, bucket, dir)).map((o) => ({
    ...o,
    rel: o.key.slice(dir.length),
  }));
  return {
    gens: keys.flatMap((k) => parseGenKey(k.rel) ?? []),
    segments: keys.flatMap((k) => {
      const d = parseDataKey(k.rel);
      return d && d.length === undefined ? [{ ...d, size: k.size }] : [];
    }),
    keys: keys.map((k) => k.rel),
  };
}

async function expectStoredCopy(name: string, file: string) {
  // The object is composed after the last byte is acknowledged.
  const store = new S3Store(s3Settings(`s3://${bucket}/${PREFIX}`, s3Env(swift)));
  await until(
    async () => (await store.head(`${uploadDir(`${DEVICES.a.device}/${name}`)}done`)) !== undefined,
    30_000,
  );
  store.close();
  const stored = await botoGet(swift, bucket, `${PREFIX}${DEVICES.a.device}/${name}`);
  const local = fs.readFileSync(file);
  expect(stored.length).toBe(local.length);
  expect(stored.equals(local)).toBe(true);
  const after = await stateOf(name);
  expect(after.keys.sort()).toEqual(['done', 'info']);
}

describe('failover between collectors sharing a bucket', () => {
  it('collector A killed mid-stream (SIGKILL): B takes over; the object is the device file', async () => {
    const a = await collector();
    const b = await collector();
    const up = await uploader([a.url, b.url]);
    const feed = await startFeed(up, tempDirOf(up), { tickMs: 5, linesPerTick: 3 });
    await until(() => (up.progress(feed.name)?.acknowledged ?? 0) > 5_000);
    a.signal('SIGKILL');
    await a.exited;
    const ackedAtKill = up.progress(feed.name)!.acknowledged;
    await until(() => (up.progress(feed.name)?.acknowledged ?? 0) > ackedAtKill + 5_000, 30_000);
    await feed.stop();
    await shipped(up, feed.name);
    await expectStoredCopy(feed.name, feed.file);
  }, 90_000);

  for (const point of ['segment:received', 'segment:ready', 'segment:put'] as const) {
    it(`collector A stopped (SIGSTOP at ${point}), B takes over, A resumed (SIGCONT): A's late write is fenced out`, async () => {
      const a = await collector({ point, hit: 10, signal: 'SIGSTOP' });
      const b = await collector();
      const up = await uploader([a.url, b.url]);
      const feed = await startFeed(up, tempDirOf(up), { tickMs: 5, linesPerTick: 3 });
      await a.waitFor(`fault ${point} 10`);
      // The device gives up on A, goes to B, which waits out A's lease, then takes over.
      const ackedAtStop = up.progress(feed.name)!.acknowledged;
      await until(() => (up.progress(feed.name)?.acknowledged ?? 0) > ackedAtStop + 5_000, 30_000);
      a.signal('SIGCONT');
      await a.waitFor('lost the lease of', 15_000);
      const first = (s: Awaited<ReturnType<typeof stateOf>>) =>
        s.segments.filter((seg) => seg.gen.num === 1);
      const takeover = (s: Awaited<ReturnType<typeof stateOf>>) =>
        Math.min(...s.gens.filter((g) => g.gen.num > 1).map((g) => g.start));
      if (point === 'segment:ready') {
        // A stored the bytes it held after B had begun: stored, never acknowledged, never read.
        const s = await stateOf(feed.name);
        expect(first(s).some((seg) => seg.start >= takeover(s))).toBe(true);
      } else {
        // received: A woke up, failed to renew its lease, and wrote nothing more.
        // put: A had stored its segment before it stopped, unacknowledged; B went on after it.
        const s = await stateOf(feed.name);
        const last = first(s).sort((x, y) => y.start - x.start)[0]!;
        expect(last.start + last.size).toBe(takeover(s));
      }
      await feed.stop();
      await shipped(up, feed.name);
      await expectStoredCopy(feed.name, feed.file);
    }, 90_000);
  }
});

const dirs = new WeakMap<Uploader, string>();
function tempDirOf(u: Uploader): string {
  return dirs.get(u)!;
}

async function until(check: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`condition not met in ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
