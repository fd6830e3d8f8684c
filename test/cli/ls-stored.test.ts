/**
 * `sshcast ls s3://BUCKET/PREFIX` (the built CLI): the recordings of every device in a real Swift,
 * finished and live, with a device column; `--device` keeps one device's.
 */
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCollector, type Collector } from '../../src/collect/server.js';
import { parseTokens } from '../../src/collect/tokens.js';
import { Uploader } from '../../src/remote/uploader.js';
import { s3Settings } from '../../src/storage/location.js';
import { S3Store } from '../../src/storage/s3.js';
import { DEVICES, TOKENS_TEXT } from '../helpers/collector.js';
import { tempDir } from '../helpers/e2e.js';
import { shipped, startFeed, type Feed } from '../helpers/recording-feed.js';
import { makeBucket, s3Env, useSwift, type SwiftInfo } from '../helpers/swift.js';
import { runCli } from './helpers.js';

describe('sshcast ls s3://', () => {
  let swift: SwiftInfo;
  let bucket: string;
  let store: S3Store;
  let collector: Collector;
  const uploaders: Uploader[] = [];
  let done: Feed;
  let live: Feed;

  beforeAll(async () => {
    swift = await useSwift();
    bucket = await makeBucket(swift);
    store = new S3Store(s3Settings(`s3://${bucket}/fleet`, s3Env(swift)));
    collector = await startCollector({
      store,
      tokens: parseTokens(TOKENS_TEXT),
      settleMs: 20,
      sweepMs: 0,
      log: () => {},
    });
    for (const d of [DEVICES.a, DEVICES.b]) {
      uploaders.push(
        await Uploader.open({
          urls: [collector.url],
          token: d.token,
          device: d.device,
          dir: tempDir('dev-'),
          batchMs: 20,
          log: () => {},
        }),
      );
    }
    done = await startFeed(uploaders[0]!, uploaders[0]!.dir, { tickMs: 5 });
    live = await startFeed(uploaders[1]!, uploaders[1]!.dir, { tickMs: 1000 });
    await uploaders[1]!.flush();
    while ((uploaders[0]!.progress(done.name)?.acknowledged ?? 0) < 2000)
      await new Promise((r) => setTimeout(r, 20));
    await done.stop();
    await shipped(uploaders[0]!, done.name);
    await collector.finisher.idle();
  }, 120_000);
  afterAll(async () => {
    await live?.stop(false);
    for (const u of uploaders) await u.close();
    await collector?.close();
    store?.close();
  });

  const ls = (...args: string[]) =>
    runCli(['ls', `s3://${bucket}/fleet`, ...args], { env: { ...process.env, ...s3Env(swift) } });

  it('lists both devices, a finished and a live recording, newest first, with a device column', async () => {
    const r = await ls();
    expect(r.code).toBe(0);
    const [head, ...rows] = r.stdout.trim().split('\n');
    expect(head).toMatch(
      /^DEVICE\s+FILE\s+START\s+DURATION\s+SIZE\s+USER\s+EXIT\s+STATUS\s+COMMAND$/,
    );
    expect(rows).toHaveLength(2);
    const a = rows.find((l) => l.startsWith(DEVICES.a.device))!;
    const b = rows.find((l) => l.startsWith(DEVICES.b.device))!;
    expect(a).toContain(done.name);
    expect(a).toMatch(/\sok\s/);
    expect(b).toContain(live.name);
    expect(b).toMatch(/\slive\s/); // its upload is open
    expect(r.stderr).toBe('');
  });

  it('--json gives each row its device and s3:// path; --device keeps one', async () => {
    const all = JSON.parse((await ls('--json')).stdout) as {
      device: string;
      path: string;
      size: number;
    }[];
    expect(all.map((x) => x.device).sort()).toEqual([DEVICES.a.device, DEVICES.b.device]);
    const a = all.find((x) => x.device === DEVICES.a.device)!;
    expect(a.path).toBe(`s3://${bucket}/fleet/${DEVICES.a.device}/${done.name}`);
    expect(a.size).toBe(fs.statSync(done.file).size);
    const one = JSON.parse((await ls('--json', '--device', DEVICES.b.device)).stdout) as {
      device: string;
    }[];
    expect(one.map((x) => x.device)).toEqual([DEVICES.b.device]);
    const bad = await ls('--device', '../x');
    expect(bad.code).toBe(2); // a usage error
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
  });
});
