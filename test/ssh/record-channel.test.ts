import ssh2 from 'ssh2';
import type { AddressInfo } from 'node:net';
import { expect, it } from 'vitest';
import { MemorySink } from '../../src/recording/sink.js';
import { Recorder } from '../../src/recording/recorder.js';
import { parseCast } from '../../src/asciicast/reader.js';
import { recordChannel } from '../../src/ssh/record-channel.js';
import { generateEd25519KeyPair } from '../../src/ssh/keys.js';
import { connect, run } from '../helpers/inprocess.js';
import { until } from '../helpers/e2e.js';

it('records a channel the host serves itself: output, stderr, input when enabled, and the exit status', async () => {
  const sink = new MemorySink();
  const recorder = new Recorder({ enabled: true, recordInput: true, sink: () => sink });
  const server = new ssh2.Server({ hostKeys: [generateEd25519KeyPair().private] }, (client) => {
    client.on('authentication', (ctx) => ctx.accept());
    client.on('ready', () =>
      client.on('session', (accept) => {
        const session = accept();
        session.on('shell', (acceptShell) => {
          const channel = recordChannel(acceptShell(), recorder.start({ localUser: 'honeypot' }));
          channel.write('login: ');
          channel.once('data', (d: Buffer) => {
            channel.stderr.write(`no such user ${d.toString().trim()}\n`);
            channel.exit(5);
            channel.end();
          });
        });
      }),
    );
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const client = await connect((server.address() as AddressInfo).port);
  const r = await run(client, undefined, { input: 'mallory\n', keepOpen: true });
  expect(r.stdout.toString()).toBe('login: ');
  expect(r.stderr.toString()).toBe('no such user mallory\n');
  expect(r.code).toBe(5);
  await until(() => (sink.closed ? true : undefined), 'the recording to close');
  const cast = parseCast(sink.text());
  expect(cast.header.localUser).toBe('honeypot');
  expect(cast.events.map((e) => [e.code, e.data])).toEqual([
    ['o', 'login: '],
    ['i', 'mallory\n'],
    ['o', 'no such user mallory\n'],
    ['x', '5'],
  ]);
  client.end();
  server.close();
});
