import { afterEach, describe, expect, it } from 'vitest';
import net, { type AddressInfo } from 'node:net';
import ssh2 from 'ssh2';
import type { Connection } from 'ssh2';
import {
  DEFAULT_MAX_CHANNELS,
  DEFAULT_MAX_UNAUTHENTICATED,
  limitChannels,
  limitConnections,
} from '../../src/ssh/limits.js';
import { hostKey } from './auth-harness.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

interface Started {
  port: number;
  ssh: ssh2.Server;
  logs: string[];
}

// An ssh2 server that lets every client in and accepts every session channel; `gate` and
// `channels` switch our limits on.
async function start(opts: {
  gate?: boolean;
  grace?: number;
  channels?: number;
}): Promise<Started & { gate?: ReturnType<typeof limitConnections> }> {
  const logs: string[] = [];
  const clients: Connection[] = [];
  const ssh = new ssh2.Server({ hostKeys: [hostKey] }, (client) => {
    clients.push(client);
    client.on('error', () => {});
    if (opts.channels !== undefined)
      limitChannels(client, opts.channels < 0 ? undefined : opts.channels, (m) => logs.push(m));
    client.on('authentication', (ctx) => ctx.accept());
    client.on('session', (accept) => {
      const session = accept();
      session.on('shell', (acceptShell) => acceptShell());
    });
  });
  ssh.on('error', () => {});
  let listener: net.Server;
  let gate: ReturnType<typeof limitConnections> | undefined;
  if (opts.gate) {
    gate = limitConnections(ssh, {
      ...(opts.grace !== undefined ? { loginGraceMs: opts.grace } : {}),
      log: (m) => logs.push(m),
    });
    listener = gate.server;
  } else {
    listener = (ssh as unknown as { _srv: net.Server })._srv;
  }
  await new Promise<void>((resolve) => {
    if (opts.gate) listener.listen(0, '127.0.0.1', resolve);
    else ssh.listen(0, '127.0.0.1', resolve);
  });
  const port = (listener.address() as AddressInfo).port;
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        for (const c of clients) c.end();
        listener.close(() => resolve());
      }),
  );
  return { port, ssh, logs, ...(gate ? { gate } : {}) };
}

function login(port: number): Promise<ssh2.Client> {
  return new Promise((resolve, reject) => {
    const c = new ssh2.Client();
    c.on('ready', () => resolve(c)).on('error', reject);
    c.connect({ host: '127.0.0.1', port, username: 'x', password: 'x', readyTimeout: 10_000 });
    cleanups.push(() => c.end());
  });
}

function openSession(c: ssh2.Client): Promise<'open' | 'refused'> {
  return new Promise((resolve) => {
    // ssh2 has no bare "open a session"; a shell request opens one and keeps it open.
    c.shell(false, (err) => resolve(err ? 'refused' : 'open'));
  });
}

// A TCP peer that connects and sends nothing, as a MaxStartups attacker does.
function idle(port: number) {
  const s = net.connect(port, '127.0.0.1');
  s.on('error', () => {});
  const state = {
    socket: s,
    closed: false,
    gotBytes: 0,
    whenClosed: new Promise<void>((resolve) => s.on('close', () => resolve())),
  };
  s.on('data', (d) => (state.gotBytes += d.length));
  void state.whenClosed.then(() => (state.closed = true));
  cleanups.push(() => s.destroy());
  return state;
}

describe('channels per connection', () => {
  it(`refuses channels beyond the limit (default ${DEFAULT_MAX_CHANNELS}) and frees a slot on close`, async () => {
    const naive = await start({});
    const nc = await login(naive.port);
    const naiveResults = await Promise.all(Array.from({ length: 30 }, () => openSession(nc)));
    expect(naiveResults.filter((r) => r === 'open').length).toBe(30); // no bound without us

    const ours = await start({ channels: -1 }); // -1: limitChannels' default
    const c = await login(ours.port);
    const first: ssh2.ClientChannel[] = [];
    for (let i = 0; i < DEFAULT_MAX_CHANNELS; i++) {
      first.push(
        await new Promise<ssh2.ClientChannel>((resolve, reject) =>
          c.shell(false, (err, ch) => (err ? reject(err) : resolve(ch))),
        ),
      );
    }
    expect(await openSession(c)).toBe('refused');
    expect(
      ours.logs.some((l) => l.includes('session channel refused: 10 channels open (max 10)')),
    ).toBe(true);
    await new Promise<void>((resolve) => {
      first[0]!.once('close', () => resolve());
      first[0]!.resume(); // a channel that is not read never emits 'close'
      first[0]!.close();
    });
    expect(await openSession(c)).toBe('open');
    expect(await openSession(c)).toBe('refused');
  });
});

describe('unauthenticated connections', () => {
  it(`drops new connections while the limit (default ${DEFAULT_MAX_UNAUTHENTICATED}) are unauthenticated`, async () => {
    const naive = await start({});
    const naiveIdlers = Array.from({ length: 15 }, () => idle(naive.port));
    // Without a gate each idler is served (gets the server's version line) and held.
    await expect.poll(() => naiveIdlers.every((i) => i.gotBytes > 0)).toBe(true);
    expect(naiveIdlers.some((i) => i.closed)).toBe(false);

    const ours = await start({ gate: true });
    const idlers = Array.from({ length: DEFAULT_MAX_UNAUTHENTICATED }, () => idle(ours.port));
    await expect.poll(() => idlers.every((i) => i.gotBytes > 0)).toBe(true);
    expect(ours.gate!.unauthenticated).toBe(DEFAULT_MAX_UNAUTHENTICATED);
    const extra = idle(ours.port);
    await extra.whenClosed;
    expect(extra.gotBytes).toBe(0);
    expect(ours.gate!.dropped).toBe(1);
    expect(ours.logs.some((l) => l.includes('dropped, 10 connections not yet authenticated'))).toBe(
      true,
    );
    // One idler leaves: a real client gets the slot, and once it is in it no longer counts.
    idlers[0]!.socket.destroy();
    await expect.poll(() => ours.gate!.unauthenticated).toBe(DEFAULT_MAX_UNAUTHENTICATED - 1);
    const c = await login(ours.port);
    await expect.poll(() => ours.gate!.unauthenticated).toBe(DEFAULT_MAX_UNAUTHENTICATED - 1);
    expect(await openSession(c)).toBe('open');
  });

  it('closes a peer that never sends a byte once the login grace time is over', async () => {
    const naive = await start({});
    const ours = await start({ gate: true, grace: 200 });
    const naiveIdler = idle(naive.port);
    const ourIdler = idle(ours.port);
    await ourIdler.whenClosed;
    expect(ours.logs.some((l) => l.includes('not authenticated within 200 ms'))).toBe(true);
    // ssh2 never reports a peer that sends no version line, so nothing else would close it.
    expect(naiveIdler.closed).toBe(false);
    // An authenticated client outlives the grace time.
    const c = await login(ours.port);
    const later = idle(ours.port);
    await later.whenClosed;
    expect(await openSession(c)).toBe('open');
  });
});
