/**
 * Double entry: the device's copies against the collector's in a real Swift, after a device file
 * is deleted, a device file edited, an object removed from the bucket (with boto3, as an operator
 * or an intruder with the bucket's keys would), a ledger cut back, and a recording still shipping.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCollector, type Collector } from '../../src/collect/server.js';
import { parseTokens } from '../../src/collect/tokens.js';
import {
  compareCopies,
  compareStreams,
  describeFinding,
  localCopies,
  storedCopies,
} from '../../src/remote/compare.js';
import { LEDGER_FILE, Uploader } from '../../src/remote/uploader.js';
import { s3Settings } from '../../src/storage/location.js';
import { S3Store } from '../../src/storage/s3.js';
import { botoDelete } from '../helpers/boto.js';
import { DEVICES, TOKENS_TEXT } from '../helpers/collector.js';
import { tempDir } from '../helpers/e2e.js';
import { shipped, startFeed } from '../helpers/recording-feed.js';
import { makeBucket, s3Env, useSwift, type SwiftInfo } from '../helpers/swift.js';

const chunked = (text: string, size: number) => {
  const b = Buffer.from(text);
  const parts: Buffer[] = [];
  for (let i = 0; i < b.length; i += size) parts.push(b.subarray(i, i + size));
  return Readable.from(parts);
};

describe('compareStreams', () => {
  const text = 'line one\nline two\nline three\nline four\n';
  for (const [a, b] of [
    [1, 7],
    [5, 3],
    [64, 64],
  ] as const) {
    it(`finds the line where copies part, whatever the chunks (${a}, ${b})`, async () => {
      expect((await compareStreams(chunked(text, a), chunked(text, b))).same).toBe(true);
      const edited = text.replace('three', 'thr3e');
      expect(await compareStreams(chunked(text, a), chunked(edited, b))).toMatchObject({
        same: false,
        line: 3,
      });
      const cut = text.slice(0, text.indexOf('line four'));
      expect(await compareStreams(chunked(text, a), chunked(cut, b))).toMatchObject({
        same: false,
        line: 4,
        bEnded: true,
        aEnded: false,
        aBytes: text.length,
        bBytes: cut.length,
      });
    });
  }
});

describe('compareCopies against a real bucket', () => {
  let swift: SwiftInfo;
  let store: S3Store;
  let collector: Collector;
  let up: Uploader;
  let dir: string;
  let bucket: string;
  const names: string[] = [];

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
    dir = tempDir('dev-');
    up = await Uploader.open({
      urls: [collector.url],
      token: DEVICES.a.token,
      device: DEVICES.a.device,
      dir,
      batchMs: 20,
      log: () => {},
    });
    for (let i = 0; i < 4; i++) {
      const feed = await startFeed(up, dir, { tickMs: 2, linesPerTick: 3 });
      while ((up.progress(feed.name)?.acknowledged ?? 0) < 3000)
        await new Promise((r) => setTimeout(r, 20));
      await feed.stop();
      await shipped(up, feed.name);
      names.push(feed.name);
    }
    fs.mkdirSync(path.join(dir, '.sshcast'), { recursive: true, mode: 0o700 });
    const entries = Array.from(
      { length: 5 },
      (_, seq) => `{"seq":${seq},"epoch":0,"time":${1000 + seq},"kind":"tick"}\n`,
    ).join('');
    fs.writeFileSync(path.join(dir, LEDGER_FILE), entries, { mode: 0o600 });
    up.grew(LEDGER_FILE, entries.length);
    await up.flush();
    await collector.finisher.idle();
    // Every object composed before the comparisons.
    for (const n of names)
      while (!(await store.head(`.uploads/${DEVICES.a.device}/${n}/done`)))
        await new Promise((r) => setTimeout(r, 50));
  }, 120_000);
  afterAll(async () => {
    await up?.close();
    await collector?.close();
    store?.close();
  });

  const compare = (now?: number) =>
    compareCopies(localCopies(dir), storedCopies(store, DEVICES.a.device), {
      uploadLagMs: 60_000,
      ...(now !== undefined ? { now } : {}),
    });

  it('all shipped: every recording and the ledger are the same', async () => {
    const c = await compare();
    expect(c.ok).toBe(true);
    expect(c.findings.map((f) => [f.name, f.word])).toEqual(
      [...names.map((n) => [n, 'same']), ['.sshcast/ledger-1000.jsonl', 'same']].sort((a, b) =>
        a[0]! < b[0]! ? -1 : 1,
      ),
    );
  });

  it('a device file deleted: missing-local; edited: differs at its line; an object removed: missing-remote', async () => {
    fs.rmSync(path.join(dir, names[0]!));
    const edited = path.join(dir, names[1]!);
    const lines = fs.readFileSync(edited, 'utf8').split('\n');
    lines[2] = lines[2]!.replace('"o"', '"i"');
    fs.writeFileSync(edited, lines.join('\n'));
    fs.utimesSync(path.join(dir, names[2]!), new Date(0), new Date(0)); // written long ago
    await botoDelete(swift, bucket, `fleet/${DEVICES.a.device}/${names[2]}`);
    const c = await compare();
    const byName = new Map(c.findings.map((f) => [f.name, f]));
    expect(byName.get(names[0]!)).toMatchObject({ word: 'missing-local', fails: true });
    expect(byName.get(names[1]!)).toMatchObject({ word: 'differs', line: 3, fails: true });
    expect(byName.get(names[2]!)).toMatchObject({ word: 'missing-remote', fails: true });
    expect(byName.get(names[3]!)).toMatchObject({ word: 'same', fails: false });
    expect(c.ok).toBe(false);
    expect(describeFinding(byName.get(names[1]!)!)).toBe(`${names[1]}: differs at line 3`);
    expect(describeFinding(byName.get(names[0]!)!)).toBe(
      `${names[0]}: missing-local (deleted on the device)`,
    );
  });

  it('a ledger cut back on the device: missing-local from the first entry it lost', async () => {
    const ledger = path.join(dir, LEDGER_FILE);
    const text = fs.readFileSync(ledger, 'utf8');
    fs.writeFileSync(ledger, text.split('\n').slice(0, 3).join('\n') + '\n');
    const f = (await compare()).findings.find((x) => x.kind === 'ledger')!;
    expect(f).toMatchObject({ word: 'missing-local', line: 4, fails: true });
    expect(describeFinding(f)).toMatch(
      /^ledger \.sshcast\/ledger-1000\.jsonl: missing-local from line 4 /,
    );
    fs.writeFileSync(ledger, text);
  });

  it('a recording still shipping: missing-remote from a line, not a failure within the upload lag', async () => {
    const feed = await startFeed(up, dir, { tickMs: 1000 });
    await up.accepted(feed.name, 10_000);
    await up.flush();
    await feed.stop(false);
    // Written on the device, not yet sent (the uploader is told nothing of it).
    fs.appendFileSync(feed.file, '[5.0, "o", "just written"]\n');
    const f = (await compare()).findings.find((x) => x.name === feed.name)!;
    expect(f).toMatchObject({ word: 'missing-remote', line: 2, fails: false });
    const later = (await compare(Date.now() + 120_000)).findings.find((x) => x.name === feed.name)!;
    expect(later.fails).toBe(true);
    up.closed(feed.name, fs.statSync(feed.file).size);
    await shipped(up, feed.name);
  });
});
