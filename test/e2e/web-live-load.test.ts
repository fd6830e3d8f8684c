/**
 * 20 live viewers and one stalled viewer (a client that stops reading) on one session over
 * OpenSSH printing 16 MB of random data as base64: the viewers all get the same, exact tail of the
 * recording, the stalled viewer is cut off, the web server's memory stays bounded, and the
 * session is not held up. (Timings are measured in bench/live.bench.ts, not asserted here.)
 * Also: the number of live viewers is bounded, and a ticket survives its stream's reconnect.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  firstMessage,
  liveTicket,
  rssOf,
  SseViewer,
  stalledViewer,
  startWeb,
  type WebProcess,
} from '../../bench/live-client.js';
import {
  authorizedKey,
  recordingAfter,
  recordings,
  requireTool,
  sshOptions,
  startRecordingServer,
  tempDir,
  until,
  type ExampleServer,
} from '../helpers/e2e.js';

let work: string;
let dir: string;
let key: { file: string };
let server: ExampleServer;
let web: WebProcess;

beforeAll(async () => {
  for (const tool of ['ssh', 'ssh-keygen']) requireTool(tool);
  work = tempDir('live-load-');
  dir = path.join(work, 'rec');
  let authorizedKeys: string;
  ({ authorizedKeys, ...key } = await authorizedKey(work));
  server = await startRecordingServer({
    dir,
    hostKey: path.join(work, 'host_key'),
    authorizedKeys,
  });
  web = await startWeb(dir, ['--max-viewers', '22']);
});

afterAll(async () => {
  await web?.stop();
  await server?.stop();
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

/** A session that waits for a line on stdin, then runs `command`; resolves once it is recorded. */
async function waitingSession(command: string) {
  const before = recordings(dir);
  const child = spawn(
    'ssh',
    [...sshOptions(server.port, key.file), '-tt', 'root@127.0.0.1', `read go; ${command}`],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  let bytes = 0;
  child.stdout!.on('data', (d: Buffer) => (bytes += d.length));
  const exited = once(child, 'exit');
  const file = await recordingAfter(dir, before);
  return { child, file, name: path.basename(file), exited, bytes: () => bytes };
}

/** Resolves once the web server has logged a line matching `pattern`. */
function logged(pattern: RegExp): Promise<void> {
  return new Promise((resolve) => {
    const check = () => {
      if (!pattern.test(web.stderr())) return;
      web.child.stderr!.off('data', check);
      resolve();
    };
    web.child.stderr!.on('data', check);
    check();
  });
}

/** The `o`/`m` event lines of a finished recording, exactly as written. */
function eventLines(file: string): string[] {
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .slice(1)
    .filter((l) => /^\[[0-9.]+,"[om]",/.test(l));
}

describe('live viewers under load', () => {
  it('20 viewers and a stalled one: exact data for the 20, the stalled one cut off, bounded memory', async () => {
    const s = await waitingSession('head -c 16000000 /dev/urandom | base64 -w 76; echo END');
    const viewers: SseViewer[] = [];
    for (let i = 0; i < 20; i++)
      viewers.push(new SseViewer(web.port, await liveTicket(web, s.name)));
    const stalled = await stalledViewer(web.port, await liveTicket(web, s.name));
    const cutOff = logged(/ended after [0-9.]+ s: cut off: more than 262144 bytes behind/);
    // Every viewer has its reset (the present screen) before the output starts.
    await Promise.all(viewers.map(firstMessage));
    const rssBefore = await rssOf(web.child.pid!);
    let peak = rssBefore;
    const sampler = setInterval(() => {
      void rssOf(web.child.pid!).then((r) => (peak = Math.max(peak, r)));
    }, 50);
    s.child.stdin!.write('go\n');
    await s.exited;
    await Promise.all(viewers.map((v) => v.closed));
    clearInterval(sampler);
    // The server cut the stalled viewer off (the client, which reads nothing, cannot tell).
    await cutOff;
    stalled.destroy();

    const lines = eventLines(s.file);
    for (const v of viewers) {
      expect(JSON.parse(v.messages[0]!.data)).toMatchObject({ cols: 80, rows: 24 });
      expect(v.messages.at(-1)!.event).toBe('done');
      const got = v.messages.slice(1, -1).map((m) => m.data);
      // The exact lines of the file, from where the viewer joined to the end.
      expect(got.length).toBeGreaterThan(100);
      expect(got).toEqual(lines.slice(lines.length - got.length));
      expect(got.join('')).toContain('END');
    }
    // 21.6 MB went to each of 21 viewers; the server held a bounded part of it.
    expect(peak - rssBefore).toBeLessThan(96 * 2 ** 20);
    expect(s.bytes()).toBeGreaterThan(21_000_000);
  }, 120_000);

  it('the number of live viewers is bounded; a ticket survives its stream reconnecting, and only one connection holds it', async () => {
    const s = await waitingSession('echo started; sleep 30');
    const streamPath = await liveTicket(web, s.name);
    const first = new SseViewer(web.port, streamPath);
    await firstMessage(first);
    // The same ticket while its connection is open: refused.
    const twice = new SseViewer(web.port, streamPath);
    await twice.closed;
    expect(twice.messages).toEqual([]);
    // The server logs the refusal as it closes the connection: the line may come a moment later.
    const refusal = /refused GET \/live\/\S+ from [0-9.:]+: 401 ticket: in use/;
    await until(() => (refusal.test(web.stderr()) ? true : undefined), 'the refusal in the log');
    expect(web.stderr()).toMatch(refusal);
    // Its connection drops; EventSource reconnects with the same URL and gets the screen again.
    first.close();
    await first.closed;
    const again = new SseViewer(web.port, streamPath);
    await firstMessage(again);
    expect(JSON.parse(again.messages[0]!.data)).toMatchObject({ cols: 80, rows: 24 });
    // 22 at most (this server's --max-viewers): the 23rd is refused a ticket.
    const more: SseViewer[] = [];
    for (let i = 0; i < 21; i++) more.push(new SseViewer(web.port, await liveTicket(web, s.name)));
    await Promise.all(more.map(firstMessage));
    await expect(liveTicket(web, s.name)).rejects.toThrow(/^ticket: 503 .*too many live viewers/);
    for (const v of [again, ...more]) v.close();
    s.child.kill('SIGTERM');
    await s.exited;
  }, 60_000);
});
