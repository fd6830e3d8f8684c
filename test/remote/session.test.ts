/**
 * The example server streaming its recordings to a collector on Swift (`--remote`), driven by
 * the real OpenSSH client: the network frozen past the lag limit under each policy, the collector
 * down when a session starts, and the device's token file checked at start. The stored object is
 * read back with boto3 and compared with the device's file.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REMOTE_LAG_MESSAGE, START_FAILURE_MESSAGE } from '../../src/recording/policy.js';
import { DEVICES, startCollectorProcess, type CollectorProcess } from '../helpers/collector.js';
import {
  authorizedKey,
  finished,
  recordingAfter,
  recordings,
  requireTool,
  ssh,
  sshOptions,
  startRecordingServer,
  tempDir,
  until,
  type ExampleServer,
} from '../helpers/e2e.js';
import { startProxy, type Proxy } from '../helpers/proxy.js';
import { storedBytes } from '../helpers/stored.js';
import { makeBucket, useSwift, type SwiftInfo } from '../helpers/swift.js';

const PREFIX = 'fleet/';
const USER = 'root';
let swift: SwiftInfo;
let bucket: string;
let collector: CollectorProcess;
let work: string;
let key: { file: string; pub: string };
let authorizedKeys: string;
let tokenFile: string;
const cleanups: (() => Promise<unknown> | void)[] = [];

beforeAll(async () => {
  for (const tool of ['ssh', 'ssh-keygen']) requireTool(tool);
  swift = await useSwift();
  bucket = await makeBucket(swift);
  collector = await startCollectorProcess({ store: `s3://${bucket}/${PREFIX}`, swift });
  work = tempDir('remote-');
  ({ authorizedKeys, ...key } = await authorizedKey(work));
  tokenFile = path.join(work, 'token');
  fs.writeFileSync(tokenFile, `${DEVICES.a.token}\n`, { mode: 0o600 });
}, 120_000);

afterAll(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  await collector?.stop();
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

/** A URL nothing listens on. */
async function deadUrl(): Promise<string> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return `http://127.0.0.1:${port}`;
}

/** The example server streaming to `url` with `args`, recording into a fresh directory. */
async function server(
  url: string,
  args: string[] = [],
): Promise<{ server: ExampleServer; dir: string }> {
  const dir = path.join(tempDir('remote-rec-'), 'rec');
  const s = await startRecordingServer({
    dir,
    hostKey: path.join(work, 'host_key'),
    authorizedKeys,
    args: [
      '--remote',
      url,
      '--remote-token-file',
      tokenFile,
      '--remote-device',
      DEVICES.a.device,
      ...args,
    ],
  });
  cleanups.push(() => s.stop());
  return { server: s, dir };
}

/** A session that prints `start`, ticks until `flag` exists, then prints `end`. */
function tickingSession(port: number, flag: string) {
  const child = spawn(
    'ssh',
    [
      ...sshOptions(port, key.file),
      `${USER}@127.0.0.1`,
      '--',
      `echo start; while [ ! -e ${flag} ]; do echo tick; sleep 0.1; done; echo end`,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('close', resolve));
  cleanups.push(() => void child.kill('SIGKILL'));
  return { child, exited, stdout: () => stdout, stderr: () => stderr };
}

/** Resolves once the collector's copy of `file` is finished and identical to it. */
async function reachesCollector(file: string): Promise<void> {
  const id = `${DEVICES.a.device}/${path.basename(file)}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    const local = fs.readFileSync(file);
    const stored = await storedBytes(swift, bucket, PREFIX, id);
    if (stored.done) {
      expect(stored.bytes.equals(local)).toBe(true);
      return;
    }
    if (Date.now() > deadline)
      throw new Error(`${id}: not finished at the collector (${stored.bytes.length} bytes)`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

describe('a session streamed to a collector (example server, OpenSSH, Swift)', () => {
  it('says where it streams', async () => {
    const { server: s } = await server(collector.url);
    expect(s.output()).toContain(`streaming to ${collector.url} as ${DEVICES.a.device}\n`);
  });

  for (const policy of ['open', 'closed'] as const) {
    it(`network frozen past the lag limit, policy ${policy}: ${policy === 'open' ? 'the session goes on and catches up' : 'the session is ended with its message; the recording still reaches the collector'}`, async () => {
      const proxy: Proxy = await startProxy(collector.url);
      cleanups.push(() => proxy.close());
      const { server: s, dir } = await server(proxy.url, [
        '--remote-policy',
        policy,
        '--remote-max-lag',
        '2',
      ]);
      const flag = path.join(tempDir('flag-'), 'go');
      const session = tickingSession(s.port, flag);
      const file = await recordingAfter(dir);
      // Shipping: the collector has acknowledged bytes of this recording.
      await until(
        () => (proxy.requests.some((r) => r.startsWith('PATCH ')) ? true : undefined),
        'a PATCH through the proxy',
        30_000,
      );
      proxy.freeze();
      await s.waitFor(/its copy lags \d+ s behind/, 30_000);
      if (policy === 'open') {
        expect(s.output()).toMatch(/its copy lags \d+ s behind; the session goes on/);
        proxy.thaw();
        await s.waitFor('its copy caught up', 30_000);
        fs.writeFileSync(flag, '');
        expect(await session.exited).toBe(0);
        expect(session.stdout()).toMatch(/^start\n(tick\n)+end\n$/);
        expect(session.stderr()).not.toContain(REMOTE_LAG_MESSAGE);
      } else {
        expect(await session.exited).not.toBe(0);
        expect(session.stderr()).toContain(REMOTE_LAG_MESSAGE);
        expect(session.stdout()).not.toContain('end');
        proxy.thaw();
      }
      const cast = await finished(file);
      expect(cast.events.at(-1)![1]).toBe('x');
      await reachesCollector(file);
    }, 120_000);
  }

  it('collector down at session start, policy open: records locally, ships once it is up', async () => {
    const proxy = await startProxy(await deadUrl());
    cleanups.push(() => proxy.close());
    const { server: s, dir } = await server(proxy.url);
    const r = await ssh(s.port, key.file, USER, 'echo recorded while the collector is down');
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toBe('recorded while the collector is down\n');
    const [file] = recordings(dir);
    await finished(file!);
    proxy.setTarget(collector.url);
    await reachesCollector(file!);
  }, 120_000);

  it(`collector down at session start, policy closed: refused with "${START_FAILURE_MESSAGE}"`, async () => {
    const proxy = await startProxy(await deadUrl());
    cleanups.push(() => proxy.close());
    const { server: s, dir } = await server(proxy.url, ['--remote-policy', 'closed']);
    const r = await ssh(s.port, key.file, USER, 'echo should not run');
    expect(r.code).toBe(1);
    expect(r.stdout.toString()).toBe('');
    expect(r.stderr).toContain(START_FAILURE_MESSAGE);
    expect(recordings(dir)).toEqual([]); // the refused session's file is removed
    expect(s.output()).toMatch(/no collector accepted .*; session refused/);
    // With the collector back, the next session runs and is shipped.
    proxy.setTarget(collector.url);
    const ok = await ssh(s.port, key.file, USER, 'echo now it runs');
    expect(ok.code).toBe(0);
    expect(ok.stdout.toString()).toBe('now it runs\n');
    const [file] = recordings(dir);
    await finished(file!);
    await reachesCollector(file!);
  }, 120_000);
});

describe("the device's token, under policy closed", () => {
  for (const [what, token, status] of [
    ["another device's token", () => DEVICES.b.token, 403],
    ['a wrong token', () => 'w'.repeat(48), 401],
  ] as const) {
    it(`${what}: the collector refuses it (${status}), so the session is refused`, async () => {
      const file = path.join(work, `token-${status}`);
      fs.writeFileSync(file, `${token()}\n`, { mode: 0o600 });
      const dir = path.join(tempDir('remote-tok-'), 'rec');
      const s = await startRecordingServer({
        dir,
        hostKey: path.join(work, 'host_key'),
        authorizedKeys,
        args: [
          ...['--remote', collector.url, '--remote-token-file', file],
          ...['--remote-device', DEVICES.a.device, '--remote-policy', 'closed'],
        ],
      });
      cleanups.push(() => s.stop());
      const r = await ssh(s.port, key.file, USER, 'echo should not run');
      expect(r.code).toBe(1);
      expect(r.stdout.toString()).toBe('');
      expect(r.stderr).toContain(START_FAILURE_MESSAGE);
      expect(s.output()).toContain(`HTTP ${status}`);
      expect(recordings(dir)).toEqual([]);
    }, 60_000);
  }
});

describe('the example server refuses a bad --remote setup at start, in one line', () => {
  const start = async (args: string[]) => {
    const dir = path.join(tempDir('remote-bad-'), 'rec');
    const s = await startRecordingServer({
      dir,
      hostKey: path.join(work, 'host_key'),
      authorizedKeys,
      args,
      expectExit: true,
    });
    return s.output().trim();
  };

  it('a token file others can read', async () => {
    const open = path.join(work, 'token-open');
    fs.writeFileSync(open, `${DEVICES.a.token}\n`, { mode: 0o644 });
    fs.chmodSync(open, 0o644);
    const out = await start(['--remote', collector.url, '--remote-token-file', open]);
    expect(out).toBe(
      `sshcast server: --remote-token-file ${open} is readable by others (mode 644); chmod 600 it`,
    );
  });

  it('an empty token file', async () => {
    const empty = path.join(work, 'token-empty');
    fs.writeFileSync(empty, '', { mode: 0o600 });
    expect(await start(['--remote', collector.url, '--remote-token-file', empty])).toBe(
      `sshcast server: --remote-token-file ${empty}: expected one token of 16 to 512 printable characters`,
    );
  });

  it('--remote without a token file, a bad policy, a bad URL', async () => {
    expect(await start(['--remote', collector.url])).toBe(
      'sshcast server: --remote needs --remote-token-file',
    );
    expect(
      await start([
        '--remote',
        collector.url,
        '--remote-token-file',
        tokenFile,
        '--remote-policy',
        'x',
      ]),
    ).toBe('sshcast server: invalid --remote-policy "x": open or closed');
    expect(await start(['--remote', 'ftp://x', '--remote-token-file', tokenFile])).toMatch(
      /^sshcast server: collector URL ftp:\/\/x: expected http\(s\):\/\/HOST:PORT$/,
    );
  });
});
