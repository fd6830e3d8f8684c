/**
 * What src/ssh/connection.ts relies on in ssh2 1.17, each shown against the real ssh2: `_sock` is
 * the connection's TCP socket, `end()` alone leaves it open to a peer that does not answer (what
 * hangUp fixes), and channel opens go through `emit(event, accept, reject, info)`.
 */
import net, { type AddressInfo } from 'node:net';
import ssh2 from 'ssh2';
import type { Connection } from 'ssh2';
import { afterEach, describe, expect, it } from 'vitest';
import { hangUp, interceptChannelOpens, isClosed, socketOf } from '../../src/ssh/connection.js';
import { hostKey } from './auth-harness.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function server(onConnection: (c: Connection) => void): Promise<number> {
  const s = new ssh2.Server({ hostKeys: [hostKey] }, (c) => {
    c.on('error', () => {});
    onConnection(c);
  });
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise((resolve) => s.close(resolve)));
  return (s.address() as AddressInfo).port;
}

function connect(port: number): Promise<ssh2.Client> {
  return new Promise((resolve, reject) => {
    const c = new ssh2.Client();
    c.on('ready', () => resolve(c)).on('error', reject);
    c.connect({ host: '127.0.0.1', port, username: 'u', readyTimeout: 10_000 });
    cleanups.push(() => c.end());
  });
}

/** A TCP peer that sends its SSH version line, then neither reads nor closes. */
async function silentPeer(port: number): Promise<net.Socket> {
  const sock = net.connect(port, '127.0.0.1');
  await new Promise<void>((resolve) => sock.once('connect', resolve));
  sock.write('SSH-2.0-silent\r\n');
  sock.pause();
  cleanups.push(() => sock.destroy());
  return sock;
}

function serverConnection(): { seen: Promise<Connection>; on: (c: Connection) => void } {
  let resolve!: (c: Connection) => void;
  const seen = new Promise<Connection>((r) => (resolve = r));
  return { seen, on: (c) => resolve(c) };
}

describe('ssh2 1.17 internals', () => {
  it('_sock is the TCP socket, on the server side and on a client', async () => {
    const conn = serverConnection();
    const port = await server((c) => {
      c.on('authentication', (ctx) => ctx.accept());
      conn.on(c);
    });
    const client = await connect(port);
    const serverSide = socketOf(await conn.seen);
    const clientSide = socketOf(client);
    expect(serverSide).toBeInstanceOf(net.Socket);
    expect(clientSide).toBeInstanceOf(net.Socket);
    expect(serverSide!.remotePort).toBe(clientSide!.localPort);
    expect(isClosed(client)).toBe(false);
    client.end();
    await new Promise((resolve) => client.once('close', () => resolve(undefined)));
    expect(isClosed(client)).toBe(true);
  });

  it('naive: end() alone leaves the socket to a peer that does not answer open', async () => {
    const conn = serverConnection();
    const port = await server(conn.on);
    await silentPeer(port);
    const c = await conn.seen;
    c.end();
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(socketOf(c)!.destroyed).toBe(false);
  });

  it('hangUp closes it within the grace', async () => {
    const conn = serverConnection();
    const port = await server(conn.on);
    const peer = await silentPeer(port);
    const c = await conn.seen;
    const closed = new Promise((resolve) => peer.once('close', resolve));
    peer.resume();
    hangUp(c, { graceMs: 200 });
    await closed;
    expect(socketOf(c)!.destroyed).toBe(true);
  });

  it('channel opens reach emit(event, accept, reject, info) before any listener', async () => {
    const seen: string[] = [];
    const port = await server((c) => {
      interceptChannelOpens(c, (event, accept, reject) => {
        seen.push(event);
        if (seen.length === 1) {
          reject();
          return undefined;
        }
        return [accept, reject];
      });
      c.on('authentication', (ctx) => ctx.accept());
      c.on('session', (accept) => {
        accept().on('exec', (acceptExec) => {
          const channel = acceptExec();
          channel.exit(0);
          channel.end();
        });
      });
    });
    const client = await connect(port);
    const open = () =>
      new Promise<string>((resolve) => {
        client.shell((err) => resolve(err ? 'refused' : 'opened'));
      });
    expect(await open()).toBe('refused');
    const second = await new Promise<string>((resolve) =>
      client.exec('true', (err) => resolve(err ? 'refused' : 'opened')),
    );
    expect(second).toBe('opened');
    expect(seen).toEqual(['session', 'session']);
  });
});
