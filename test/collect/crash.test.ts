/**
 * A collector killed (SIGKILL, from inside, at a named point) between every step of its write
 * path, from the lease takeover to the removal of a finished upload's segments. At the crash,
 * the bucket (read with boto3) must hold every byte the device had been told was stored; then a
 * second collector behind the same address finishes the job, and the object is the device file.
 */
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FAULT_POINTS, type FaultPoint } from '../../src/collect/faults.js';
import { Uploader } from '../../src/remote/uploader.js';
import { DEVICES, startCollectorProcess, type CollectorProcess } from '../helpers/collector.js';
import { tempDir } from '../helpers/e2e.js';
import { startProxy, type Proxy } from '../helpers/proxy.js';
import { shipped, startFeed } from '../helpers/recording-feed.js';
import { storedBytes } from '../helpers/stored.js';
import { makeBucket, s3Env, useSwift, type SwiftInfo } from '../helpers/swift.js';
import { s3Settings } from '../../src/storage/location.js';
import { uploadDir } from '../../src/storage/layout.js';
import { S3Store } from '../../src/storage/s3.js';

let swift: SwiftInfo;
let bucket: string;
const PREFIX = 'crash/';
/** Collector options for the bucket: short leases, a sweep every 300 ms. */
const options = () => ({
  store: `s3://${bucket}/${PREFIX}`,
  swift,
  sweepMs: 300,
  leaseMs: 1000,
  settleMs: 100,
});
/** The collector that takes over after each crash (one for all: they share only the bucket). */
let b: CollectorProcess;

beforeAll(async () => {
  swift = await useSwift();
  bucket = await makeBucket(swift);
  b = await startCollectorProcess(options());
}, 120_000);
afterAll(async () => {
  await b?.stop();
});

/** Which time a point is reached to crash at: for segments, once some bytes are acknowledged. */
function hitFor(point: FaultPoint): number {
  return point.startsWith('segment:') ? 4 : 1;
}

describe.concurrent('a collector crash at every step of its write path', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterAll(async () => {
    await Promise.all(cleanups.map((c) => c()));
  });

  for (const point of FAULT_POINTS) {
    it(`killed at ${point}: nothing acknowledged is lost`, async () => {
      // A does not sweep: its fault fires on this test's upload, never on another test's that
      // it found finished in the shared prefix (the tests run at once).
      const a = await startCollectorProcess({
        ...options(),
        sweepMs: 0,
        fault: { point, hit: hitFor(point), signal: 'SIGKILL' },
      });
      const proxy: Proxy = await startProxy(a.url);
      const dir = tempDir('crash-');
      const up = await Uploader.open({
        urls: [proxy.url],
        token: DEVICES.a.token,
        device: DEVICES.a.device,
        dir,
        batchMs: 20,
        requestTimeoutMs: 2000,
        backoffMaxMs: 300,
        log: () => {},
      });
      const cleanup = async () => {
        await up.close();
        await proxy.close();
        await a.stop();
      };
      cleanups.push(cleanup);
      const feed = await startFeed(up, dir, { tickMs: 10, linesPerTick: 2 });
      // Points reached at the end (the length declared, the object composed) need the end.
      const closesFirst = point.startsWith('finish:') || point === 'length:put';
      if (closesFirst) {
        await waitFor(async () => (up.progress(feed.name)?.acknowledged ?? 0) > 2000, 90_000);
        await feed.stop();
      }
      await a.exited;
      expect(a.output()).toContain(`fault ${point}`);
      const acked = up.names().includes(feed.name)
        ? Math.max(0, up.progress(feed.name)!.acknowledged)
        : fs.statSync(feed.file).size; // shipped: all of it was acknowledged
      const local = fs.readFileSync(feed.file);
      const id = `${DEVICES.a.device}/${feed.name}`;
      const atCrash = await storedBytes(swift, bucket, PREFIX, id);
      expect(atCrash.bytes.length).toBeGreaterThanOrEqual(acked);
      expect(atCrash.bytes.equals(local.subarray(0, atCrash.bytes.length))).toBe(true);
      // Finishing begins only once every byte is stored.
      if (point.startsWith('finish:')) expect(atCrash.bytes.length).toBe(local.length);

      // The other collector behind the same address: the device goes on; its sweep finishes.
      proxy.setTarget(b.url);
      if (!closesFirst) await feed.stop();
      await shipped(up, feed.name);
      // Finished (its object composed, marked done) and cleaned up (only info and done left).
      const store = new S3Store(s3Settings(`s3://${bucket}/${PREFIX}`, s3Env(swift)));
      const keysLeft = async () => {
        const keys: string[] = [];
        for await (const e of store.list(uploadDir(id)))
          keys.push(e.key.slice(uploadDir(id).length));
        return keys.sort().join(' ');
      };
      await waitFor(async () => (await keysLeft()) === 'done info', 90_000);
      store.close();
      const after = await storedBytes(swift, bucket, PREFIX, id);
      expect(after.done).toBe(true);
      expect(after.bytes.equals(fs.readFileSync(feed.file))).toBe(true);
    }, 240_000);
  }
});

async function waitFor(check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`not reached in ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
