/**
 * The recording pipeline (Recording.output(bytes) → UTF-8 stream → CastWriter → FileSink) against a
 * plain fs.WriteStream writing the same raw bytes, on 100 MB of generated terminal output cut
 * into pty-sized chunks. Both honour backpressure. Target: the recorder reaches at least half the
 * plain stream's throughput.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import { FileSink } from '../src/recording/file-sink.js';
import { Recorder } from '../src/recording/recorder.js';

/** The section title in bench/RESULTS.md. */
export const title =
  'Writer: Recording + CastWriter + FileSink vs plain fs.WriteStream (100 MB of terminal output)';

const TOTAL = 100 * 1024 * 1024;
const RUNS = Number(process.env.SSHCAST_BENCH_RUNS ?? 5);

/** A small deterministic PRNG (mulberry32) so every run sees the same bytes. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WORDS = [
  'drwxr-xr-x',
  'total',
  'node_modules',
  'src/index.ts',
  'error:',
  'warning',
  'Compiling',
  'résumé',
  'naïve',
  'Grüße',
  'Привет',
  'こんにちは',
  '日本語',
  '中文字符',
  '🙂',
  '🚀',
  '✓',
  '→',
  '│',
  '├──',
  '└──',
  '0x7ffd',
  '100%',
  '[====>   ]',
];

/** Terminal-like text: coloured ls/compiler/progress lines with CRLF and multi-byte characters. */
export function corpus(bytes: number, rand: () => number): Buffer {
  const parts: string[] = [];
  let size = 0;
  while (size < bytes) {
    let line = '';
    const kind = rand();
    if (kind < 0.3) line += `\x1b[${31 + Math.floor(rand() * 7)}m`;
    else if (kind < 0.4) line += `\x1b[1;${90 + Math.floor(rand() * 8)}m`;
    else if (kind < 0.45) line += '\r\x1b[K';
    const n = 3 + Math.floor(rand() * 14);
    for (let i = 0; i < n; i++) {
      line += WORDS[Math.floor(rand() * WORDS.length)]!;
      line += rand() < 0.1 ? '\t' : ' ';
      if (rand() < 0.05) line += `\x1b[0m\x1b[3${Math.floor(rand() * 8)}m`;
    }
    if (rand() < 0.1) line += '"quoted\\path"';
    line += '\x1b[0m\r\n';
    parts.push(line);
    size += Buffer.byteLength(line);
  }
  return Buffer.from(parts.join(''), 'utf8');
}

/** Cuts `total` bytes (cycling over `base`) into 1–16 KiB chunks at arbitrary byte positions. */
export function chunks(base: Buffer, total: number, rand: () => number): Buffer[] {
  const out: Buffer[] = [];
  let off = 0;
  let done = 0;
  while (done < total) {
    const want = Math.min(total - done, 1024 + Math.floor(rand() * 15 * 1024));
    if (off + want > base.length) off = 0;
    out.push(base.subarray(off, off + want));
    off += want;
    done += want;
  }
  return out;
}

async function plain(file: string, data: Buffer[]): Promise<number> {
  const t0 = process.hrtime.bigint();
  const ws = fs.createWriteStream(file);
  for (const chunk of data) {
    if (!ws.write(chunk)) await once(ws, 'drain');
  }
  ws.end();
  await once(ws, 'close');
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

async function recorded(file: string, data: Buffer[]): Promise<number> {
  const t0 = process.hrtime.bigint();
  const recorder = new Recorder({
    enabled: true,
    sink: () => new FileSink(fs.openSync(file, 'w', 0o600), file),
  });
  const recording = recorder.start({
    cols: 120,
    rows: 40,
    term: 'xterm-256color',
    shell: '/bin/bash',
  });
  for (const chunk of data) {
    if (!recording.output(chunk)) await once(recording, 'drain');
  }
  await recording.finish(0);
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Runs both pipelines alternately and returns a Markdown table with medians and the ratio. */
export async function run(): Promise<string> {
  const rand = prng(0x5eed);
  const data = chunks(corpus(16 * 1024 * 1024, rand), TOTAL, rand);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sshcast-bench-writer-'));
  const plainTimes: number[] = [];
  const recTimes: number[] = [];
  let castBytes = 0;
  try {
    for (let i = 0; i < RUNS; i++) {
      const p = path.join(dir, `plain-${i}.bin`);
      const r = path.join(dir, `rec-${i}.cast`);
      plainTimes.push(await plain(p, data));
      recTimes.push(await recorded(r, data));
      castBytes = fs.statSync(r).size;
      fs.rmSync(p);
      fs.rmSync(r);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const mb = TOTAL / 1e6;
  const plainMBs = mb / median(plainTimes);
  const recMBs = mb / median(recTimes);
  const ratio = recMBs / plainMBs;
  return [
    `${data.length} chunks of 1–16 KiB, ${mb.toFixed(0)} MB of input (ANSI colours, CRLF, 2–4-byte UTF-8 split at arbitrary byte positions), median of ${RUNS} alternating runs; the .cast file is ${(castBytes / 1e6).toFixed(0)} MB (JSON escaping).`,
    '',
    '| pipeline | median time | throughput (input MB/s) |',
    '|---|---|---|',
    `| plain fs.WriteStream (raw bytes) | ${median(plainTimes).toFixed(3)} s | ${plainMBs.toFixed(0)} |`,
    `| Recording.output → CastWriter → FileSink | ${median(recTimes).toFixed(3)} s | ${recMBs.toFixed(0)} |`,
    '',
    `**Ratio recorded / plain: ${ratio.toFixed(2)}** (target ≥ 0.5: ${ratio >= 0.5 ? 'met' : 'missed'}).`,
  ].join('\n');
}
