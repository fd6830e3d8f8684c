/**
 * A loopback TCP proxy between the uploader and a collector, to freeze the network (stop
 * forwarding in both directions, connections left open, as a dead link or a partition does) and
 * to switch which collector is behind one address.
 */
import net from 'node:net';

export interface Proxy {
  url: string;
  /** The HTTP requests seen so far, as `METHOD PATH` (sniffed from each client chunk's start). */
  requests: string[];
  /** The same, with the number of the connection each came on (connections count from 1). */
  sniffed: { connection: number; request: string }[];
  /** How many connections were opened so far. */
  connections(): number;
  /** Where new connections go (`http://HOST:PORT`). */
  setTarget(url: string): void;
  /** Stops forwarding on every connection, and holds new ones. */
  freeze(): void;
  /** Forwards again. */
  thaw(): void;
  /** Ends every connection (as a dead collector's host does). */
  reset(): void;
  close(): Promise<void>;
}

export async function startProxy(target: string): Promise<Proxy> {
  let to = new URL(target);
  let frozen = false;
  const pairs = new Set<[net.Socket, net.Socket]>();
  const requests: string[] = [];
  const sniffed: { connection: number; request: string }[] = [];
  let opened = 0;
  const server = net.createServer((client) => {
    const connection = ++opened;
    client.on('data', (chunk: Buffer) => {
      const m = /^(POST|PATCH|HEAD|DELETE|GET|OPTIONS) (\S+)/.exec(
        chunk.toString('latin1', 0, 300),
      );
      if (!m) return;
      requests.push(`${m[1]} ${m[2]}`);
      sniffed.push({ connection, request: `${m[1]} ${m[2]}` });
    });
    const upstream = net.connect(Number(to.port), to.hostname);
    const pair: [net.Socket, net.Socket] = [client, upstream];
    pairs.add(pair);
    const end = () => {
      client.destroy();
      upstream.destroy();
      pairs.delete(pair);
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    if (frozen) {
      client.pause();
      upstream.pause();
    } else link(pair);
  });
  function link([a, b]: [net.Socket, net.Socket]) {
    a.pipe(b);
    b.pipe(a);
  }
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  const each = (f: (s: net.Socket) => void) => {
    for (const [a, b] of pairs) {
      f(a);
      f(b);
    }
  };
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    sniffed,
    connections: () => opened,
    setTarget: (url) => (to = new URL(url)),
    freeze: () => {
      frozen = true;
      for (const [a, b] of pairs) {
        a.unpipe(b);
        b.unpipe(a);
        a.pause();
        b.pause();
      }
    },
    thaw: () => {
      frozen = false;
      for (const pair of pairs) link(pair);
    },
    reset: () => each((s) => s.destroy()),
    close: async () => {
      each((s) => s.destroy());
      await new Promise((r) => server.close(r));
    },
  };
}
