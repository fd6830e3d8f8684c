/**
 * What the benchmarks share: a work directory that passes sshd's StrictModes wherever the
 * checkout is, a client key the server accepts, and the built example server as a child process.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ssh2 from 'ssh2';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SERVER_JS = path.join(root, 'dist/examples/server.js');

/** User + system CPU seconds so far, from a /proc `stat` file (a process's or a thread's). */
export function statCpuSeconds(statFile: string): number {
  const stat = fs.readFileSync(statFile, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / 100; // clock ticks, 100 a second on Linux
}

/** User + system CPU seconds of process `pid` so far. */
export function cpuSeconds(pid: number): number {
  return statCpuSeconds(`/proc/${pid}/stat`);
}

/** User + system CPU seconds of process `pid`'s main thread (its event loop) so far. */
export function mainThreadCpuSeconds(pid: number): number {
  return statCpuSeconds(`/proc/${pid}/task/${pid}/stat`);
}

/** The whole machine's CPU seconds so far by kind (all cores; the `cpu` line of /proc/stat). */
export function machineCpuSeconds(): Record<
  'user' | 'nice' | 'system' | 'idle' | 'iowait' | 'irq' | 'softirq' | 'steal',
  number
> {
  const f = fs.readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/);
  const [user, nice, system, idle, iowait, irq, softirq, steal] = f.slice(1, 9).map(Number);
  const s = (ticks: number | undefined) => ticks! / 100; // clock ticks, 100 a second on Linux
  return {
    user: s(user),
    nice: s(nice),
    system: s(system),
    idle: s(idle),
    iowait: s(iowait),
    irq: s(irq),
    softirq: s(softirq),
    steal: s(steal),
  };
}

/**
 * The median of `xs` and a distribution-free interval for it: the k-th smallest and k-th largest
 * values, with k the largest rank that still holds the true median with at least 95%
 * probability (from the binomial distribution of how many values fall below it). Undefined
 * bounds with fewer than 6 values, where no such interval exists.
 */
export function medianInterval(xs: number[]): { median: number; low?: number; high?: number } {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  const median = n % 2 ? s[(n - 1) / 2]! : (s[n / 2 - 1]! + s[n / 2]!) / 2;
  // P(Bin(n, 1/2) <= j) for j = 0, 1, ...: the interval [s(k), s(n-k+1)] misses the median with
  // probability 2 P(Bin <= k - 1).
  let k = 0;
  let choose = 1;
  let below = 0;
  for (let j = 0; j < n; j++) {
    below += choose / 2 ** n;
    if (2 * below > 0.05) break;
    k = j + 1;
    choose = (choose * (n - j)) / (j + 1);
  }
  return k === 0 ? { median } : { median, low: s[k - 1]!, high: s[n - k]! };
}

/**
 * A fresh-or-kept directory for one benchmark (mode 0700) below directories no one else can
 * write: authorized_keys files there pass StrictModes even when the checkout sits under /tmp.
 */
export function benchWorkDir(name: string): string {
  const base =
    process.getuid?.() === 0
      ? '/var/lib/sshcast-bench'
      : path.join(os.homedir(), '.cache/sshcast-bench');
  const dir = path.join(base, name);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  return dir;
}

/** A client key in `work` (made once with ssh-keygen) and an authorized_keys that lists it. */
export function benchKey(work: string): { keyFile: string; authorizedKeys: string } {
  const keyFile = path.join(work, 'id_ed25519');
  if (!fs.existsSync(keyFile)) {
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', keyFile]);
  }
  const authorizedKeys = path.join(work, 'authorized_keys');
  fs.copyFileSync(`${keyFile}.pub`, authorizedKeys);
  fs.chmodSync(authorizedKeys, 0o600);
  return { keyFile, authorizedKeys };
}

/** A running example server. */
export interface BenchServer {
  child: ChildProcess;
  pid: number;
  port: number;
  dir: string;
  stop(): Promise<void>;
}

/**
 * Starts the built example server on a free port, recording into `dir` or not, with its host key
 * in `work` and logins from `authorizedKeys` (each account's own ~/.ssh/authorized_keys when
 * absent); `args` are added.
 */
export async function startBenchServer(options: {
  recording: boolean;
  dir: string;
  work: string;
  authorizedKeys?: string;
  args?: string[];
}): Promise<BenchServer> {
  const env = { ...process.env };
  if (options.recording) env.TS_DEBUG_LOG_SSH = '1';
  else delete env.TS_DEBUG_LOG_SSH;
  // SSHCAST_BENCH_PROFILE=DIR: each server writes a V8 CPU profile there (node --cpu-prof).
  const profile = process.env.SSHCAST_BENCH_PROFILE;
  const child = spawn(
    process.execPath,
    [
      ...(profile ? ['--cpu-prof', `--cpu-prof-dir=${profile}`] : []),
      SERVER_JS,
      '--port',
      '0',
      '--dir',
      options.dir,
      '--host-key',
      path.join(options.work, 'host_key'),
      ...(options.authorizedKeys ? ['--authorized-keys', options.authorizedKeys] : []),
      ...(options.args ?? []),
    ],
    { env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on [^\n]*:(\d+)\n/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', () => reject(new Error(`server exited: ${out}`)));
  });
  return {
    child,
    pid: child.pid!,
    port,
    dir: options.dir,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = once(child, 'exit');
        child.kill('SIGTERM');
        await exited;
      }
    },
  };
}

/** An in-process ssh2 client logged in to the bench server on `port` with `keyFile`. */
export function benchConnect(
  port: number,
  keyFile: string,
  username = 'root',
): Promise<ssh2.Client> {
  return new Promise((resolve, reject) => {
    const client = new ssh2.Client();
    client.on('ready', () => resolve(client)).on('error', reject);
    client.connect({
      host: '127.0.0.1',
      port,
      username,
      privateKey: fs.readFileSync(keyFile),
      readyTimeout: 30_000,
    });
  });
}
