/**
 * The session layer over a real ssh2 connection, without OpenSSH or the authentication layer:
 * sshcast/testing's startTestServer, letting every client in as a fixed identity and serving its
 * sessions with `handleSession` and the options given, and a raw ssh2 client to drive it.
 */
import ssh2 from 'ssh2';
import { handleSession, type SessionOptions } from '../../src/ssh/session.js';
import { startTestServer as startServer } from '../../src/testing/index.js';

export interface TestServer {
  port: number;
  close(): Promise<void>;
}

/** Starts a server on 127.0.0.1 and a free port; every client is let in as `options.identity`. */
export async function startTestServer(options: SessionOptions): Promise<TestServer> {
  const server = await startServer({
    connect: false,
    authenticate: (connection) =>
      new Promise((resolve) => {
        connection.on('authentication', (ctx) => {
          ctx.accept();
          resolve(options.identity);
        });
        connection.once('close', () => resolve(undefined));
      }),
    session: (session) => handleSession(session, options),
  });
  return { port: server.port, close: () => server.close() };
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
