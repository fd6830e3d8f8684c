/**
 * The same large output through a real SSH session (OpenSSH client -> the example server ->
 * pty -> `cat` of a 200 MB text file), with recording off, on, and on with sealing (a directory
 * set up with `sshcast seal init --interval 1s`), side by side: throughput, server CPU and peak
 * RSS. Targets: recording keeps at least 95% of the unrecorded throughput, and sealing at least
 * 95% of the recorded one. An unsealed session beside a process hashing as much as sealing would
 * shows what the hashing alone costs on the machine's cores.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  benchKey,
  benchWorkDir,
  cpuSeconds,
  mainThreadCpuSeconds,
  machineCpuSeconds,
  medianInterval,
  startBenchServer,
  type BenchServer,
} from './example-server.js';
import { chainStepInPlace } from '../src/sealing/chain.js';
import { initSealing } from '../src/sealing/setup.js';

export const title = 'SSH session throughput, recording on vs off';

const work = benchWorkDir('ssh');
const SIZE_MB = Number(process.env.SSHCAST_BENCH_MB ?? 200);
const ROUNDS = Number(process.env.SSHCAST_BENCH_ROUNDS ?? 3);
/**
 * Sets of sessions, recorded, sealed and beside the hashing process one after the other, for
 * sealing's ratio and its ceiling: the machine's speed drifts by more than sealing costs from
 * one session to the next, so each ratio is taken within a set (the order turns from set to set)
 * and the median over the sets is given, with an interval.
 */
const SETS = Number(process.env.SSHCAST_BENCH_SETS ?? 12);

interface Result {
  seconds: number;
  mbPerS: number;
  cpuSeconds: number;
  /** The server's main thread alone (the session's bytes all pass through it). */
  mainCpuSeconds: number;
  peakRssMiB: number;
  recordedMiB: number;
  /** The machine's steal time during the session (CPU the hypervisor gave to other guests). */
  stealSeconds: number;
}

function procStat(pid: number): { cpu: number; main: number; hwm: number } {
  const cpu = cpuSeconds(pid);
  const main = mainThreadCpuSeconds(pid);
  const hwm =
    Number(/VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) /
    1024;
  return { cpu, main, hwm };
}

function startServer(mode: Mode, dir: string): Promise<BenchServer> {
  return startBenchServer({
    recording: mode !== 'off',
    dir,
    work,
    authorizedKeys: path.join(work, 'authorized_keys'),
    ...(mode === 'thread' || mode === 'sealed-thread' ? { args: ['--record-thread'] } : {}),
  });
}

/**
 * Recording off, on, sealed; on and sealed written by the recording thread; and on beside a
 * process that hashes as much as sealing would ({@link hashAlongside}).
 */
type Mode = 'off' | 'on' | 'sealed' | 'thread' | 'sealed-thread' | 'alongside';

/**
 * A process that hashes what sealing would (the chain's SHA-256 over 4 KiB lines, as many MiB as
 * the recording holds) at `mibPerS`, beside an unsealed session: what the hashing alone costs
 * on this machine's cores, with nothing copied or sent, the ceiling of sealing's ratio here.
 */
function hashAlongside(mibPerS: number): ChildProcess {
  const script = `
    const crypto = require('node:crypto');
    const step = ${chainStepInPlace.toString()};
    const buf = crypto.randomBytes(32 + 1048576);
    const total = ${Math.ceil(SIZE_MB * 1.02)};
    const t0 = Date.now();
    let c;
    let i = 0;
    (function next() {
      for (; i < total; i++) {
        const due = t0 + (i / ${mibPerS}) * 1000;
        if (Date.now() < due) return void setTimeout(next, due - Date.now());
        for (let at = 32; at < buf.length; at += 4096)
          c = step(crypto, buf, c, at, Math.min(buf.length, at + 4096));
      }
    })();`;
  return spawn(process.execPath, ['-e', script], { stdio: 'ignore' });
}

async function once(mode: Mode, data: string, alongsideMiBPerS = 0): Promise<Result> {
  const dir = path.join(work, 'rec');
  fs.rmSync(dir, { recursive: true, force: true });
  if (mode === 'sealed' || mode === 'sealed-thread') {
    fs.mkdirSync(dir, { mode: 0o700 });
    initSealing(dir, { interval: 1 });
  }
  const server = await startServer(mode, dir);
  const user = os.userInfo().username;
  const before = procStat(server.pid);
  const steal = machineCpuSeconds().steal;
  const hasher = mode === 'alongside' ? hashAlongside(alongsideMiBPerS) : undefined;
  const start = process.hrtime.bigint();
  await new Promise<void>((resolve, reject) => {
    const ssh = spawn(
      'ssh',
      [
        '-p',
        String(server.port),
        '-i',
        path.join(work, 'id_ed25519'),
        '-F',
        '/dev/null',
        '-o',
        'StrictHostKeyChecking=no',
        '-o',
        'UserKnownHostsFile=/dev/null',
        '-o',
        'BatchMode=yes',
        '-o',
        'IdentitiesOnly=yes',
        '-o',
        'LogLevel=ERROR',
        '-tt',
        `${user}@127.0.0.1`,
        `stty raw -echo; cat ${data}`,
      ],
      { stdio: ['ignore', 'ignore', 'inherit'] },
    );
    ssh.on('error', reject);
    ssh.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`ssh exited ${code}`))));
  });
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const after = procStat(server.pid);
  const stolen = machineCpuSeconds().steal - steal;
  hasher?.kill();
  await server.stop();
  const recorded = fs.existsSync(dir)
    ? fs
        .readdirSync(dir)
        .filter((f) => f.endsWith('.cast'))
        .reduce((n, f) => n + fs.statSync(path.join(dir, f)).size, 0)
    : 0;
  fs.rmSync(dir, { recursive: true, force: true });
  return {
    seconds,
    mbPerS: SIZE_MB / seconds,
    cpuSeconds: after.cpu - before.cpu,
    mainCpuSeconds: after.main - before.main,
    peakRssMiB: after.hwm,
    recordedMiB: recorded / 2 ** 20,
    stealSeconds: stolen,
  };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

export async function run(): Promise<string> {
  benchKey(work);
  const data = path.join(work, `data-${SIZE_MB}M.txt`);
  if (!fs.existsSync(data)) {
    // Text like a terminal shows: base64 lines of 76 characters.
    execFileSync('sh', [
      '-c',
      `head -c ${Math.round((SIZE_MB * 2 ** 20 * 3) / 4)} /dev/urandom | base64 | head -c ${SIZE_MB * 2 ** 20} > ${data}`,
    ]);
  }
  const on: Result[] = [];
  const off: Result[] = [];
  const sealed: Result[] = [];
  const thread: Result[] = [];
  const sealedThread: Result[] = [];
  const alongside: Result[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    off.push(await once('off', data));
    on.push(await once('on', data));
    sealed.push(await once('sealed', data));
    thread.push(await once('thread', data));
    sealedThread.push(await once('sealed-thread', data));
    alongside.push(await once('alongside', data, on.at(-1)!.mbPerS));
  }
  // Each set: recorded, sealed, and recorded beside the hashing process, in an order that turns.
  const onRate = median(on.map((r) => r.mbPerS));
  const sets: Record<'on' | 'sealed' | 'alongside', Result>[] = [];
  for (let i = 0; i < SETS; i++) {
    const order = (['on', 'sealed', 'alongside'] as const).map((_, k, all) => all[(i + k) % 3]!);
    if (Math.floor(i / 3) % 2 === 1) order.reverse();
    const set: Partial<Record<'on' | 'sealed' | 'alongside', Result>> = {};
    for (const m of order) set[m] = await once(m, data, onRate);
    sets.push(set as Record<'on' | 'sealed' | 'alongside', Result>);
  }
  const setSealed = medianInterval(sets.map((p) => p.sealed.mbPerS / p.on.mbPerS));
  const setCeiling = medianInterval(sets.map((p) => p.alongside.mbPerS / p.on.mbPerS));
  const stealOf = (rs: Result[]) => rs.reduce((n, r) => n + r.stealSeconds, 0);
  const interval = (m: { low?: number; high?: number }) =>
    m.low === undefined
      ? ''
      : ` (the true median between ${m.low.toFixed(3)} and ${m.high!.toFixed(3)} with at least 95% confidence, from the sets' order statistics)`;
  const row = (name: string, rs: Result[]) =>
    `| ${name} | ${median(rs.map((r) => r.mbPerS)).toFixed(1)} | ${median(rs.map((r) => r.cpuSeconds)).toFixed(2)} | ${median(rs.map((r) => r.mainCpuSeconds)).toFixed(2)} (${(100 * median(rs.map((r) => r.mainCpuSeconds / r.seconds))) | 0}%) | ${median(rs.map((r) => r.peakRssMiB)).toFixed(0)} | ${median(rs.map((r) => r.recordedMiB)).toFixed(0)} |`;
  const ratio = median(on.map((r) => r.mbPerS)) / median(off.map((r) => r.mbPerS));
  const sealedRatio = median(sealed.map((r) => r.mbPerS)) / median(on.map((r) => r.mbPerS));
  // The machine's speed drifts from minute to minute: each round's own ratio shows the spread.
  const rounds = (a: Result[], b: Result[]) => {
    const rs = a.map((r, i) => r.mbPerS / b[i]!.mbPerS).sort((x, y) => x - y);
    return `${rs[0]!.toFixed(2)}–${rs.at(-1)!.toFixed(2)}, median ${median(rs).toFixed(3)}`;
  };
  return [
    `${SIZE_MB} MiB of base64 text, \`ssh -tt host cat FILE\` to /dev/null, OpenSSH client and the example server on 127.0.0.1; median of ${ROUNDS} alternating rounds.`,
    '',
    '| recording | MB/s | server CPU s | of it, main thread s (of the wall time) | server peak RSS MiB | recording MiB |',
    '|---|---|---|---|---|---|',
    row('off', off),
    row('on', on),
    row('on, sealed every 1 s', sealed),
    row('on, `--record-thread`', thread),
    row('on, sealed every 1 s, `--record-thread`', sealedThread),
    row('on, not sealed, a process hashing as much alongside', alongside),
    '',
    `Throughput ratio on/off: **${ratio.toFixed(3)}** (target ≥ 0.95; round by round ${rounds(on, off)}). Sealing on/off (both recorded), in the table's rounds: ${sealedRatio.toFixed(3)} (round by round ${rounds(sealed, on)}). With \`--record-thread\` (not the default; docs/performance.md): on/off **${(median(thread.map((r) => r.mbPerS)) / median(off.map((r) => r.mbPerS))).toFixed(3)}**, sealed/on **${(median(sealedThread.map((r) => r.mbPerS)) / median(thread.map((r) => r.mbPerS))).toFixed(3)}**. The hashing alone (a process hashing what sealing would, at the recorded session's rate, beside an unsealed session: nothing copied or sent) gives **${(median(alongside.map((r) => r.mbPerS)) / median(on.map((r) => r.mbPerS))).toFixed(3)}** of the recorded throughput: the ceiling of sealing on this machine.`,
    '',
    `Over ${SETS} sets of three sessions (recorded, sealed, and recorded beside the hashing process, in an order that turns from set to set), each set's own ratio: sealed/recorded has a median of **${setSealed.median.toFixed(3)}** (target ≥ 0.95)${interval(setSealed)}, set by set ${sets.map((p) => (p.sealed.mbPerS / p.on.mbPerS).toFixed(2)).join(', ')}; the hashing alone, ${setCeiling.median.toFixed(3)}${interval(setCeiling)}. The hypervisor gave other guests ${stealOf(sets.map((p) => p.on)).toFixed(1)} s of this machine's CPU during the recorded sessions of the sets, ${stealOf(sets.map((p) => p.sealed)).toFixed(1)} s during the sealed ones and ${stealOf(sets.map((p) => p.alongside)).toFixed(1)} s beside the hashing (steal time, /proc/stat).`,
  ].join('\n');
}
