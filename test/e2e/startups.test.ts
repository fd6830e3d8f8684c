/**
 * Issue 13, attack 4: silent TCP connections, no account needed, against the built example
 * server and, as the reference, Debian's OpenSSH sshd with its defaults (MaxStartups 10:30:100)
 * on another loopback port. A client "gets through" when it receives the server's version line
 * (both servers drop at accept, before it). The naive server is today's hard cap of 10
 * (`--max-startups 10 --per-source-max-startups none`): 10 silent connections lock everyone out.
 * sshd drops 30% of new connections at 10, 99% at 99 and all of them at 100; sshcast, by default,
 * holds 5 per address, so 10 from one address lock no one out, and it takes 100 from 20
 * addresses to block everyone, as for sshd (the same drop_connection() arithmetic).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startExampleServer, tempDir, type ExampleServer } from '../helpers/e2e.js';
import { SSHD, requireSshd, startSshd } from '../helpers/sshd.js';

let work: string;
const stops: (() => Promise<unknown>)[] = [];
const sockets: net.Socket[] = [];

beforeAll(() => {
  work = tempDir('startups-');
  fs.writeFileSync(path.join(work, 'authorized_keys'), '', { mode: 0o600 });
});

afterAll(async () => {
  for (const s of sockets) s.destroy();
  for (const stop of stops.reverse()) await stop();
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

/**
 * The reference sshd with its defaults. PerSourcePenalties (OpenSSH 9.8 and later) is turned off
 * where it exists, so that MaxStartups alone is measured; Debian 12's 9.2 has none.
 */
async function sshdPort(): Promise<number> {
  requireSshd();
  const version = execFileSync(SSHD, ['-V'], { encoding: 'utf8', stdio: 'pipe' }).toString();
  const [major = 0, minor = 0] = (/OpenSSH_(\d+)\.(\d+)/.exec(version) ?? []).slice(1).map(Number);
  const penalties = major > 9 || (major === 9 && minor >= 8);
  const sshd = await startSshd(penalties ? ['PerSourcePenalties no'] : []);
  stops.push(() => sshd.stop());
  return sshd.port;
}

async function startOurs(args: string[] = []): Promise<ExampleServer> {
  const s = await startExampleServer({
    args: [
      '--authorized-keys',
      path.join(work, 'authorized_keys'),
      '--host-key',
      path.join(work, 'host_key'),
      ...args,
    ],
    env: { TS_DEBUG_LOG_SSH: undefined },
  });
  stops.push(() => s.stop());
  return s;
}

/** Connects from `localAddress`; resolves whether the server's version line came, then closes. */
function getsBanner(port: number, localAddress: string, keep = false): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1', localAddress });
    let got = '';
    const done = (ok: boolean) => {
      clearTimeout(timer);
      if (!keep || !ok) s.destroy();
      else sockets.push(s);
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), 5000);
    s.on('data', (d: Buffer) => {
      got += d.toString('latin1');
      if (got.startsWith('SSH-') && got.includes('\n')) done(true);
    });
    s.on('error', () => {});
    s.on('close', () => done(false));
  });
}

/**
 * Opens silent connections (each is kept once the server answered it, and never sends a byte),
 * each from the one of `sources` that holds fewest, until `count` are held; bounded. Returns how
 * many are held. Both servers drop some of these too (99% of them at 99 held).
 */
async function hold(port: number, count: number, sources: string[]): Promise<number> {
  const held = new Map(sources.map((s) => [s, 0]));
  let total = 0;
  for (let attempt = 0; total < count && attempt < count * 100; attempt++) {
    const [source] = [...held].reduce((a, b) => (b[1] < a[1] ? b : a));
    if (await getsBanner(port, source, true)) {
      held.set(source, held.get(source)! + 1);
      total++;
    }
  }
  return total;
}

/** Of `tries` new connections from 127.0.0.1, one after another, how many get through. */
async function through(port: number, tries: number): Promise<number> {
  let ok = 0;
  for (let i = 0; i < tries; i++) if (await getsBanner(port, '127.0.0.1')) ok++;
  return ok;
}

function release(): void {
  for (const s of sockets.splice(0)) s.destroy();
}

const loopback = (from: number, n: number) =>
  Array.from({ length: n }, (_, i) => `127.0.0.${from + i}`);

describe('silent connections, no account needed', () => {
  it('10 from one address: the naive hard cap locks everyone out; sshd drops some; sshcast none', async () => {
    const naive = await startOurs(['--max-startups', '10', '--per-source-max-startups', 'none']);
    expect(await hold(naive.port, 10, ['127.0.0.2'])).toBe(10);
    expect(await through(naive.port, 20)).toBe(0);
    release();

    const sshd = await sshdPort();
    expect(await hold(sshd, 10, ['127.0.0.2'])).toBe(10);
    const sshdThrough = await through(sshd, 40);
    // MaxStartups 10:30:100 drops 30% at 10 waiting: some of 40 get through, some do not.
    expect(sshdThrough).toBeGreaterThan(0);
    expect(sshdThrough).toBeLessThan(40);
    release();

    const ours = await startOurs();
    // The address holds 5; the other 5 are closed at accept and count for nothing.
    expect(await hold(ours.port, 5, ['127.0.0.2'])).toBe(5);
    expect(await getsBanner(ours.port, '127.0.0.2')).toBe(false);
    expect(await through(ours.port, 40)).toBe(40);
    release();
  });

  // At 100 waiting (full), every new connection is dropped; at 99, 1 in 100 gets through.
  it('100 from 20 addresses block everyone, for sshd and for sshcast alike', async () => {
    const sshd = await sshdPort();
    expect(await hold(sshd, 100, loopback(10, 20))).toBe(100);
    expect(await through(sshd, 20)).toBe(0);
    release();

    const ours = await startOurs();
    expect(await hold(ours.port, 100, loopback(10, 20))).toBe(100);
    expect(await through(ours.port, 20)).toBe(0);
    release();
  });
});
