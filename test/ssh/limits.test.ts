import { afterEach, describe, expect, it } from 'vitest';
import net, { type AddressInfo } from 'node:net';
import ssh2 from 'ssh2';
import type { Connection } from 'ssh2';
import {
  DEFAULT_MAX_CHANNELS,
  DEFAULT_MAX_STARTUPS,
  DEFAULT_MAX_UNAUTHENTICATED,
  DEFAULT_PER_SOURCE_MAX_STARTUPS,
  dropsAt,
  limitChannels,
  limitConnections,
  parseMaxStartups,
  sourceOf,
  type ConnectionLimitOptions,
} from '../../src/ssh/limits.js';
import { ConfigError } from '../../src/errors.js';
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
  gate?: boolean | Omit<ConnectionLimitOptions, 'log'>;
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
      ...(typeof opts.gate === 'object' ? opts.gate : {}),
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

function login(port: number, localAddress = '127.0.0.1'): Promise<ssh2.Client> {
  return new Promise((resolve, reject) => {
    const c = new ssh2.Client();
    c.on('ready', () => resolve(c)).on('error', reject);
    c.connect({
      host: '127.0.0.1',
      port,
      localAddress,
      username: 'x',
      password: 'x',
      readyTimeout: 10_000,
    });
    cleanups.push(() => c.end());
  });
}

function openSession(c: ssh2.Client): Promise<'open' | 'refused'> {
  return new Promise((resolve) => {
    // ssh2 has no bare "open a session"; a shell request opens one and keeps it open.
    c.shell(false, (err) => resolve(err ? 'refused' : 'open'));
  });
}

// A TCP peer that connects and sends nothing, as a MaxStartups attacker does; from another
// loopback address to be another source.
function idle(port: number, localAddress = '127.0.0.1') {
  const s = net.connect({ port, host: '127.0.0.1', localAddress });
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

// Waits (bounded by the test's timeout) until `check()` holds.
async function until(check: () => boolean): Promise<void> {
  await expect.poll(check, { timeout: 10_000 }).toBe(true);
}

describe('MaxStartups and the per-source bound, as functions', () => {
  it("drops as sshd's drop_connection(): rate% at start, linearly to 100% at full", () => {
    const drops = (count: number) =>
      Array.from({ length: 100 }, (_, r) => dropsAt(DEFAULT_MAX_STARTUPS, count, () => r)).filter(
        Boolean,
      ).length;
    expect([9, 10, 55, 99, 100, 500].map(drops)).toEqual([0, 30, 65, 99, 100, 100]);
    expect(drops(11)).toBe(30); // 30 + 70 * 1/90, in integers as sshd computes it
  });

  it("parses sshd's syntax: start:rate:full, or one number for a hard cap", () => {
    expect(parseMaxStartups('10:30:100')).toEqual({ start: 10, rate: 30, full: 100 });
    expect(parseMaxStartups('7')).toEqual({ start: 7, rate: 100, full: 7 });
    for (const bad of ['', '0', '10:30', '10:101:100', '20:30:10', 'x', '1:2:3:4'])
      expect(() => parseMaxStartups(bad, '--max-startups'), bad).toThrow(ConfigError);
  });

  it('counts an IPv4 address, or an IPv6 /64, as one source', () => {
    expect(sourceOf('203.0.113.7')).toBe('203.0.113.7');
    expect(sourceOf('::ffff:203.0.113.7')).toBe('203.0.113.7');
    expect(sourceOf('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64');
    expect(sourceOf('2001:db8:1:2:ffff:1:2:3')).toBe('2001:db8:1:2::/64');
    expect(sourceOf('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(sourceOf('::1')).toBe('0:0:0:0::/64');
  });
});

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
  it(`a hard cap (maxUnauthenticated: ${DEFAULT_MAX_UNAUTHENTICATED}, the naive bound) lets ${DEFAULT_MAX_UNAUTHENTICATED} silent peers lock everyone out`, async () => {
    const naive = await start({});
    const naiveIdlers = Array.from({ length: 15 }, () => idle(naive.port));
    // Without a gate each idler is served (gets the server's version line) and held.
    await expect.poll(() => naiveIdlers.every((i) => i.gotBytes > 0)).toBe(true);
    expect(naiveIdlers.some((i) => i.closed)).toBe(false);

    const capped = await start({
      gate: { maxUnauthenticated: DEFAULT_MAX_UNAUTHENTICATED, perSourceMaxStartups: Infinity },
    });
    const idlers = Array.from({ length: DEFAULT_MAX_UNAUTHENTICATED }, () => idle(capped.port));
    await expect.poll(() => idlers.every((i) => i.gotBytes > 0)).toBe(true);
    expect(capped.gate!.unauthenticated).toBe(DEFAULT_MAX_UNAUTHENTICATED);
    // Every real client from then on is dropped, from any address: the lockout.
    for (const from of ['127.0.0.1', '127.0.0.9']) {
      await expect(login(capped.port, from)).rejects.toThrow();
    }
    expect(capped.gate!.dropped).toBe(2);
    expect(capped.logs[0]).toMatch(/dropped, 10 connections not yet authenticated \(max 10\)$/);
    // One idler leaves: a real client gets the slot, and once it is in it no longer counts.
    idlers[0]!.socket.destroy();
    await expect.poll(() => capped.gate!.unauthenticated).toBe(DEFAULT_MAX_UNAUTHENTICATED - 1);
    const c = await login(capped.port);
    await expect.poll(() => capped.gate!.unauthenticated).toBe(DEFAULT_MAX_UNAUTHENTICATED - 1);
    expect(await openSession(c)).toBe('open');
  });

  it(`by default, 15 silent peers from one address hold only ${DEFAULT_PER_SOURCE_MAX_STARTUPS}, and lock no one out`, async () => {
    const ours = await start({ gate: true });
    const idlers = Array.from({ length: 15 }, () => idle(ours.port, '127.0.0.2'));
    await Promise.all(idlers.map((i) => Promise.race([i.whenClosed, until(() => i.gotBytes > 0)])));
    expect(idlers.filter((i) => !i.closed && i.gotBytes > 0)).toHaveLength(
      DEFAULT_PER_SOURCE_MAX_STARTUPS,
    );
    expect(ours.gate!.droppedPerSource).toBe(15 - DEFAULT_PER_SOURCE_MAX_STARTUPS);
    // Logged once, then counted: a flood of drops is not a flood of lines.
    const lines = ours.logs.filter((l) => l.includes('per-source max 5'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      /^limits: 127\.0\.0\.2:\d+: dropped, 5 connections from 127\.0\.0\.2 not yet authenticated \(per-source max 5\)$/,
    );
    // Below MaxStartups' start nothing else is dropped: every other client gets in.
    for (let i = 0; i < 10; i++) (await login(ours.port)).end();
    expect(ours.gate!.dropped).toBe(15 - DEFAULT_PER_SOURCE_MAX_STARTUPS);
  });

  it('MaxStartups drops at random from start and all at full, as sshd does', async () => {
    // At 10 waiting, a draw below 30 (of 0-99) drops; at full, every draw.
    const m = { start: 2, rate: 30, full: 4 };
    let next = 0;
    const ours = await start({ gate: { maxStartups: m, random: () => next } });
    const idlers = [idle(ours.port, '127.0.0.2'), idle(ours.port, '127.0.0.3')];
    await expect.poll(() => idlers.every((i) => i.gotBytes > 0)).toBe(true);
    next = 29; // 29 < 30: dropped
    await expect(login(ours.port)).rejects.toThrow();
    next = 30; // kept
    const third = idle(ours.port, '127.0.0.4');
    await until(() => third.gotBytes > 0);
    next = 64; // at 3 of 2..4: p = 30 + 70 * 1/2 = 65; 64 drops
    await expect(login(ours.port)).rejects.toThrow();
    next = 65;
    const fourth = idle(ours.port, '127.0.0.5');
    await until(() => fourth.gotBytes > 0);
    next = 99; // at full every one is dropped
    await expect(login(ours.port)).rejects.toThrow();
    expect(ours.gate!.dropped).toBe(3);
    expect(ours.logs[0]).toMatch(
      /dropped, 2 connections not yet authenticated \(MaxStartups 2:30:4\)$/,
    );
  });
  it('closes a peer that never sends a byte once the login grace time is over', async () => {
    const naive = await start({});
    // The grace time bounds the login below too: 1 s leaves room for a handshake on a loaded machine.
    const ours = await start({ gate: true, grace: 1000 });
    const naiveIdler = idle(naive.port);
    const ourIdler = idle(ours.port);
    await ourIdler.whenClosed;
    expect(ours.logs.some((l) => l.includes('not authenticated within 1000 ms'))).toBe(true);
    // ssh2 never reports a peer that sends no version line, so nothing else would close it.
    expect(naiveIdler.closed).toBe(false);
    // An authenticated client outlives the grace time.
    const c = await login(ours.port);
    const later = idle(ours.port);
    await later.whenClosed;
    expect(await openSession(c)).toBe('open');
  });
});
