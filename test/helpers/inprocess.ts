/**
 * An in-process ssh2 server that lets anyone in as a fixed identity and serves sessions with
 * sshcast's session layer, and an ssh2 client to drive it: for tests of the session layer
 * without OpenSSH or the authentication layer.
 */
import ssh2 from 'ssh2';
import type { AddressInfo } from 'node:net';
import { serveSessions } from '../../src/ssh/serve.js';
import type { SessionOptions } from '../../src/ssh/session.js';
import { generateEd25519KeyPair } from '../../src/ssh/keys.js';

let hostKey: string | undefined;

export interface TestServer {
  port: number;
  /** Connections seen so far. */
  connections: ssh2.Connection[];
  close(): Promise<void>;
}

/** Starts a server on 127.0.0.1 and a free port; every client is let in as `options.identity`. */
export async function startTestServer(
  options: SessionOptions,
  serverConfig: Partial<ssh2.ServerConfig> = {},
): Promise<TestServer> {
  hostKey ??= generateEd25519KeyPair().private;
  const connections: ssh2.Connection[] = [];
  const server = new ssh2.Server({ hostKeys: [hostKey], ...serverConfig }, (client) => {
    connections.push(client);
    client.on('error', () => {});
    client.on('authentication', (ctx) => ctx.accept());
    client.on('ready', () => serveSessions(client, options));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    connections,
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of connections) c.end();
        server.close(() => resolve());
      }),
  };
}

/** Connects an ssh2 client to `port`. */
export function connect(port: number): Promise<ssh2.Client> {
  return new Promise((resolve, reject) => {
    const client = new ssh2.Client();
    client.on('ready', () => resolve(client)).on('error', reject);
    client.connect({ host: '127.0.0.1', port, username: 'tester', readyTimeout: 10_000 });
  });
}

export interface ExecResult {
  stdout: Buffer;
  stderr: Buffer;
  code: number | undefined;
  signal: string | undefined;
}

/** Options for {@link run}. */
export interface RunOptions {
  /** A pty of this size, or none. */
  pty?: { cols: number; rows: number; term?: string };
  /** Written to the channel after it opens; then EOF unless `keepOpen`. */
  input?: string | Buffer;
  keepOpen?: boolean;
  env?: Record<string, string>;
  /** Called with the channel once it is open. */
  onChannel?: (channel: ssh2.ClientChannel) => void;
}

/** Runs `command` (a shell when undefined) over `client` and collects everything until close. */
export function run(
  client: ssh2.Client,
  command: string | undefined,
  options: RunOptions = {},
): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const done = (err: Error | undefined, channel: ssh2.ClientChannel) => {
      if (err) return reject(err);
      const out: Buffer[] = [];
      const errOut: Buffer[] = [];
      let code: number | undefined;
      let signal: string | undefined;
      channel.on('data', (d: Buffer) => out.push(d));
      channel.stderr.on('data', (d: Buffer) => errOut.push(d));
      channel.on('exit', (c: number | null, s?: string) => {
        if (typeof c === 'number') code = c;
        else signal = s;
      });
      channel.on('close', () =>
        resolve({ stdout: Buffer.concat(out), stderr: Buffer.concat(errOut), code, signal }),
      );
      options.onChannel?.(channel);
      if (options.input !== undefined) channel.write(options.input);
      if (!options.keepOpen) channel.end();
    };
    const pty = options.pty
      ? { cols: options.pty.cols, rows: options.pty.rows, term: options.pty.term ?? 'xterm' }
      : undefined;
    if (command === undefined)
      client.shell(pty ?? false, { env: options.env } as ssh2.ShellOptions, done);
    else
      client.exec(
        command,
        { ...(pty ? { pty } : {}), ...(options.env ? { env: options.env } : {}) },
        done,
      );
  });
}
