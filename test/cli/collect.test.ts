/**
 * `sshcast collect` as users run it (the built CLI under plain node): refusals at start with one
 * line, and a collector over HTTPS into Swift, and into a directory, that a device ships to.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Uploader } from '../../src/remote/uploader.js';
import { botoGet } from '../helpers/boto.js';
import { DEVICES, METRICS_TOKEN, TOKENS_TEXT, deviceUploader } from '../helpers/collector.js';
import { tempDir } from '../helpers/e2e.js';
import { shipped, startFeed } from '../helpers/recording-feed.js';
import { makeBucket, s3Env, useSwift, type SwiftInfo } from '../helpers/swift.js';
import { cliPath, runCli } from './helpers.js';

let work: string;
let tokens: string;
const children: ChildProcess[] = [];

beforeAll(() => {
  work = tempDir('collect-cli-');
  tokens = path.join(work, 'tokens');
  fs.writeFileSync(tokens, TOKENS_TEXT, { mode: 0o600 });
});
afterAll(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
});

/** Starts `sshcast collect ARGS`; resolves with its URL once it prints `collecting on`. */
function startCli(
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ url: string; child: ChildProcess; output: () => string }> {
  const child = spawn(process.execPath, [cliPath, 'collect', ...args], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let out = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "collecting on" in 30 s: ${out}`)), 30_000);
    const on = (d: Buffer) => {
      out += d.toString();
      const m = /collecting on (\S+)\n/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ url: m[1]!, child, output: () => out });
      }
    };
    child.stdout!.on('data', on);
    child.stderr!.on('data', on);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`collect exited ${code}: ${out}`));
    });
  });
}

/** Waits until `n` bytes of `name` are acknowledged. */
async function acknowledged(up: Uploader, name: string, n: number): Promise<void> {
  for (let i = 0; (up.progress(name)?.acknowledged ?? 0) < n; i++) {
    if (i > 600) throw new Error(`${name}: ${n} bytes not acknowledged in 30 s`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function stop(child: ChildProcess): Promise<number | null> {
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  child.kill('SIGTERM');
  return exited;
}

describe('sshcast collect refuses a bad start with one line', () => {
  it('a tokens file others can read', async () => {
    const open = path.join(work, 'open-tokens');
    fs.writeFileSync(open, TOKENS_TEXT, { mode: 0o644 });
    fs.chmodSync(open, 0o644);
    const r = await runCli(['collect', '--listen', '127.0.0.1:0', '--tokens', open, '--dir', work]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `sshcast: tokens file ${open} is open to group or others (mode 0644): chmod 600 ${open}\n`,
    );
  });

  it.each([
    [['--tokens', 'T', '--dir', 'D'], /--listen HOST:PORT is required/],
    [['--listen', '127.0.0.1:0', '--dir', 'D'], /--tokens FILE is required/],
    [['--listen', '127.0.0.1:0', '--tokens', 'T'], /one of --dir DIR and --s3/],
    [['--listen', '127.0.0.1:0', '--tokens', 'T', '--dir', 'D', '--s3', 's3://b/p'], /one of/],
    [['--listen', 'nowhere', '--tokens', 'T', '--dir', 'D'], /--listen must be HOST:PORT/],
    [['--listen', '127.0.0.1:0', '--tokens', 'T', '--dir', 'D', '--tls-cert', 'C'], /go together/],
    [
      ['--listen', '127.0.0.1:0', '--tokens', 'T', '--dir', 'D', '--device-requests', '0'],
      /--device-requests needs a whole number from 1, not "0"/,
    ],
  ])('usage: %j', async (args, message) => {
    const r = await runCli(['collect', ...args]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('an s3:// bucket it cannot reach', async () => {
    const r = await runCli(
      ['collect', '--listen', '127.0.0.1:0', '--tokens', tokens, '--s3', 's3://no-such-bucket/x'],
      {
        env: {
          ...process.env,
          AWS_ENDPOINT_URL: 'http://127.0.0.1:9',
          AWS_ACCESS_KEY_ID: 'a',
          AWS_SECRET_ACCESS_KEY: 'b',
        },
      },
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^sshcast: cannot reach s3:\/\/no-such-bucket\/x\/: /);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });
});

describe('sshcast collect serving', () => {
  let swift: SwiftInfo;
  beforeAll(async () => {
    swift = await useSwift();
  }, 120_000);

  it('over HTTPS into Swift: a device ships a recording; /metrics needs its own token', async () => {
    const bucket = await makeBucket(swift);
    const cert = path.join(work, 'cert.pem');
    const key = path.join(work, 'key.pem');
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ed25519',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=127.0.0.1',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
        '-keyout',
        key,
        '-out',
        cert,
      ],
      { stdio: 'ignore' },
    );
    const env = { ...process.env, ...s3Env(swift) };
    delete env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED;
    const c = await startCli(
      [
        '--listen',
        '127.0.0.1:0',
        '--tokens',
        tokens,
        '--s3',
        `s3://${bucket}/fleet`,
        '--tls-cert',
        cert,
        '--tls-key',
        key,
      ],
      env,
    );
    expect(c.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const dir = tempDir('dev-');
    const up = await Uploader.open({
      urls: [c.url],
      token: DEVICES.a.token,
      device: DEVICES.a.device,
      dir,
      ca: fs.readFileSync(cert),
      batchMs: 20,
      log: () => {},
    });
    const feed = await startFeed(up, dir, { tickMs: 5 });
    await acknowledged(up, feed.name, 2000);
    await feed.stop();
    await shipped(up, feed.name);
    await up.close();

    const metrics = (token?: string) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        https
          .get(
            `${c.url}/metrics`,
            {
              ca: fs.readFileSync(cert),
              headers: token ? { authorization: `Bearer ${token}` } : {},
            },
            (res) => {
              let body = '';
              res.on('data', (d: Buffer) => (body += d.toString()));
              res.on('end', () => resolve({ status: res.statusCode!, body }));
            },
          )
          .on('error', reject);
      });
    expect((await metrics()).status).toBe(401);
    expect((await metrics(DEVICES.a.token)).status).toBe(401);
    const m = await metrics(METRICS_TOKEN);
    expect(m.status).toBe(200);
    const bytes = Number(
      /sshcast_collect_received_bytes_total\{device="dev-a"\} (\d+)/.exec(m.body)?.[1],
    );
    expect(bytes).toBe(fs.statSync(feed.file).size);
    expect(m.body).toMatch(/sshcast_collect_last_heard_timestamp_seconds\{device="dev-a"\} \d/);
    expect(m.body).toMatch(/sshcast_collect_ack_lag_seconds\{device="dev-a"\} [0-9.]+/);

    expect(await stop(c.child)).toBe(0);
    expect(c.output()).not.toMatch(/NodeVersionSupportWarning|Warning/);
    const stored = await botoGet(swift, bucket, `fleet/${DEVICES.a.device}/${feed.name}`);
    expect(stored.equals(fs.readFileSync(feed.file))).toBe(true);
  }, 120_000);

  it('into a directory: the recording at DIR/DEVICE/NAME (0600), one collector per directory', async () => {
    const store = path.join(work, 'store');
    const c = await startCli(['--listen', '127.0.0.1:0', '--tokens', tokens, '--dir', store]);
    const second = await runCli([
      'collect',
      '--listen',
      '127.0.0.1:0',
      '--tokens',
      tokens,
      '--dir',
      store,
    ]);
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(
      new RegExp(`^sshcast: another collector \\(pid ${c.child.pid}\\) uses ${store}\\n$`),
    );
    const dir = tempDir('dev-');
    const up = await deviceUploader(c.url, dir, DEVICES.b);
    const feed = await startFeed(up, dir, { tickMs: 5 });
    await acknowledged(up, feed.name, 2000);
    await feed.stop();
    await shipped(up, feed.name);
    await up.close();
    const file = path.join(store, DEVICES.b.device, feed.name);
    for (let i = 0; i < 100 && !fs.existsSync(file); i++)
      await new Promise((r) => setTimeout(r, 100));
    expect(fs.readFileSync(file).equals(fs.readFileSync(feed.file))).toBe(true);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(fs.statSync(path.join(store, DEVICES.b.device)).mode & 0o777).toBe(0o700);
    expect(await stop(c.child)).toBe(0);
    expect(fs.existsSync(path.join(store, '.uploads/.lock'))).toBe(false);
  }, 120_000);
});
