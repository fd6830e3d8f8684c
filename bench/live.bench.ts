/**
 * Live view: the built example server records an ssh2 client's pty session; the built
 * `sshcast web` serves its live stream to SSE clients (live-client.ts). Measures the latency from
 * a byte the session wrote to that byte at an SSE client, memory per idle live viewer, and the
 * session's speed with 20 viewers and one stalled viewer against none.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ssh2 from 'ssh2';
import { benchKey, benchWorkDir, startBenchServer, type BenchServer } from './example-server.js';
import {
  firstMessage,
  liveTicket,
  rssOf,
  SseViewer,
  stalledViewer,
  startWeb,
  type WebProcess,
} from './live-client.js';

/** The section title in bench/RESULTS.md. */
export const title =
  'Live view: latency to an SSE viewer, memory per viewer, 20 viewers + 1 stalled';

const VIEWERS_JS = path.join(path.dirname(fileURLToPath(import.meta.url)), 'live-viewers.js');
const SAMPLES = 300;
const IDLE_VIEWERS = 200;
const FLOOD_BYTES = 16_000_000;
const FLOOD_ROUNDS = 3;

let keyFile = '';

function connect(port: number): Promise<ssh2.Client> {
  return new Promise((resolve, reject) => {
    const client = new ssh2.Client();
    client.on('ready', () => resolve(client)).on('error', reject);
    client.connect({
      host: '127.0.0.1',
      port,
      username: 'root',
      privateKey: fs.readFileSync(keyFile),
      readyTimeout: 30_000,
    });
  });
}

function exec(client: ssh2.Client, command: string): Promise<ssh2.ClientChannel> {
  return new Promise((resolve, reject) =>
    client.exec(command, { pty: { cols: 80, rows: 24, term: 'xterm' } }, (err, ch) =>
      err ? reject(err) : resolve(ch),
    ),
  );
}

/** Resolves with the next recording in `dir` not in `before`. */
async function newRecording(dir: string, before: Set<string>): Promise<string> {
  for (let i = 0; i < 500; i++) {
    const found = fs.readdirSync(dir).find((f) => f.endsWith('.cast') && !before.has(f));
    if (found) return found;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error('no recording appeared');
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

const mib = (bytes: number): string => (bytes / 2 ** 20).toFixed(1);

/** Keystrokes into `cat -u` in a pty: when the ssh client and when the SSE viewer see each. */
async function latency(server: BenchServer, web: WebProcess): Promise<number[]> {
  const before = new Set(fs.readdirSync(server.dir));
  const client = await connect(server.port);
  const ch = await exec(client, 'stty -echo; echo ready; exec cat -u');
  const name = await newRecording(server.dir, before);
  let out = '';
  await new Promise<void>((resolve) =>
    ch.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('ready')) resolve();
    }),
  );
  const viewer = new SseViewer(web.port, await liveTicket(web, name), false);
  await firstMessage(viewer);
  const seenBySsh = new Map<string, number>();
  const seenBySse = new Map<string, number>();
  let wake: (() => void) | undefined;
  const markers = /k(\d+);/g;
  ch.removeAllListeners('data');
  ch.on('data', (d: Buffer) => {
    const at = performance.now();
    for (const m of d.toString().matchAll(markers)) seenBySsh.set(m[1]!, at);
    wake?.();
  });
  viewer.onMessage = (m) => {
    for (const k of m.data.matchAll(markers)) seenBySse.set(k[1]!, m.at);
    wake?.();
  };
  const samples: number[] = [];
  for (let i = 0; i < SAMPLES; i++) {
    const k = String(i);
    ch.write(`k${k};\n`);
    while (!(seenBySsh.has(k) && seenBySse.has(k))) await new Promise<void>((r) => (wake = r));
    samples.push(seenBySse.get(k)! - seenBySsh.get(k)!);
    await new Promise((r) => setTimeout(r, 5 + (i % 7) * 3));
  }
  viewer.close();
  ch.end('\x04');
  client.end();
  return samples;
}

/** RSS of the web server with `IDLE_VIEWERS` idle viewers on one idle session, per viewer. */
async function idleViewerMemory(server: BenchServer, web: WebProcess): Promise<number> {
  const before = new Set(fs.readdirSync(server.dir));
  const client = await connect(server.port);
  const ch = await exec(client, 'echo idle; sleep 600');
  ch.on('data', () => {});
  const name = await newRecording(server.dir, before);
  // One viewer first, so the feed (file, emulator) is not counted per viewer.
  const first = new SseViewer(web.port, await liveTicket(web, name), false);
  await firstMessage(first);
  global.gc?.();
  const base = await rssOf(web.child.pid!);
  const viewers: SseViewer[] = [];
  for (let i = 0; i < IDLE_VIEWERS; i++) {
    const v = new SseViewer(web.port, await liveTicket(web, name), false);
    viewers.push(v);
  }
  await Promise.all(viewers.map(firstMessage));
  const after = await rssOf(web.child.pid!);
  for (const v of [first, ...viewers]) v.close();
  ch.close();
  client.end();
  return (after - base) / IDLE_VIEWERS;
}

/** A session printing FLOOD_BYTES of random base64 with `viewers` live viewers (+1 stalled). */
async function flood(
  server: BenchServer,
  web: WebProcess,
  viewers: number,
): Promise<{ seconds: number; peakRss: number }> {
  const before = new Set(fs.readdirSync(server.dir));
  const client = await connect(server.port);
  const ch = await exec(
    client,
    `read go; head -c ${FLOOD_BYTES} /dev/urandom | base64 -w 76; echo END`,
  );
  const name = await newRecording(server.dir, before);
  const paths: string[] = [];
  for (let i = 0; i < viewers; i++) paths.push(await liveTicket(web, name));
  const stalled = viewers > 0 ? await stalledViewer(web.port, await liveTicket(web, name)) : null;
  const others =
    viewers > 0
      ? spawn(process.execPath, [VIEWERS_JS, String(web.port), ...paths], {
          stdio: ['ignore', 'pipe', 'inherit'],
        })
      : null;
  if (others) await once(others.stdout!, 'data');
  const othersDone = others ? once(others, 'exit') : Promise.resolve();
  const base = await rssOf(web.child.pid!);
  let peak = base;
  const sampler = setInterval(
    () => void rssOf(web.child.pid!).then((r) => (peak = Math.max(peak, r))),
    50,
  );
  const ended = new Promise<void>((resolve) => ch.on('close', () => resolve()));
  ch.on('data', () => {});
  const start = performance.now();
  ch.write('go\n');
  await ended;
  const seconds = (performance.now() - start) / 1000;
  await othersDone;
  clearInterval(sampler);
  stalled?.destroy();
  client.end();
  return { seconds, peakRss: peak - base };
}

export async function run(): Promise<string> {
  const work = benchWorkDir('live');
  fs.rmSync(work, { recursive: true, force: true });
  fs.mkdirSync(work, { recursive: true, mode: 0o700 });
  const keys = benchKey(work);
  keyFile = keys.keyFile;
  const dir = path.join(work, 'rec');
  const server = await startBenchServer({
    recording: true,
    dir,
    work,
    authorizedKeys: keys.authorizedKeys,
    args: ['--keepalive', '0'],
  });
  const web = await startWeb(dir, ['--max-viewers', String(IDLE_VIEWERS + 10)]);
  try {
    const lat = (await latency(server, web)).sort((a, b) => a - b);
    const perViewer = await idleViewerMemory(server, web);
    const alone: number[] = [];
    const watched: number[] = [];
    let peakRss = 0;
    for (let i = 0; i < FLOOD_ROUNDS; i++) {
      alone.push((await flood(server, web, 0)).seconds);
      const r = await flood(server, web, 20);
      watched.push(r.seconds);
      peakRss = Math.max(peakRss, r.peakRss);
    }
    const a = Math.min(...alone);
    const w = Math.min(...watched);
    const load = os.loadavg()[0]!.toFixed(1);
    const p50 = percentile(lat, 50);
    const p99 = percentile(lat, 99);
    return [
      `Example server and \`sshcast web\` as separate processes (built, plain node), an in-process ssh2 client with a pty session; SSE clients read the stream as EventSource does (the 20 viewers in a process of their own, so that their parsing does not slow the ssh client). Latency: ${SAMPLES} keystrokes into \`cat -u\`, from the moment the ssh client received each echo (the server writes the recording before it forwards, so the byte was on disk by then) to the moment an SSE viewer received the event holding it.`,
      '',
      '| measure | value | target |',
      '|---|---|---|',
      `| latency, session byte → SSE viewer, p50 | ${p50.toFixed(1)} ms | |`,
      `| latency, session byte → SSE viewer, p99 | ${p99.toFixed(1)} ms | < 500 ms |`,
      `| latency, max | ${lat.at(-1)!.toFixed(1)} ms | |`,
      `| memory per idle live viewer (${IDLE_VIEWERS} viewers, RSS delta / ${IDLE_VIEWERS}) | ${(perViewer / 1024).toFixed(1)} KiB | |`,
      `| session printing ${FLOOD_BYTES / 1e6} MB random as base64 (21.6 MB), no viewer (best of ${FLOOD_ROUNDS}) | ${a.toFixed(2)} s | |`,
      `| the same with 20 viewers + 1 stalled viewer (best of ${FLOOD_ROUNDS}) | ${w.toFixed(2)} s | ratio ${(w / a).toFixed(2)} |`,
      `| web server peak RSS above its start, 20 + 1 stalled viewers | +${mib(peakRss)} MiB | bounded |`,
      '',
      `p99 under 500 ms: ${p99 < 500 ? 'yes' : 'NO'}. The stalled viewer is cut off once 256 KiB wait unsent on its connection; the session never waits for the web server, which only reads the file: what the ratio shows is CPU shared on this machine (${os.cpus().length} cores, load average ${load} during the run, from other work as well), where the web server and the viewers' process run beside the session. Rounds: ${alone.map((x) => x.toFixed(2)).join(', ')} s alone; ${watched.map((x) => x.toFixed(2)).join(', ')} s watched.`,
    ].join('\n');
  } finally {
    await web.stop();
    await server.stop();
  }
}
