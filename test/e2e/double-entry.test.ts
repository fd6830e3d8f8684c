/**
 * Double entry, with the built CLI under plain node: real recordings made by the Recorder in a
 * sealed directory, shipped by the uploader to a real collector storing in Swift (and a second
 * device to a collector's --dir), then `sshcast verify --against` over s3://, the collector's
 * URL and the --dir: a clean pair is `same` (exit 0); a recording still being written is
 * `missing-remote` within the upload lag (exit 0) and a failure past it; a device file deleted is
 * `missing-local`, one edited `differs at line N`, an object removed with boto3 `missing-remote`,
 * a ledger entry removed on the device shows in the collector's copy, which verifies with the key.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCollector, type Collector } from '../../src/collect/server.js';
import { parseTokens } from '../../src/collect/tokens.js';
import { Recorder } from '../../src/recording/recorder.js';
import { LEDGER_FILE, Uploader } from '../../src/remote/uploader.js';
import { formatVerificationKey } from '../../src/sealing/key.js';
import { initSealing } from '../../src/sealing/setup.js';
import { DirStore } from '../../src/storage/dir.js';
import { s3Settings } from '../../src/storage/location.js';
import type { ObjectStore } from '../../src/storage/objects.js';
import { S3Store } from '../../src/storage/s3.js';
import { botoDelete } from '../helpers/boto.js';
import { DEVICES, READ_TOKEN, TOKENS_TEXT } from '../helpers/collector.js';
import { tempDir } from '../helpers/e2e.js';
import { shipped } from '../helpers/recording-feed.js';
import { makeBucket, s3Env, useSwift, type SwiftInfo } from '../helpers/swift.js';
import { isOneLineError, runCli } from '../cli/helpers.js';

/** Makes `count` recordings with the Recorder in `dir` (sealed), each a few output lines. */
async function record(dir: string, count: number, tag: string): Promise<string[]> {
  const recorder = new Recorder({ enabled: true, dir, log: () => {} });
  recorder.check();
  const names: string[] = [];
  for (let i = 0; i < count; i++) {
    const rec = recorder.start({ cols: 80, rows: 24, localUser: 'alice', command: `job ${i}` });
    for (let l = 1; l <= 5; l++) rec.output(Buffer.from(`${tag} ${i} line ${l}\r\n`));
    await rec.finish(0);
    names.push(path.basename(rec.file!));
  }
  await recorder.close();
  return names;
}

/** Ships every recording in `dir` and its ledger through `up`; resolves when all are shipped. */
async function shipAll(
  up: Uploader,
  dir: string,
  names: string[],
  store: ObjectStore,
  device: string,
) {
  for (const name of names) {
    const size = fs.statSync(path.join(dir, name)).size;
    await up.opened(name);
    up.grew(name, size);
    up.closed(name, size);
  }
  up.grew(LEDGER_FILE, fs.statSync(path.join(dir, LEDGER_FILE)).size);
  await up.flush();
  for (const name of names) await shipped(up, name);
  // Every recording composed into its object before the comparisons.
  for (const name of names)
    while (!(await store.head(`.uploads/${device}/${name}/done`)))
      await new Promise((r) => setTimeout(r, 50));
}

describe('sshcast verify --against', () => {
  let swift: SwiftInfo;
  let bucket: string;
  let s3: S3Store;
  let collector: Collector;
  let up: Uploader;
  let dir: string;
  let key: string;
  let names: string[];
  let tokenFile: string;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    swift = await useSwift();
    bucket = await makeBucket(swift);
    env = { ...process.env, ...s3Env(swift) };
    s3 = new S3Store(s3Settings(`s3://${bucket}/fleet`, s3Env(swift)));
    collector = await startCollector({
      store: s3,
      tokens: parseTokens(TOKENS_TEXT),
      settleMs: 20,
      sweepMs: 0,
      log: () => {},
    });
    dir = tempDir('dev-');
    key = formatVerificationKey(initSealing(dir, { interval: 3600 }).key);
    names = await record(dir, 4, 'a');
    up = await Uploader.open({
      urls: [collector.url],
      token: DEVICES.a.token,
      device: DEVICES.a.device,
      dir,
      batchMs: 20,
      log: () => {},
    });
    await shipAll(up, dir, names, s3, DEVICES.a.device);
    tokenFile = path.join(tempDir('read-'), 'token');
    fs.writeFileSync(tokenFile, `${READ_TOKEN}\n`, { mode: 0o600 });
  }, 180_000);
  afterAll(async () => {
    await up?.close();
    await collector?.close();
    s3?.close();
  });

  const verify = (...args: string[]) => runCli(['verify', dir, ...args], { env });
  const lines = (stdout: string) => stdout.trim().split('\n');

  it('a clean pair: every recording and the ledger the same, exit 0, over s3://, the URL and with the device from uploads.json', async () => {
    const total = `against s3://${bucket}/fleet/${DEVICES.a.device}: 5 same`;
    const r = await verify('--against', `s3://${bucket}/fleet/${DEVICES.a.device}`);
    expect(r.stderr).toBe('');
    expect(lines(r.stdout)).toEqual([
      expect.stringMatching(/^ledger \.sshcast\/ledger-\d+\.jsonl: same$/),
      ...names.map((n) => `${n}: same`).sort(),
      total,
    ]);
    expect(r.code).toBe(0);
    // The device named by its uploader's state.
    const bare = await verify('--against', `s3://${bucket}/fleet`);
    expect(bare.code).toBe(0);
    expect(lines(bare.stdout).at(-1)).toBe(total);
    // Through the collector, with its read token.
    const http = await verify('--against', collector.url, '--token-file', tokenFile);
    expect(http.stderr).toBe('');
    expect(http.code).toBe(0);
    expect(lines(http.stdout).at(-1)).toBe(`against ${collector.url}/${DEVICES.a.device}: 5 same`);
    // The ledger copy read through the collector too (its name holds a slash).
    const keyed = await verify('--against', collector.url, '--token-file', tokenFile, '--key', key);
    expect(keyed.code).toBe(0);
    expect(keyed.stdout).toMatch(
      new RegExp(
        `^${collector.url}/${DEVICES.a.device}, with the key:\n(?: {2}.*\n)*? {2}ledger: ok, `,
        'm',
      ),
    );
  });

  it('with the key: the device, the comparison and the collector copy, each ok', async () => {
    const r = await verify('--against', `s3://${bucket}/fleet`, '--key', key);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const out = r.stdout;
    expect(out).toContain(`${dir}, with the key:\n`);
    expect(out).toContain(`s3://${bucket}/fleet/${DEVICES.a.device}, with the key:\n`);
    for (const n of names) expect(out.split(`  ${n}: ok sealed through line`)).toHaveLength(3);
    expect(out.match(/^ {2}ledger: ok, \d+ entries/gm)).toHaveLength(2);
  });

  it('--json: the comparison, and with the key the two verifications', async () => {
    const r = await verify('--against', `s3://${bucket}/fleet`, '--key', key, '--json');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout) as {
      exit: number;
      against: { target: string; device: string; ok: boolean; findings: { word: string }[] };
      device: { exit: number; recordings: unknown[] };
      collector: { exit: number; recordings: unknown[] };
    };
    expect(j.exit).toBe(0);
    expect(j.against).toMatchObject({
      target: `s3://${bucket}/fleet/${DEVICES.a.device}`,
      device: DEVICES.a.device,
      ok: true,
    });
    expect(j.against.findings.map((f) => f.word)).toEqual(Array(5).fill('same'));
    expect(j.device.recordings).toHaveLength(4);
    expect(j.collector.recordings).toHaveLength(4);
  });

  it('a device token does not read through the collector; the read token file must be private', async () => {
    const deviceToken = path.join(path.dirname(tokenFile), 'device-token');
    fs.writeFileSync(deviceToken, `${DEVICES.a.token}\n`, { mode: 0o600 });
    const r = await verify('--against', collector.url, '--token-file', deviceToken);
    expect(r.code).toBe(1);
    expect(isOneLineError(r.stderr)).toBe(true);
    expect(r.stderr).toMatch(/HTTP 401 \(the read token is needed\)/);
    const res = await fetch(`${collector.url}/copies/${DEVICES.a.device}/${names[0]}`, {
      headers: { authorization: `Bearer ${DEVICES.a.token}` },
    });
    expect(res.status).toBe(401);
    fs.chmodSync(deviceToken, 0o644);
    const open = await verify('--against', collector.url, '--token-file', deviceToken);
    expect(open.code).toBe(2);
    expect(open.stderr).toMatch(/open to group or others/);
    const none = await verify('--against', collector.url);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/--token-file FILE/);
  });

  it('a recording still being written: missing-remote within the upload lag (exit 0), a failure past it', async () => {
    const more = await record(dir, 1, 'late');
    const r = await verify('--against', `s3://${bucket}/fleet`);
    const out = lines(r.stdout);
    expect(
      out.find((l) => l.startsWith(more[0]!)),
      r.stdout,
    ).toMatch(/: missing-remote \(last written \d s ago, still shipping\)$/);
    // The device's uploader ships the ledger by itself, every batch: by now it may have caught up.
    expect(out.find((l) => l.startsWith('ledger '))).toMatch(
      /: (same|missing-remote from line \d+ \(last written \d+ s ago, still shipping\))$/,
    );
    expect(r.code).toBe(0);
    const strict = await verify('--against', `s3://${bucket}/fleet`, '--upload-lag', '0');
    expect(strict.code).toBe(1);
    await shipAll(up, dir, more, s3, DEVICES.a.device);
    names.push(...more);
    expect((await verify('--against', `s3://${bucket}/fleet`)).code).toBe(0);
  });

  it('tampering on either side: missing-local, differs at line N, missing-remote, a ledger entry gone from the device', async () => {
    const [deleted, edited, removed] = names;
    fs.rmSync(path.join(dir, deleted!));
    const file = path.join(dir, edited!);
    const text = fs.readFileSync(file, 'utf8').split('\n');
    text[3] = text[3]!.replace('line', 'lime');
    fs.writeFileSync(file, text.join('\n'));
    fs.utimesSync(path.join(dir, removed!), new Date(0), new Date(0)); // shipped long ago
    await botoDelete(swift, bucket, `fleet/${DEVICES.a.device}/${removed}`);
    // The device's ledger loses the entry that opened the deleted recording.
    const ledger = path.join(dir, LEDGER_FILE);
    const entries = fs.readFileSync(ledger, 'utf8').split('\n');
    const gone = entries.findIndex((l) => l.includes(`"open"`) && l.includes(deleted!));
    entries.splice(gone, 1);
    fs.writeFileSync(ledger, entries.join('\n'));

    const r = await verify('--against', `s3://${bucket}/fleet`);
    expect(r.code).toBe(1);
    const out = lines(r.stdout);
    expect(out).toContain(`${deleted}: missing-local (deleted on the device)`);
    expect(out).toContain(`${edited}: differs at line 4`);
    expect(
      out.find((l) => l.startsWith(removed!)),
      r.stdout,
    ).toMatch(/: missing-remote \(last written \d+ s ago\)$/);
    expect(out.find((l) => l.startsWith('ledger '))).toMatch(
      new RegExp(`: differs at line ${gone + 1}$`),
    );

    // With the key: the device's ledger fails at the removed entry; the collector's copy holds it.
    const k = await verify('--against', `s3://${bucket}/fleet`, '--key', key);
    expect(k.code).toBe(1);
    const [device, , theirs] = k.stdout
      .split(/^\S.*, with the key:\n|^\S.* against .*:\n/m)
      .slice(1);
    expect(device).toMatch(new RegExp(`^ {2}ledger: entry ${gone}: `, 'm'));
    expect(theirs).toMatch(/^ {2}ledger: ok, \d+ entries/m);
    expect(theirs).toContain(`  ${deleted}: ok sealed through line`);
    expect(theirs).toContain(`  ${removed}: deleted`);
  });
});
