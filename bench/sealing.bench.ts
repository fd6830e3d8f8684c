/**
 * Sealing (DESIGN section 7): the writer with sealing on (a directory set up by seal init, the key
 * moving every second) against the same writer in a directory that is not sealed; `sshcast
 * verify` (the built CLI) on 1 GiB of recordings; and an idle server sealing every second for an
 * hour (the clock injected, the hour's 3600 key moves made for real: each appends a tick, syncs
 * the ledger, overwrites the key state and syncs it). Targets: writer on/off ≥ 0.9; verify of
 * 1 GiB under 10 s.
 */
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { benchWorkDir, statCpuSeconds } from './example-server.js';
import { chunks, corpus, median, prng } from './writer.bench.js';
import { ManualClock } from '../src/clock.js';
import { Recorder } from '../src/recording/recorder.js';
import { chainStepInPlace } from '../src/sealing/chain.js';
import { formatVerificationKey } from '../src/sealing/key.js';
import { sealPaths } from '../src/sealing/layout.js';
import { LineSlabs } from '../src/asciicast/encoder.js';
import { LineHasher } from '../src/sealing/hasher.js';
import { Sealer } from '../src/sealing/sealer.js';
import { initSealing } from '../src/sealing/setup.js';

export const title = 'Sealing: writer with sealing on vs off, verify of 1 GiB, an idle hour at 1 s';

const RUNS = Number(process.env.SSHCAST_BENCH_RUNS ?? 5);
const TOTAL = 100 * 1024 * 1024;
const CLI = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../src/cli/main.js');
const work = benchWorkDir('sealing');

function fresh(name: string, sealed: boolean): string {
  const dir = path.join(work, name);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { mode: 0o700 });
  if (sealed) initSealing(dir, { interval: 1 });
  return dir;
}

/** A batch of the sealing worker's size. */
const BATCH = 1024 * 1024;

/**
 * A thread that only hashes, as the sealing worker does (chained SHA-256 over 10 KiB lines, a
 * 1 MiB batch a message) but of its own buffer: beside a recording that is not sealed, it shows
 * what hashing every byte on the machine's other core costs the writer, with nothing copied or
 * sent: the ceiling of the sealed/unsealed ratio on this machine.
 */
function hashingAlongside(): { post(): void; idle(): Promise<void>; end(): Promise<number> } {
  const worker = new Worker(
    `const { parentPort } = require('node:worker_threads');
     const crypto = require('node:crypto');
     const chainStepInPlace = ${chainStepInPlace.toString()};
     const buf = crypto.randomBytes(32 + ${BATCH});
     parentPort.on('message', () => {
       let c;
       for (let at = 32; at < buf.length; at += 10240)
         c = chainStepInPlace(crypto, buf, c, at, Math.min(buf.length, at + 10240));
       parentPort.postMessage(c);
     });`,
    { eval: true },
  );
  let out = 0;
  let idle: (() => void) | undefined;
  worker.on('message', () => {
    if (--out === 0) idle?.();
  });
  return {
    post: () => {
      out++;
      worker.postMessage(0);
    },
    idle: () => (out === 0 ? Promise.resolve() : new Promise((r) => (idle = r))),
    end: () => worker.terminate(),
  };
}

/**
 * One recording of `data` through a Recorder into `dir`; seconds, including its close. With
 * `alongside`, a batch is given to that hashing thread for every 1 MiB of lines written.
 */
async function record(
  dir: string,
  data: Buffer[],
  recorder?: Recorder,
  alongside?: ReturnType<typeof hashingAlongside>,
): Promise<number> {
  const t0 = process.hrtime.bigint();
  const r = recorder ?? new Recorder({ enabled: true, dir, log: (m) => console.error(m) });
  const rec = r.start({ cols: 120, rows: 40, term: 'xterm-256color', shell: '/bin/bash' });
  // JSON escaping makes the lines about 1.16 times the output.
  let owed = 0;
  for (const chunk of data) {
    if (alongside && (owed += chunk.length * 1.16) >= BATCH) {
      owed -= BATCH;
      alongside.post();
    }
    if (!rec.output(chunk)) await once(rec, 'drain');
  }
  await alongside?.idle();
  await rec.finish(0);
  if (!recorder) await r.close();
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

async function writerRows(): Promise<string[]> {
  const rand = prng(0x5eed);
  const data = chunks(corpus(16 * 1024 * 1024, rand), TOTAL, rand);
  const off: number[] = [];
  const on: number[] = [];
  const ceiling: number[] = [];
  const alongside = hashingAlongside();
  for (let i = 0; i < RUNS; i++) {
    off.push(await record(fresh('w-off', false), data));
    on.push(await record(fresh('w-on', true), data));
    ceiling.push(await record(fresh('w-alongside', false), data, undefined, alongside));
  }
  await alongside.end();
  const mb = TOTAL / 1e6;
  const ratio = median(off) / median(on);
  const rounds = off.map((t, i) => t / on[i]!).sort((a, b) => a - b);
  return [
    `Writer: ${data.length} chunks, ${mb.toFixed(0)} MB of terminal output through Recording → CastWriter → FileSink into a directory, median of ${RUNS} alternating runs (the sealed run includes its start, open, seals every second, close and stop).`,
    '',
    '| directory | median time | throughput (input MB/s) |',
    '|---|---|---|',
    `| not sealed | ${median(off).toFixed(3)} s | ${(mb / median(off)).toFixed(0)} |`,
    `| sealed, interval 1 s | ${median(on).toFixed(3)} s | ${(mb / median(on)).toFixed(0)} |`,
    `| not sealed, a thread hashing as much alongside (nothing copied or sent) | ${median(ceiling).toFixed(3)} s | ${(mb / median(ceiling)).toFixed(0)} |`,
    '',
    `**Writer throughput sealing on / off: ${ratio.toFixed(2)}** (target ≥ 0.9: ${ratio >= 0.9 ? 'met' : 'missed'}; run by run ${rounds[0]!.toFixed(2)}–${rounds.at(-1)!.toFixed(2)}). The hashing alone, on the other core with no copy or message per line, already brings the unsealed writer to **${(median(off) / median(ceiling)).toFixed(2)}** of its speed: the ceiling of sealing here.`,
  ];
}

function size(dir: string): number {
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.cast'))
    .reduce((n, f) => n + fs.statSync(path.join(dir, f)).size, 0);
}

/** Times `sshcast verify DIR --key KEY` (the built CLI under node); checks it exits 0. */
function timeVerify(dir: string, key: string): number {
  const t0 = process.hrtime.bigint();
  execFileSync(process.execPath, [CLI, 'verify', dir, '--key', key], { stdio: 'ignore' });
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

async function verifyRows(): Promise<string[]> {
  const rows: string[] = [];
  // Bulk output: pty-sized chunks, as a flood of output records them.
  const dir = fresh('verify-bulk', false);
  const { key } = initSealingKey(dir);
  const rand = prng(0xbeef);
  const base = corpus(16 * 1024 * 1024, rand);
  const recorder = new Recorder({ enabled: true, dir, log: (m) => console.error(m) });
  while (size(dir) < 2 ** 30) await record(dir, chunks(base, 96 * 1024 * 1024, rand), recorder);
  await recorder.close();
  const bulk = size(dir);
  const bulkTimes = Array.from({ length: 3 }, () => timeVerify(dir, key));
  rows.push(
    `| ${(bulk / 2 ** 30).toFixed(2)} GiB in ${fs.readdirSync(dir).filter((f) => f.endsWith('.cast')).length} recordings, 1–16 KiB output chunks | ${median(bulkTimes).toFixed(2)} s | ${(bulk / 2 ** 20 / median(bulkTimes)).toFixed(0)} MiB/s |`,
  );
  fs.rmSync(dir, { recursive: true, force: true });
  // The worst case: every event a short line (keystroke echo), 64 MiB of it.
  const tiny = fresh('verify-tiny', false);
  const tinyKey = initSealingKey(tiny).key;
  const line = Buffer.from('x\x1b[0m ');
  const small = Array.from({ length: 1_200_000 }, () => line);
  const r2 = new Recorder({ enabled: true, dir: tiny, log: (m) => console.error(m) });
  await record(tiny, small, r2);
  await r2.close();
  const tinyBytes = size(tiny);
  const lines = small.length + 2;
  const t = median(Array.from({ length: 3 }, () => timeVerify(tiny, tinyKey)));
  rows.push(
    `| ${(tinyBytes / 2 ** 20).toFixed(0)} MiB in one recording of ${(lines / 1e6).toFixed(1)} M short lines (worst case) | ${t.toFixed(2)} s | ${(tinyBytes / 2 ** 20 / t).toFixed(0)} MiB/s, ${(lines / t / 1e6).toFixed(2)} M lines/s (1 GiB of such lines: ${((2 ** 30 / tinyBytes) * t).toFixed(0)} s) |`,
  );
  fs.rmSync(tiny, { recursive: true, force: true });
  return [
    '',
    '`sshcast verify DIR --key KEY` (the built CLI, a new process each time), median of 3:',
    '',
    '| recordings | time | rate |',
    '|---|---|---|',
    ...rows,
    '',
    `**Verify of 1 GiB of recordings: ${median(bulkTimes).toFixed(2)} s** (target < 10 s: ${median(bulkTimes) * (2 ** 30 / bulk) < 10 ? 'met' : 'missed'}).`,
  ];
}

/** Sets `dir` up anew and returns its key as a string. */
function initSealingKey(dir: string): { key: string } {
  fs.rmSync(path.join(dir, '.sshcast'), { recursive: true, force: true });
  return { key: formatVerificationKey(initSealing(dir, { interval: 1 }).key) };
}

function idleRows(): string[] {
  const dir = fresh('idle', false);
  const now = Math.floor(Date.now() / 1000);
  initSealing(dir, { interval: 1, now });
  const clock = new ManualClock(now * 1000);
  const sealer = Sealer.open(dir, { clock, timers: false, log: (m) => console.error(m) });
  sealer.start();
  const cost: number[] = [];
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < 3600; i++) {
    clock.advance(1);
    const t0 = process.hrtime.bigint();
    sealer.poll();
    cost.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  const cpu = process.cpuUsage(cpu0);
  void sealer.stop();
  const bytes = fs.statSync(sealPaths(dir).ledger).size;
  const sorted = [...cost].sort((a, b) => a - b);
  const total = cost.reduce((a, b) => a + b, 0);
  fs.rmSync(dir, { recursive: true, force: true });
  return [
    '',
    'An idle server sealing every second for an hour (3600 epochs; an injected clock, the key moves made for real on this disk):',
    '',
    '| measure | value |',
    '|---|---|',
    `| ledger after the hour | ${(bytes / 1024).toFixed(0)} KiB (${((bytes * 24) / 2 ** 20).toFixed(1)} MiB a day, ${Math.round(bytes / 3602)} B a tick) |`,
    `| one key move (tick, ledger fdatasync, key state overwritten and fsynced), median / p99 / max | ${median(cost).toFixed(2)} / ${sorted[Math.floor(sorted.length * 0.99)]!.toFixed(2)} / ${sorted.at(-1)!.toFixed(2)} ms |`,
    `| the hour's key moves in all: wall / CPU | ${(total / 1000).toFixed(2)} s / ${((cpu.user + cpu.system) / 1e6).toFixed(2)} s (${((total / 3600_000) * 100).toFixed(3)}% of the hour) |`,
  ];
}

/** CPU seconds of each of this process's threads, by thread id. */
function threadCpu(): Map<string, number> {
  const cpu = new Map<string, number>();
  for (const t of fs.readdirSync('/proc/self/task'))
    cpu.set(t, statCpuSeconds(`/proc/self/task/${t}/stat`));
  return cpu;
}

/**
 * The hasher alone: 200 MiB of 4 KiB lines (a pty's reads, as a session through SSH gives them)
 * and of 10 KiB lines, made as a writer makes them (cut from slabs) and fed to a LineHasher, a
 * turn of the event loop every 64 lines, the file keeping up; the CPU of this thread and of the
 * others (the hashing worker). Lines cut from slabs every writer shares are copied into batches
 * for the worker (the recording thread's, and lines too big for a slab); a file recording's are
 * cut from the hasher's own slabs, which go to the worker as they are.
 */
async function hasherRows(): Promise<string[]> {
  const rows: string[] = [];
  for (const size of [4096, 10240]) {
    const lines = Array.from({ length: 64 }, (_, i) => {
      const l = Buffer.alloc(size, 0x61 + i);
      l[size - 1] = 0x0a;
      return l;
    });
    for (const own of [false, true]) {
      const runs: [number, number, number][] = [];
      for (let r = 0; r < RUNS; r++) {
        const file = { bytesWritten: 0 };
        const h = new LineHasher(file, { slabs: own });
        const slabs = own ? h.slabs! : new LineSlabs(256 * 1024);
        const made = (line: Buffer): Buffer => {
          const slab = slabs.reserve(line.length)!;
          line.copy(slab, slabs.used);
          return slabs.take(slabs.used + line.length);
        };
        let bytes = 0;
        const give = (line: Buffer) => {
          h.onLine(made(line));
          bytes += line.length;
        };
        give(Buffer.from('{"version":2,"width":80,"height":24}\n'));
        const before = threadCpu();
        const t0 = process.hrtime.bigint();
        for (let n = 0; bytes < 200 * 2 ** 20; n++) {
          give(lines[n & 63]!);
          if ((n & 63) === 63) {
            file.bytesWritten = bytes;
            await new Promise((r) => setImmediate(r));
          }
        }
        file.bytesWritten = bytes;
        await h.drained();
        const wall = Number(process.hrtime.bigint() - t0) / 1e9;
        const after = threadCpu();
        const self = String(process.pid);
        let others = 0;
        for (const [t, c] of after) if (t !== self) others += c - (before.get(t) ?? 0);
        runs.push([wall, after.get(self)! - before.get(self)!, others]);
        h.dispose();
      }
      runs.sort((a, b) => a[0] - b[0]);
      const [wall, self, others] = runs[Math.floor(runs.length / 2)]!;
      rows.push(
        `| ${size / 1024} KiB | ${own ? "in the recording's own slabs" : 'copied into batches'} | ${wall.toFixed(3)} s | ${self.toFixed(2)} s | ${others.toFixed(2)} s | ${((1e9 * (self + others)) / (200 * 2 ** 20)).toFixed(2)} ns |`,
      );
    }
  }
  return [
    `The hasher alone (src/sealing/hasher.ts): 200 MiB of lines of one size, made as a writer makes them and given to it as a writer does, a turn of the event loop every 64 lines, the file keeping up; median of ${RUNS} (by wall time). This thread's CPU includes making the lines.`,
    '',
    "| line size | lines | wall | this thread's CPU | other threads (the hashing worker) CPU | CPU a byte |",
    '|---|---|---|---|---|---|',
    ...rows,
  ];
}

export async function run(): Promise<string> {
  const out = [
    ...(await writerRows()),
    '',
    ...(await hasherRows()),
    ...(await verifyRows()),
    ...idleRows(),
  ];
  fs.rmSync(work, { recursive: true, force: true });
  return out.join('\n');
}
