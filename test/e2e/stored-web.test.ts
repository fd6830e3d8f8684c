/**
 * Reading the collectors' store, with the built CLI: `sshcast ls` and `sshcast web` on
 * s3://BUCKET/PREFIX (a real Swift) and on a collector's --dir, with real recordings (made by the
 * Recorder) shipped by the real collector from two devices: each device's recordings listed with
 * a DEVICE column and a filter, and one replayed by asciinema-player in Debian's chromium.
 */
import fs from 'node:fs';
import path from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCollector, type Collector } from '../../src/collect/server.js';
import { parseTokens } from '../../src/collect/tokens.js';
import { Recorder } from '../../src/recording/recorder.js';
import { Uploader } from '../../src/remote/uploader.js';
import { DirStore } from '../../src/storage/dir.js';
import { s3Settings } from '../../src/storage/location.js';
import type { ObjectStore } from '../../src/storage/objects.js';
import { S3Store } from '../../src/storage/s3.js';
import { DEVICES, TOKENS_TEXT } from '../helpers/collector.js';
import { tempDir } from '../helpers/e2e.js';
import { shipped } from '../helpers/recording-feed.js';
import { makeBucket, s3Env, useSwift, type SwiftInfo } from '../helpers/swift.js';
import { runCli } from '../cli/helpers.js';
import { authedGet, serve, type Served } from '../web/serve.js';

const CHROMIUM = '/usr/bin/chromium';
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
  '--disable-sync',
];

/** Records `texts.length` sessions in `dir` with the Recorder, one output text each. */
async function record(dir: string, texts: string[]): Promise<string[]> {
  const recorder = new Recorder({ enabled: true, dir, log: () => {} });
  recorder.check();
  const names: string[] = [];
  for (const [i, text] of texts.entries()) {
    const rec = recorder.start({ cols: 80, rows: 24, localUser: 'alice', command: `job ${i}` });
    rec.output(Buffer.from(`${text}\r\n`));
    await rec.finish(0);
    names.push(path.basename(rec.file!));
  }
  await recorder.close();
  return names;
}

/** A device that records `texts` and ships them to `collector`, until each object is composed. */
async function device(
  d: { device: string; token: string },
  collector: Collector,
  store: ObjectStore,
  texts: string[],
): Promise<{ dir: string; names: string[]; up: Uploader }> {
  const dir = tempDir('dev-');
  const names = await record(dir, texts);
  const up = await Uploader.open({
    urls: [collector.url],
    token: d.token,
    device: d.device,
    dir,
    batchMs: 20,
    log: () => {},
  });
  for (const name of names) {
    const size = fs.statSync(path.join(dir, name)).size;
    await up.opened(name);
    up.grew(name, size);
    up.closed(name, size);
  }
  await up.flush();
  for (const name of names) await shipped(up, name);
  for (const name of names)
    while (!(await store.head(`.uploads/${d.device}/${name}/done`)))
      await new Promise((r) => setTimeout(r, 50));
  return { dir, names, up };
}

describe("the collectors' store, listed and replayed", () => {
  let swift: SwiftInfo;
  let bucket: string;
  let s3: S3Store;
  let onS3: Collector;
  let collectorDir: string;
  let dirStore: DirStore;
  let onDir: Collector;
  let a: Awaited<ReturnType<typeof device>>;
  let b: Awaited<ReturnType<typeof device>>;
  let c: Awaited<ReturnType<typeof device>>;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    swift = await useSwift();
    bucket = await makeBucket(swift);
    env = { ...process.env, ...s3Env(swift) };
    s3 = new S3Store(s3Settings(`s3://${bucket}/fleet`, s3Env(swift)));
    const tokens = parseTokens(TOKENS_TEXT);
    onS3 = await startCollector({ store: s3, tokens, settleMs: 20, sweepMs: 0, log: () => {} });
    collectorDir = tempDir('collector-');
    dirStore = new DirStore(collectorDir);
    onDir = await startCollector({
      store: dirStore,
      tokens,
      settleMs: 20,
      sweepMs: 0,
      log: () => {},
    });
    a = await device(DEVICES.a, onS3, s3, ['alpha one', 'alpha two']);
    b = await device(DEVICES.b, onS3, s3, ['bravo one']);
    c = await device(DEVICES.a, onDir, dirStore, ['charlie on a dir']);
  }, 180_000);
  afterAll(async () => {
    for (const d of [a, b, c]) await d?.up.close();
    await onS3?.close();
    await onDir?.close();
    s3?.close();
    dirStore?.close();
  });

  it("ls s3:// lists each device's recordings with a DEVICE column; --device keeps one", async () => {
    const r = await runCli(['ls', `s3://${bucket}/fleet`], { env });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const [head, ...rows] = r.stdout.trim().split('\n');
    expect(head).toMatch(/^DEVICE\s+FILE\s+START/);
    expect(rows).toHaveLength(3);
    for (const n of a.names) expect(rows.find((l) => l.includes(n))).toMatch(/^dev-a\s/);
    expect(rows.find((l) => l.includes(b.names[0]!))).toMatch(/^dev-b\s.*\sjob 0$/);
    const one = await runCli(['ls', `s3://${bucket}/fleet`, '--device', 'dev-b', '--json'], {
      env,
    });
    expect(
      (JSON.parse(one.stdout) as { device: string; file: string }[]).map((x) => [x.device, x.file]),
    ).toEqual([['dev-b', b.names[0]]]);
  });

  it("ls on a collector's --dir lists it the same way", async () => {
    const r = await runCli(['ls', collectorDir]);
    expect(r.code).toBe(0);
    const [head, ...rows] = r.stdout.trim().split('\n');
    expect(head).toMatch(/^DEVICE\s+FILE\s/);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatch(new RegExp(`^dev-a\\s+${c.names[0]}\\s`));
  });

  it("verify --against a collector's --dir (its root with the device from uploads.json, or DEVICE/): same; a plain copy of the directory: compared file by file", async () => {
    const root = await runCli(['verify', c.dir, '--against', collectorDir]);
    expect(root.stderr).toBe('');
    expect(root.stdout).toBe(`${c.names[0]}: same\nagainst ${collectorDir}/dev-a: 1 same\n`);
    expect(root.code).toBe(0);
    const sub = await runCli(['verify', c.dir, '--against', path.join(collectorDir, 'dev-a')]);
    expect(sub.stdout).toBe(root.stdout);
    const copy = tempDir('copy-');
    fs.cpSync(c.dir, copy, { recursive: true });
    fs.appendFileSync(path.join(copy, c.names[0]!), '[9.9, "o", "added in the copy"]\n');
    const plain = await runCli(['verify', c.dir, '--against', copy]);
    expect(plain.stdout).toBe(`${c.names[0]}: differs at line 4\nagainst ${copy}: 1 differs\n`);
    expect(plain.code).toBe(1);
    // Without the uploader's state, a collector's root does not say which device.
    fs.rmSync(path.join(copy, '.sshcast', 'uploads.json'));
    const which = await runCli(['verify', copy, '--against', collectorDir]);
    expect(which.code).toBe(1);
    expect(which.stderr).toMatch(/holds the copies of every device: name this one/);
  });

  describe('web s3:// in chromium', () => {
    let served: Served;
    let browser: Browser;

    beforeAll(async () => {
      if (!fs.existsSync(CHROMIUM))
        throw new Error(`${CHROMIUM} is missing: install Debian's chromium (.ci/run does)`);
      Object.assign(process.env, s3Env(swift));
      served = await serve(`s3://${bucket}/fleet`);
      browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
    }, 60_000);
    afterAll(async () => {
      await browser?.close();
      expect(await served?.stop()).toBe(0);
    });

    it('lists every device with a device column and filter, and replays one', async () => {
      const page = await browser.newPage();
      await page.goto(served.url);
      await page.waitForSelector('#recordings tbody tr');
      const rows = page.locator('#recordings tbody tr');
      expect(await rows.count()).toBe(3);
      expect(await page.locator('#h-device').isVisible()).toBe(true);
      const devices = await page.locator('#recordings tbody td.device').allInnerTexts();
      expect(devices.sort()).toEqual(['dev-a', 'dev-a', 'dev-b']);
      await page.selectOption('#f-device', 'dev-b');
      expect(await page.locator('#recordings tbody tr:not([hidden])').count()).toBe(1);
      expect(await page.locator('#summary').innerText()).toBe('1 of 3 recordings');
      await page.locator('#recordings tbody tr:not([hidden]) a').click();
      await page.waitForSelector('#player[data-ready="true"]');
      expect(await page.locator('#meta').innerText()).toContain('dev-b');
      await page.locator('.ap-player').click();
      await page.waitForFunction(
        () => document.querySelector('.ap-term')?.textContent?.includes('bravo one'),
        null,
        { timeout: 15_000 },
      );
      await page.close();
    });

    it('a name that is not DEVICE/RECORDING is refused; a stored recording is served byte for byte', async () => {
      for (const ref of ['dev-a/../.uploads/x', '.uploads/dev-a', 'dev-a/.sshcast/ledger-1.jsonl'])
        expect((await authedGet(served, `/api/recordings/${encodeURIComponent(ref)}`)).status).toBe(
          400,
        );
      const ok = await authedGet(
        served,
        `/api/recordings/${encodeURIComponent(`dev-b/${b.names[0]}`)}`,
      );
      expect(ok.status).toBe(200);
      expect(JSON.parse(ok.body.toString())).toMatchObject({ device: 'dev-b', file: b.names[0] });
      const bytes = await authedGet(served, `/files/${encodeURIComponent(`dev-b/${b.names[0]}`)}`);
      expect(bytes.body.equals(fs.readFileSync(path.join(b.dir, b.names[0]!)))).toBe(true);
    });
  });
});
