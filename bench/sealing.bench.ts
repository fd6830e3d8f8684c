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
import { benchWorkDir } from './example-server.js';
import { chunks, corpus, median, prng } from './writer.bench.js';
import { ManualClock } from '../src/clock.js';
import { Recorder } from '../src/recording/recorder.js';
import { formatVerificationKey } from '../src/sealing/key.js';
import { sealPaths } from '../src/sealing/layout.js';
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

/** One recording of `data` through a Recorder into `dir`; seconds, including its close. */
async function record(dir: string, data: Buffer[], recorder?: Recorder): Promise<number> {
  const t0 = process.hrtime.bigint();
  const r = recorder ?? new Recorder({ enabled: true, dir, log: (m) => console.error(m) });
  const rec = r.start({ cols: 120, rows: 40, term: 'xterm-256color', shell: '/bin/bash' });
  for (const chunk of data) if (!rec.output(chunk)) await once(rec, 'drain');
  await rec.finish(0);
  if (!recorder) await r.close();
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

async function writerRows(): Promise<string[]> {
  const rand = prng(0x5eed);
  const data = chunks(corpus(16 * 1024 * 1024, rand), TOTAL, rand);
  const off: number[] = [];
  const on: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    off.push(await record(fresh('w-off', false), data));
    on.push(await record(fresh('w-on', true), data));
  }
  const mb = TOTAL / 1e6;
  const ratio = median(off) / median(on);
  return [
    `Writer: ${data.length} chunks, ${mb.toFixed(0)} MB of terminal output through Recording → CastWriter → FileSink into a directory, median of ${RUNS} alternating runs (the sealed run includes its start, open, seals every second, close and stop).`,
    '',
    '| directory | median time | throughput (input MB/s) |',
    '|---|---|---|',
    `| not sealed | ${median(off).toFixed(3)} s | ${(mb / median(off)).toFixed(0)} |`,
    `| sealed, interval 1 s | ${median(on).toFixed(3)} s | ${(mb / median(on)).toFixed(0)} |`,
    '',
    `**Writer throughput sealing on / off: ${ratio.toFixed(2)}** (target ≥ 0.9: ${ratio >= 0.9 ? 'met' : 'missed'}).`,
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

export async function run(): Promise<string> {
  const out = [...(await writerRows()), ...(await verifyRows()), ...idleRows()];
  fs.rmSync(work, { recursive: true, force: true });
  return out.join('\n');
}
