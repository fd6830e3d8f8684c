/**
 * The example server as a separate process, measured through /proc and driven by in-process ssh2
 * clients: memory per idle session, the peak during a 1 GB burst to a stalled client, 100
 * concurrent sessions each printing 1 MB (recorded vs unrecorded), and keystroke echo latency.
 */
import fs from 'node:fs';
import path from 'node:path';
import { once } from 'node:events';
import ssh2 from 'ssh2';
import {
  benchConnect,
  benchKey,
  benchWorkDir,
  startBenchServer,
  type BenchServer,
} from './example-server.js';

/** The section title in bench/RESULTS.md. */
export const title = 'Server: memory, stalled-client burst, 100 concurrent sessions, echo latency';

const RUNS = Number(process.env.SSHCAST_BENCH_RUNS ?? 3);

type Server = BenchServer;

let work = '';
let keyFile = '';
let authorizedKeys = '';

function setupKeys(): void {
  work = benchWorkDir('server');
  fs.rmSync(work, { recursive: true, force: true });
  work = benchWorkDir('server');
  ({ keyFile, authorizedKeys } = benchKey(work));
}

function startServer(recording: boolean, name: string): Promise<Server> {
  return startBenchServer({
    recording,
    dir: path.join(work, name),
    work,
    authorizedKeys,
    args: ['--keepalive', '0'],
  });
}

const connect = (port: number) => benchConnect(port, keyFile);

function exec(client: ssh2.Client, command: string, pty: boolean): Promise<ssh2.ClientChannel> {
  return new Promise((resolve, reject) =>
    client.exec(command, pty ? { pty: { cols: 80, rows: 24, term: 'xterm' } } : {}, (err, ch) =>
      err ? reject(err) : resolve(ch),
    ),
  );
}

/** Waits for the next 'data' event of `ch`, failing after 30 s or when the channel closes. */
function nextData(ch: ssh2.ClientChannel): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (err?: Error) => {
      clearTimeout(timer);
      ch.off('data', onData);
      ch.off('close', onClose);
      if (err) reject(err);
      else resolve();
    };
    const onData = () => done();
    const onClose = () => done(new Error('channel closed while waiting for output'));
    const timer = setTimeout(() => done(new Error('no output within 30 s')), 30_000);
    ch.on('data', onData);
    ch.on('close', onClose);
  });
}

function rss(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

const MiB = 2 ** 20;
const progress = (m: string) => process.stderr.write(`  server bench: ${m}\n`);
const mib = (n: number) => (n / MiB).toFixed(1);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

/** Runs `command` to its end, reading everything; resolves when the channel closes. */
async function runToEnd(ch: ssh2.ClientChannel): Promise<number> {
  let bytes = 0;
  ch.on('data', (d: Buffer) => (bytes += d.length));
  ch.stderr.on('data', () => {});
  const closed = once(ch, 'close');
  await once(ch, 'exit');
  ch.end();
  await closed;
  return bytes;
}

/** Sampled RSS while `until` is pending: the highest value seen. */
async function peakWhile(pid: number, until: Promise<unknown>): Promise<number> {
  let peak = rss(pid);
  let done = false;
  void until.finally(() => (done = true));
  while (!done) {
    peak = Math.max(peak, rss(pid));
    await new Promise((r) => setTimeout(r, 50));
  }
  return Math.max(peak, rss(pid));
}

/** Opens `n` idle pty sessions (10 per connection) and returns RSS per session. */
async function idleSessions(server: Server, n: number): Promise<{ before: number; per: number }> {
  const warm = await connect(server.port);
  await runToEnd(await exec(warm, 'true', true));
  warm.end();
  await new Promise((r) => setTimeout(r, 500));
  const before = rss(server.pid);
  const clients: ssh2.Client[] = [];
  for (let c = 0; c < n / 10; c++) {
    const client = await connect(server.port);
    clients.push(client);
    await Promise.all(
      Array.from({ length: 10 }, async () => {
        const ch = await exec(client, 'echo ready; exec sleep 3600', true);
        let out = '';
        ch.on('data', (d: Buffer) => (out += d.toString()));
        while (!out.includes('ready')) await nextData(ch);
      }),
    );
  }
  await new Promise((r) => setTimeout(r, 1000));
  const after = rss(server.pid);
  for (const c of clients) c.end();
  return { before, per: (after - before) / n };
}

/** A 1 GB burst to a client that stops reading: peak RSS above idle while it is stalled. */
async function stalledBurst(
  server: Server,
): Promise<{ idle: number; peak: number; recorded: number }> {
  const idle = rss(server.pid);
  const client = await connect(server.port);
  const ch = await exec(client, 'head -c 1000000000 /dev/zero | tr "\\0" a', true);
  ch.pause();
  const stalled = new Promise((r) => setTimeout(r, 5000));
  const peak = await peakWhile(server.pid, stalled);
  const files = fs.existsSync(server.dir) ? fs.readdirSync(server.dir) : [];
  const recorded = files.reduce((sum, f) => sum + fs.statSync(path.join(server.dir, f)).size, 0);
  client.end();
  return { idle, peak, recorded };
}

/** 100 sessions at once (10 connections × 10 channels), each printing 1 MB: wall seconds. */
async function concurrent(server: Server): Promise<number> {
  // One after another: ten handshakes at once from one address would meet the per-source bound.
  const clients: ssh2.Client[] = [];
  for (let i = 0; i < 10; i++) clients.push(await connect(server.port));
  const t0 = process.hrtime.bigint();
  const bytes = await Promise.all(
    clients.flatMap((client) =>
      Array.from({ length: 10 }, async () =>
        runToEnd(
          await exec(
            client,
            "yes 'terminal output line 0123456789 abcdef' | head -c 1000000",
            true,
          ),
        ),
      ),
    ),
  );
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  for (const c of clients) c.end();
  const total = bytes.reduce((a, b) => a + b, 0);
  if (total < 100 * 1_000_000) throw new Error(`only ${total} bytes arrived`);
  return seconds;
}

/** Keystroke echo round trips through a pty running `cat`, in milliseconds. */
async function echoLatency(server: Server, n: number): Promise<number[]> {
  const client = await connect(server.port);
  const ch = await exec(client, 'stty raw -echo; echo ready; cat', true);
  let got = '';
  ch.on('data', (d: Buffer) => (got += d.toString()));
  while (!got.includes('ready')) await nextData(ch);
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    got = '';
    const key = String.fromCharCode(97 + (i % 26));
    const t0 = process.hrtime.bigint();
    ch.write(key);
    while (!got.includes(key)) await nextData(ch);
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  client.end();
  return times;
}

/** Runs every measurement with recording on and off; returns Markdown. */
export async function run(): Promise<string> {
  setupKeys();
  const rows: string[] = [];
  try {
    // Memory per idle session, and the stalled burst: one fresh server each.
    const mem: Record<string, { per: number; idle: number; peak: number; recorded: number }> = {};
    for (const recording of [true, false]) {
      const s = await startServer(recording, `mem-${recording}`);
      progress(`idle sessions, recording ${recording ? 'on' : 'off'}`);
      const idle = await idleSessions(s, 100);
      await s.stop();
      const s2 = await startServer(recording, `burst-${recording}`);
      const warm = await connect(s2.port);
      await runToEnd(await exec(warm, 'true', true));
      warm.end();
      progress(`stalled burst, recording ${recording ? 'on' : 'off'}`);
      const burst = await stalledBurst(s2);
      await s2.stop();
      mem[String(recording)] = { per: idle.per, ...burst };
    }
    const timesOn: number[] = [];
    const timesOff: number[] = [];
    const on = await startServer(true, 'conc-on');
    const off = await startServer(false, 'conc-off');
    for (let i = 0; i < RUNS; i++) {
      progress(`100 concurrent sessions, run ${i + 1}`);
      timesOff.push(await concurrent(off));
      timesOn.push(await concurrent(on));
      // Empty the directory, not remove it: the server holds it open (a removed one refuses).
      for (const f of fs.readdirSync(on.dir)) fs.rmSync(path.join(on.dir, f));
    }
    progress('echo latency');
    const latOn = await echoLatency(on, 500);
    const latOff = await echoLatency(off, 500);
    await on.stop();
    await off.stop();
    const t = mem.true!;
    const f = mem.false!;
    rows.push(
      `Example server (\`dist/examples/server.js\`, a separate process; RSS from /proc) driven by in-process ssh2 clients with pty sessions. Medians of ${RUNS} alternating runs where repeated.`,
      '',
      '| measure | recording on | recording off | target |',
      '|---|---|---|---|',
      `| memory per idle session (100 sessions, RSS delta / 100) | ${mib(t.per)} MiB | ${mib(f.per)} MiB | ≤ 2 MiB recorded |`,
      `| peak RSS above idle, 1 GB burst to a client that stopped reading (5 s) | +${mib(t.peak - t.idle)} MiB (recording held ${mib(t.recorded)} MiB) | +${mib(f.peak - f.idle)} MiB | ≤ 64 MiB |`,
      `| 100 concurrent sessions × 1 MB output, wall time | ${median(timesOn).toFixed(2)} s | ${median(timesOff).toFixed(2)} s | ratio on/off ${(median(timesOn) / median(timesOff)).toFixed(2)} |`,
      `| keystroke echo round trip p50 (500 keys, raw pty, cat) | ${percentile(latOn, 50).toFixed(2)} ms | ${percentile(latOff, 50).toFixed(2)} ms | added ${(percentile(latOn, 50) - percentile(latOff, 50)).toFixed(2)} ms |`,
      `| keystroke echo round trip p99 | ${percentile(latOn, 99).toFixed(2)} ms | ${percentile(latOff, 99).toFixed(2)} ms | added ${(percentile(latOn, 99) - percentile(latOff, 99)).toFixed(2)} ms |`,
    );
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
  return rows.join('\n');
}
