/**
 * Collectors for the tests: in this process (startCollector) or as a child process (the fixture
 * test/fixtures/collect/collector.mjs on the built code), so that it can be killed or stopped.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import path from 'node:path';
import type { FaultPoint } from '../../src/collect/faults.js';
import { Uploader, type UploaderOptions } from '../../src/remote/uploader.js';
import { ROOT } from './e2e.js';
import { s3Env, type SwiftInfo } from './swift.js';

const FIXTURE = path.join(ROOT, 'test/fixtures/collect/collector.mjs');

/** Two devices and their tokens, for tokens files. */
export const DEVICES = {
  a: { device: 'dev-a', token: crypto.randomBytes(24).toString('hex') },
  b: { device: 'dev-b', token: crypto.randomBytes(24).toString('hex') },
};
export const METRICS_TOKEN = crypto.randomBytes(24).toString('hex');
/** The collector's read token (GET /copies/, for `sshcast verify --against URL`). */
export const READ_TOKEN = crypto.randomBytes(24).toString('hex');
export const TOKENS_TEXT =
  `${DEVICES.a.device} ${DEVICES.a.token}\n${DEVICES.b.device} ${DEVICES.b.token}\n` +
  `@metrics ${METRICS_TOKEN}\n@read ${READ_TOKEN}\n`;

export interface CollectorProcessOptions {
  /** `s3://…` (with `swift`) or a directory. */
  store: string;
  swift?: SwiftInfo;
  leaseMs?: number;
  settleMs?: number;
  sweepMs?: number;
  idleMs?: number;
  segmentBytes?: number;
  /** Send `signal` to itself at the `hit`th time it reaches `point`. */
  fault?: { point: FaultPoint; hit: number; signal: 'SIGKILL' | 'SIGSTOP' };
}

export interface CollectorProcess {
  url: string;
  child: ChildProcess;
  output(): string;
  waitFor(text: string | RegExp, timeoutMs?: number): Promise<void>;
  exited: Promise<number | null>;
  signal(sig: NodeJS.Signals): void;
  /** SIGTERM (SIGCONT first, in case it is stopped), then SIGKILL if it lingers. */
  stop(): Promise<void>;
}

export async function startCollectorProcess(o: CollectorProcessOptions): Promise<CollectorProcess> {
  const { swift, ...rest } = o;
  const child = spawn(
    process.execPath,
    [FIXTURE, JSON.stringify({ tokens: TOKENS_TEXT, leaseMs: 2000, settleMs: 200, ...rest })],
    { env: { ...process.env, ...(swift ? s3Env(swift) : {}) }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  const waiters = new Set<() => void>();
  const onData = (d: Buffer) => {
    out += d.toString();
    for (const w of waiters) w();
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => resolve(code)),
  );
  const waitFor = (text: string | RegExp, timeoutMs = 30_000) =>
    new Promise<void>((resolve, reject) => {
      const check = () => {
        if (typeof text === 'string' ? out.includes(text) : text.test(out)) {
          waiters.delete(check);
          clearTimeout(timer);
          resolve();
        }
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`collector did not print ${String(text)} in ${timeoutMs} ms: ${out}`));
      }, timeoutMs);
      waiters.add(check);
      check();
    });
  await Promise.race([
    waitFor('collecting on '),
    exited.then((code) => {
      throw new Error(`collector exited (${code}) at start: ${out}`);
    }),
  ]);
  const url = /collecting on (\S+)/.exec(out)![1]!;
  const signal = (sig: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(sig);
  };
  return {
    url,
    child,
    output: () => out,
    waitFor,
    exited,
    signal,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      signal('SIGCONT');
      signal('SIGTERM');
      const timer = setTimeout(() => signal('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** An Uploader for one of {@link DEVICES} shipping `dir` to `url`, quick to batch and quiet. */
export function deviceUploader(
  url: string,
  dir: string,
  device: { device: string; token: string } = DEVICES.a,
  options: Partial<UploaderOptions> = {},
): Promise<Uploader> {
  return Uploader.open({
    urls: [url],
    token: device.token,
    device: device.device,
    dir,
    batchMs: 20,
    log: () => {},
    ...options,
  });
}
