import { expect, it } from 'vitest';
import { parseCast } from '../../src/asciicast/reader.js';
import { recordChannel } from '../../src/ssh/record-channel.js';
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
