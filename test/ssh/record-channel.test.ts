import { afterEach, describe, expect, it } from 'vitest';
import type { Recording } from '../../src/recording/recording.js';
import { parseCast } from '../../src/asciicast/reader.js';
import { recordChannel } from '../../src/ssh/record-channel.js';
import { EventEmitter } from 'node:events';
import { Recorder } from '../../src/recording/recorder.js';
import type { Sink } from '../../src/recording/sink.js';
import { memoryRecorder, startTestServer } from '../../src/testing/index.js';
import { run } from '../helpers/inprocess.js';

it('records a channel the host serves itself: output, stderr, input when enabled, and the exit status', async () => {
  const recorder = memoryRecorder({ recordInput: true });
  const server = await startTestServer({
    session: (session) =>
      session.on('shell', (acceptShell) => {
        const channel = recordChannel(acceptShell(), recorder.start({ localUser: 'honeypot' }));
        channel.write('login: ');
        channel.once('data', (d: Buffer) => {
          channel.stderr.write(`no such user ${d.toString().trim()}\n`);
          channel.exit(5);
          channel.end();
        });
      }),
  });
  const client = server.client.connection;
  const r = await run(client, undefined, { input: 'mallory\n', keepOpen: true });
  expect(r.stdout.toString()).toBe('login: ');
  expect(r.stderr.toString()).toBe('no such user mallory\n');
  expect(r.code).toBe(5);
  await recorder.waitForRecordings(1);
  const sink = recorder.sinks[0]!;
  const cast = parseCast(sink.text());
  expect(cast.header.localUser).toBe('honeypot');
  expect(cast.events.map((e) => [e.code, e.data])).toEqual([
    ['o', 'login: '],
    ['i', 'mallory\n'],
    ['o', 'no such user mallory\n'],
    ['x', '5'],
  ]);
  await server.close();
});

describe('recordChannel under the recorder’s policies', () => {
  /**
   * A host-served shell whose recording waits for `accepted` (as with the `closed` remote
   * policy): it writes `held` through recordChannel, then `probe` past it, on the raw channel.
   * Bytes on one channel keep their order, so the client sees `probe` first only if `held` was
   * held back.
   */
  async function hostShell(accepted: () => Promise<void>, then?: (rec: Recording) => void) {
    const recorder = memoryRecorder();
    const server = await startTestServer({
      session: (session) =>
        session.on('shell', (acceptShell) => {
          const channel = acceptShell();
          const raw = channel.write.bind(channel);
          const rec = recorder.start({ localUser: 'host' });
          rec.waitFor(accepted());
          recordChannel(channel, rec);
          expect(channel.write('held')).toBe(false); // wait for 'drain'
          raw('probe');
          channel.once('drain', () => {
            channel.exit(0);
            channel.end();
          });
          then?.(rec);
        }),
    });
    cleanups.push(() => server.close());
    return { recorder, client: server.client.connection };
  }
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0)) await c();
  });

  it('holds what the host writes until a collector accepted the recording', async () => {
    let accept!: () => void;
    const accepted = new Promise<void>((r) => (accept = r));
    const { client } = await hostShell(() => accepted);
    const seen: string[] = [];
    const r = await run(client, undefined, {
      keepOpen: true,
      onChannel: (ch) =>
        ch.on('data', (d: Buffer) => {
          seen.push(d.toString());
          if (d.toString().includes('probe')) accept();
        }),
    });
    expect(seen.join('')).toBe('probeheld'); // unheld, it would be `heldprobe`
    expect(r.code).toBe(0);
  });

  it('refuses the session when no collector accepts, and sends nothing it held', async () => {
    const { client, recorder } = await hostShell(() => Promise.reject(new Error('no collector')));
    const r = await run(client, undefined, { keepOpen: true });
    expect(r.stdout.toString()).toBe('probe');
    expect(r.stderr.toString()).toBe("can't start new recording\r\n");
    expect(r.code).toBe(1);
    await recorder.waitForRecordings(1);
  });

  it('ends the session with its message when the policy ends it', async () => {
    const { client, recorder } = await hostShell(
      () => new Promise(() => {}),
      (rec) => rec.endSession('recording is not reaching the collector; ending session'),
    );
    const r = await run(client, undefined, { keepOpen: true });
    expect(r.stderr.toString()).toBe('recording is not reaching the collector; ending session\r\n');
    expect(r.code).toBe(1);
    await recorder.waitForRecordings(1);
  });
});

/** A sink as slow as a stalled disk: every write says wait, until release(). */
class StalledSink extends EventEmitter implements Sink {
  readonly name = 'stalled';
  readonly lines: string[] = [];
  write(lines: Buffer): boolean {
    this.lines.push(lines.toString());
    return false;
  }
  release(): void {
    this.emit('drain');
  }
  async close(): Promise<void> {}
}

it("tells the host to wait while the recording's queue is full, and drains when it did", async () => {
  const sink = new StalledSink();
  const recorder = new Recorder({ enabled: true, sink: () => sink, log: () => {} });
  const steps: string[] = [];
  const server = await startTestServer({
    session: (session) =>
      session.on('shell', (acceptShell) => {
        const channel = recordChannel(acceptShell(), recorder.start({ localUser: 'host' }));
        // A few bytes: ssh2's own window takes them; only the recording says wait.
        steps.push(`write ${channel.write('hello')}`);
        channel.once('drain', () => {
          steps.push('drain');
          channel.exit(0);
          channel.end();
        });
        setImmediate(() => {
          steps.push('released');
          sink.release();
        });
      }),
  });
  const r = await run(server.client.connection, undefined, { keepOpen: true });
  expect(r.stdout.toString()).toBe('hello');
  expect(steps).toEqual(['write false', 'released', 'drain']);
  expect(sink.lines.join('')).toContain('"o","hello"');
  await server.close();
});
