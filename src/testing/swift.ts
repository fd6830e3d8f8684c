/**
 * OpenStack Swift with its S3 API (s3api), from Debian's packages (swift swift-proxy
 * swift-account swift-container swift-object), on loopback for tests and benchmarks: one ring per
 * service with one device in a temp directory, four servers (account, container, object, proxy)
 * on free ports, tempauth's `test:tester` / `testing`, region us-east-1. Each server makes itself
 * a session leader (setsid), so it is stopped by its process group, which holds its worker too.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { SshcastError } from '../errors.js';

/** How to reach a running Swift through S3. */
export interface SwiftInfo {
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
}

/** A Swift this process started. */
export interface SwiftServer extends SwiftInfo {
  stop(): Promise<void>;
}

const SERVERS = ['account', 'container', 'object'] as const;
const BIN_DIR = '/usr/bin';

/** Fails (never skips) when Debian's Swift packages are missing. */
export function requireSwift(): void {
  const missing = [...SERVERS, 'proxy']
    .map((s) => `swift-${s}-server`)
    .concat('swift-ring-builder')
    .filter((b) => !fs.existsSync(path.join(BIN_DIR, b)));
  if (missing.length > 0)
    throw new SshcastError(
      'ERR_TEST_SWIFT',
      `OpenStack Swift is not installed (${missing.join(', ')}): apt-get install swift swift-proxy swift-account swift-container swift-object (.ci/run does)`,
    );
}

async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<net.Server>((resolve, reject) => {
          const s = net.createServer();
          s.once('error', reject);
          s.listen(0, '127.0.0.1', () => resolve(s));
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as net.AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

function run(cmd: string, args: string[], cwd: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    child.once('error', reject);
    child.once('exit', (code) =>
      code === 0
        ? resolve()
        : reject(new SshcastError('ERR_TEST_SWIFT', `${cmd} ${args.join(' ')}: ${err.trim()}`)),
    );
  });
}

function serverConf(dir: string, service: string, port: number, user: string): string {
  return `[DEFAULT]
bind_ip = 127.0.0.1
bind_port = ${port}
devices = ${dir}/devices
mount_check = false
swift_dir = ${dir}
workers = 1
user = ${user}
log_level = ERROR

[pipeline:main]
pipeline = ${service}-server

[app:${service}-server]
use = egg:swift#${service}

[${service}-replicator]
[${service}-updater]
[${service}-auditor]
`;
}

// STACK.md's pipeline; the cache filter stays although there is no memcached (s3api needs it).
function proxyConf(dir: string, port: number, user: string): string {
  const filters = [
    'catch_errors',
    'gatekeeper',
    'healthcheck',
    'proxy-logging',
    'cache',
    'listing_formats',
    's3api',
    'tempauth',
    'copy',
    'slo',
    'dlo',
  ];
  const eggs: Record<string, string> = { cache: 'memcache', 'proxy-logging': 'proxy_logging' };
  return `[DEFAULT]
bind_ip = 127.0.0.1
bind_port = ${port}
swift_dir = ${dir}
workers = 1
user = ${user}
log_level = ERROR

[pipeline:main]
pipeline = ${filters.join(' ')} proxy-logging proxy-server

[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true

[filter:tempauth]
use = egg:swift#tempauth
user_test_tester = testing .admin

${filters
  .filter((f) => f !== 'tempauth')
  .map((f) => `[filter:${f}]\nuse = egg:swift#${eggs[f] ?? f.replace('-', '_')}\n`)
  .join('\n')}`;
}

/** Starts a Swift of its own in a temp directory; resolves once it answers S3 requests. */
export async function startSwift(timeoutMs = 60_000): Promise<SwiftServer> {
  requireSwift();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sshcast-swift-'));
  const user = os.userInfo().username;
  const [proxyPort, ...ports] = await freePorts(4);
  fs.mkdirSync(path.join(dir, 'devices/d1'), { recursive: true });
  fs.writeFileSync(
    path.join(dir, 'swift.conf'),
    `[swift-hash]\nswift_hash_path_suffix = ${crypto.randomUUID()}\nswift_hash_path_prefix = sshcast\n\n[storage-policy:0]\nname = Policy-0\ndefault = yes\n`,
  );
  await Promise.all(
    SERVERS.map(async (service, i) => {
      const builder = path.join(dir, `${service}.builder`);
      await run(`${BIN_DIR}/swift-ring-builder`, [builder, 'create', '8', '1', '1'], dir);
      await run(
        `${BIN_DIR}/swift-ring-builder`,
        [builder, 'add', `r1z1-127.0.0.1:${ports[i]}/d1`, '100'],
        dir,
      );
      await run(`${BIN_DIR}/swift-ring-builder`, [builder, 'rebalance'], dir);
      fs.writeFileSync(
        path.join(dir, `${service}-server.conf`),
        serverConf(dir, service, ports[i]!, user),
      );
    }),
  );
  fs.writeFileSync(path.join(dir, 'proxy-server.conf'), proxyConf(dir, proxyPort!, user));

  const children: ChildProcess[] = [];
  const logs: string[] = [];
  for (const service of [...SERVERS, 'proxy']) {
    const child = spawn(
      `${BIN_DIR}/swift-${service}-server`,
      [path.join(dir, `${service}-server.conf`), '-v'],
      { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const log = (d: Buffer) => logs.push(`${service}: ${d.toString()}`);
    child.stdout!.on('data', log);
    child.stderr!.on('data', log);
    child.on('error', (err) => logs.push(`${service}: ${err.message}`));
    children.push(child);
  }

  const stop = async () => {
    await Promise.all(
      children.map(async (child) => {
        if (child.exitCode !== null || child.signalCode !== null || !child.pid) return;
        const exited = new Promise((r) => child.once('exit', r));
        try {
          process.kill(-child.pid, 'SIGTERM');
        } catch {
          child.kill('SIGTERM');
        }
        const timer = setTimeout(() => {
          try {
            process.kill(-child.pid!, 'SIGKILL');
          } catch {
            // gone
          }
        }, 5000);
        await exited;
        clearTimeout(timer);
      }),
    );
    fs.rmSync(dir, { recursive: true, force: true });
  };

  const info: SwiftInfo = {
    endpoint: `http://127.0.0.1:${proxyPort}`,
    region: 'us-east-1',
    accessKeyId: 'test:tester',
    secretAccessKey: 'testing',
  };
  const deadline = Date.now() + timeoutMs;
  try {
    for (let attempt = 0; ; attempt++) {
      const dead = children.find((c) => c.exitCode !== null);
      if (dead)
        throw new SshcastError(
          'ERR_TEST_SWIFT',
          `a Swift server exited at start: ${logs.join('').slice(-2000)}`,
        );
      const problem = await notReady(info);
      if (!problem) break;
      if (Date.now() > deadline)
        throw new SshcastError(
          'ERR_TEST_SWIFT',
          `Swift did not answer within ${timeoutMs} ms: ${problem}`,
        );
      await new Promise((r) => setTimeout(r, Math.min(50 * 2 ** attempt, 500)));
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { ...info, stop };
}

/** Why Swift's S3 API is not ready yet, or undefined (a ListBuckets through the SDK). */
async function notReady(info: SwiftInfo): Promise<string | undefined> {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  // Loaded here only: the SDK is big, and sshcast/testing should not load it for everyone.
  const { S3Client, ListBucketsCommand } = await import('@aws-sdk/client-s3');
  const client = new S3Client({
    endpoint: info.endpoint,
    region: info.region,
    forcePathStyle: true,
    credentials: { accessKeyId: info.accessKeyId, secretAccessKey: info.secretAccessKey },
    maxAttempts: 1,
  });
  try {
    await client.send(new ListBucketsCommand({}));
    return undefined;
  } catch (err) {
    return String(err);
  } finally {
    client.destroy();
  }
}
