/**
 * `sshcast rec -c 'cat FILE'` against `asciinema rec` (Debian) and `script` (util-linux) on the
 * same 20 MB of base64 output, each recording to a file, with stdin and stdout on /dev/null.
 * Wall and CPU time (user + system of the recorder and everything it started, from bash's `time`),
 * medians of several interleaved runs. Target: faster than asciinema, within 1.5x of script.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseCast } from '../src/asciicast/reader.js';

/** The section title in bench/RESULTS.md. */
export const title = 'sshcast rec vs asciinema rec vs script (20 MB of base64 output)';

const RUNS = Number(process.env.SSHCAST_BENCH_RUNS ?? 5);
const SIZE = 20 * 1000 * 1000;
const here = path.dirname(fileURLToPath(import.meta.url));
const cli = path.resolve(here, '../src/cli/main.js');
const nodePty = createRequire(import.meta.url).resolve('node-pty');

interface Sample {
  wall: number;
  cpu: number;
}

function quote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** Runs a shell command under bash's `time`; returns wall and CPU seconds. */
function timed(command: string, cwd: string): Sample {
  const r = spawnSync(
    'bash',
    ['-c', `TIMEFORMAT='%R %U %S'; time ( ${command} ) </dev/null >/dev/null`],
    {
      cwd,
      encoding: 'utf8',
    },
  );
  const m = /([0-9.]+) ([0-9.]+) ([0-9.]+)\s*$/.exec(r.stderr);
  if (r.status !== 0 || !m)
    throw new Error(`benchmark command failed: ${command}: ${r.stderr.slice(-300)}`);
  return { wall: Number(m[1]), cpu: Number(m[2]) + Number(m[3]) };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Deterministic base64 text, 76 characters a line. */
function makeInput(file: string): void {
  let x = 0x9e3779b9;
  const raw = Buffer.alloc(Math.ceil((SIZE * 3) / 4 / 77) * 76);
  for (let i = 0; i < raw.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    raw[i] = x & 0xff;
  }
  const b64 = raw.toString('base64');
  const lines: string[] = [];
  for (let i = 0; i < b64.length; i += 76) lines.push(b64.slice(i, i + 76));
  fs.writeFileSync(file, lines.join('\n') + '\n');
}

/** Whether a recording holds the input exactly (CRLF from the terminal turned back into LF). */
function complete(castFile: string, input: string): boolean {
  const cast = parseCast(fs.readFileSync(castFile, 'utf8'));
  let out = '';
  for (const e of cast.events) if (e.code === 'o') out += e.data;
  return out.replace(/\r\n/g, '\n') === input;
}

/** Runs the benchmark and returns its Markdown section body. */
export async function run(): Promise<string> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sshcast-rec-bench-'));
  try {
    const input = path.join(dir, 'input.txt');
    makeInput(input);
    const versions = {
      asciinema: execFileSync('asciinema', ['--version'], { encoding: 'utf8' }).trim(),
      script: execFileSync('script', ['--version'], { encoding: 'utf8' }).trim(),
    };
    const tools: { name: string; command: string; out: string }[] = [
      {
        name: 'sshcast rec',
        command: `${quote(process.execPath)} ${quote(cli)} rec -f -c 'cat input.txt' sshcast.cast`,
        out: 'sshcast.cast',
      },
      {
        name: `asciinema rec (${versions.asciinema})`,
        command: `asciinema rec -q --overwrite -c 'cat input.txt' asciinema.cast`,
        out: 'asciinema.cast',
      },
      {
        name: `script (${versions.script})`,
        command: `script -qc 'cat input.txt' script.out`,
        out: 'script.out',
      },
    ];
    // Reference rows, to show where the time goes: node starting and doing nothing, and node-pty
    // alone reading the same output to stdout (no recording): the floor for any recorder built
    // on node-pty.
    fs.writeFileSync(
      path.join(dir, 'bare.cjs'),
      `const pty = require(${JSON.stringify(nodePty)});\n` +
        `const t = pty.spawn('/bin/sh', ['-c', 'cat input.txt'], { cols: 80, rows: 24, encoding: null });\n` +
        `t.onData((d) => process.stdout.write(d));\n`,
    );
    const references = [
      { name: 'reference: node -e 0', command: `${quote(process.execPath)} -e 0` },
      {
        name: 'reference: node-pty read to stdout, no recording',
        command: `${quote(process.execPath)} bare.cjs`,
      },
    ];
    const all = [...tools, ...references];
    const samples = new Map<string, Sample[]>(all.map((t) => [t.name, []]));
    timed(tools[0]!.command, dir); // warm the page cache and node's code cache
    const text = fs.readFileSync(input, 'utf8');
    const exact = { sshcast: 0, asciinema: 0 };
    for (let i = 0; i < RUNS; i++) {
      for (const t of all) samples.get(t.name)!.push(timed(t.command, dir));
      // Checked after the timings of this round, so the check costs no recorder any time.
      if (complete(path.join(dir, 'sshcast.cast'), text)) exact.sshcast++;
      if (complete(path.join(dir, 'asciinema.cast'), text)) exact.asciinema++;
    }
    const med = (name: string) => ({
      wall: median(samples.get(name)!.map((s) => s.wall)),
      cpu: median(samples.get(name)!.map((s) => s.cpu)),
    });
    const ours = med(tools[0]!.name);
    const rows = tools.map((t) => {
      const m = med(t.name);
      const size = fs.statSync(path.join(dir, t.out)).size;
      return `| ${t.name} | ${m.wall.toFixed(2)} s | ${m.cpu.toFixed(2)} s | ${(ours.wall / m.wall).toFixed(2)} | ${(ours.cpu / m.cpu).toFixed(2)} | ${(size / 1e6).toFixed(1)} MB |`;
    });
    for (const t of references) {
      const m = med(t.name);
      rows.push(`| ${t.name} | ${m.wall.toFixed(2)} s | ${m.cpu.toFixed(2)} s | | | |`);
    }
    const asc = med(tools[1]!.name);
    const scr = med(tools[2]!.name);
    const verdict = [
      `faster than asciinema: ${ours.wall < asc.wall ? 'yes' : 'NO'} (${(asc.wall / ours.wall).toFixed(2)}x)`,
      `within 1.5x of script: ${ours.wall <= 1.5 * scr.wall ? 'yes' : 'NO'} (${(ours.wall / scr.wall).toFixed(2)}x)`,
    ];
    return [
      `Input: ${(fs.statSync(input).size / 1e6).toFixed(1)} MB of base64 in 76-character lines. Each recorder runs \`cat\` in a new pty and writes its own file (script: a typescript file), stdin and stdout on /dev/null. Median of ${RUNS} interleaved runs; CPU is user + system of the recorder and its children (bash \`time\`). Ratios are sshcast ÷ that tool (below 1: sshcast is faster).`,
      '',
      '| recorder | wall | CPU | sshcast/this (wall) | sshcast/this (CPU) | file |',
      '|---|---|---|---|---|---|',
      ...rows,
      '',
      `Targets: ${verdict.join('; ')}. Recordings holding every byte of the output: sshcast ${exact.sshcast}/${RUNS}, asciinema ${exact.asciinema}/${RUNS} (asciinema 2.2 drops the last few KB of a command that exits at once in some runs).`,
      '',
      `Commands: \`${tools.map((t) => t.command.replace(quote(process.execPath), 'node').replace(quote(cli), 'dist/src/cli/main.js')).join('`, `')}\`.`,
    ].join('\n');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
