/**
 * The real ssh2 client of `startTestServer()`: a connection, and channels with the same
 * {@link TestChannel} interface as the fake session's, waiting on output, never on time.
 */
import ssh2 from 'ssh2';
import type { ClientChannel, PseudoTtyOptions } from 'ssh2';
import { DEFAULT_SIZE } from '../asciicast/terminal.js';
import { isClosed } from '../ssh/connection.js';
import type { PtyOptions, TestChannel } from './test-channel.js';
import { defaultWaitMs, OutputChannel } from './terminal-output.js';
import { SshcastError } from '../errors.js';

function refused(message: string): SshcastError {
  return new SshcastError('ERR_TEST_REFUSED', message);
}

/** A pty as a test asks for it (the same as the fake session's). */
export type TestPtyOptions = PtyOptions;

/** The result of {@link TestClient.exec}. */
export interface ExecResult {
  stdout: string;
  stderr: string;
  /** The exit status, or null when the command ended by a signal or sent none. */
  code: number | null;
  /** The signal name (without `SIG`) when the command ended by one. */
  signal?: string;
}

/** Options for {@link TestClient.exec} and {@link TestClient.start}. */
export interface TestExecOptions {
  /** Ask for a pty (default none). */
  pty?: TestPtyOptions | boolean;
  /** `env` requests sent first. */
  env?: Record<string, string>;
  /** For `exec()`: written to the command's stdin, then EOF. Default: EOF at once. */
  stdin?: string | Buffer;
  /** For `exec()`: give up after this many ms. Default that of every wait (`WaitOptions.timeout`). */
  timeout?: number;
}

/**
 * A live channel of the real client: the same {@link TestChannel} interface as the fake one, plus
 * the ssh2 ClientChannel itself.
 */
export class TestClientChannel extends OutputChannel implements TestChannel {
  /** The underlying ssh2 client channel. */
  readonly channel: ClientChannel;

  /** @internal */
  constructor(channel: ClientChannel, cols: number, rows: number) {
    super(cols, rows);
    this.channel = channel;
    channel.on('data', (d: Buffer) => this.output.push(d, 'stdout'));
    channel.stderr.on('data', (d: Buffer) => this.output.push(d, 'stderr'));
    channel.on('exit', (code: number | null, signal?: string) => {
      this.output.setExit(
        code === null || code === undefined
          ? { code: null, ...(signal ? { signal: signal.replace(/^SIG/, '') } : {}) }
          : { code },
      );
    });
    channel.on('close', () => this.output.markClosed());
  }

  type(data: string | Buffer): void {
    if (!this.closed) this.channel.write(data);
  }

  resize(cols: number, rows: number): void {
    this.output.resize(cols, rows);
    this.channel.setWindow(rows, cols, 0, 0);
  }

  signal(name: string): void {
    this.channel.signal(name);
  }

  eof(): void {
    this.channel.end();
  }

  close(): void {
    this.channel.close();
  }
}

function ptyOptions(
  pty: TestPtyOptions | boolean | undefined,
  byDefault: boolean,
): PseudoTtyOptions | undefined {
  const p = pty ?? byDefault;
  if (!p) return undefined;
  const o = p === true ? {} : p;
  return {
    cols: o.cols ?? DEFAULT_SIZE.cols,
    rows: o.rows ?? DEFAULT_SIZE.rows,
    term: o.term ?? 'xterm-256color',
    width: 0,
    height: 0,
  };
}

/** A connected ssh2 client for tests. */
export class TestClient {
  /** The underlying ssh2 Client. */
  readonly connection: ssh2.Client;

  /** @internal */
  constructor(connection: ssh2.Client) {
    this.connection = connection;
  }

  /**
   * Opens an interactive shell with a pty (80x24 `xterm-256color` unless told otherwise).
   *
   * @example
   * const sh = await server.client.shell({ cols: 100, rows: 30 });
   * sh.type('echo hi\n');
   * await sh.waitForOutput('hi');
   */
  shell(
    options: TestPtyOptions & { env?: Record<string, string> } = {},
  ): Promise<TestClientChannel> {
    const pty = ptyOptions(options, true)!;
    return new Promise((resolve, reject) => {
      this.connection.shell(pty, { env: options.env ?? {} }, (err, channel) => {
        if (err) return reject(refused(`shell request refused: ${err.message}`));
        resolve(new TestClientChannel(channel, pty.cols!, pty.rows!));
      });
    });
  }

  /**
   * Starts a command and returns its live channel (to type into, resize, signal, wait on).
   *
   * @example
   * const cat = await server.client.start('cat');
   * cat.type('ping\n');
   * await cat.waitForOutput('ping');
   * cat.eof();
   * expect(await cat.waitForExit()).toEqual({ code: 0 });
   */
  start(command: string, options: TestExecOptions = {}): Promise<TestClientChannel> {
    const pty = ptyOptions(options.pty, false);
    return new Promise((resolve, reject) => {
      this.connection.exec(
        command,
        { env: options.env ?? {}, ...(pty ? { pty } : {}) },
        (err, channel) => {
          if (err) return reject(refused(`exec request refused: ${err.message}`));
          resolve(
            new TestClientChannel(
              channel,
              pty?.cols ?? DEFAULT_SIZE.cols,
              pty?.rows ?? DEFAULT_SIZE.rows,
            ),
          );
        },
      );
    });
  }

  /**
   * Runs a command to the end: its stdin gets `options.stdin` (or nothing) then EOF; resolves
   * with stdout, stderr and how it ended.
   *
   * @example
   * const { stdout, code } = await server.client.exec('echo hi');
   * expect(stdout).toBe('hi\n');
   * expect(code).toBe(0);
   */
  async exec(command: string, options: TestExecOptions = {}): Promise<ExecResult> {
    const ch = await this.start(command, options);
    if (options.stdin !== undefined) ch.channel.write(options.stdin);
    ch.channel.end();
    const exit = await ch.waitForExit({ timeout: options.timeout ?? defaultWaitMs() });
    return { stdout: ch.stdout, stderr: ch.stderr, ...exit };
  }

  /** Ends the connection; resolves when it is closed. */
  end(): Promise<void> {
    return new Promise((resolve) => {
      if (isClosed(this.connection)) return resolve();
      this.connection.once('close', () => resolve());
      this.connection.end();
    });
  }
}

/** How {@link connectTestClient} reaches the server and proves who it is. */
export interface TestClientConnection {
  port: number;
  username: string;
  privateKey: string | Buffer;
  /** The server's host key, in SSH wire format: any other is refused. */
  hostKey: Buffer;
}

/** Connects a {@link TestClient} to a test server on 127.0.0.1. */
export function connectTestClient(c: TestClientConnection): Promise<TestClient> {
  return new Promise((resolve, reject) => {
    const conn = new ssh2.Client();
    conn.once('ready', () => resolve(new TestClient(conn)));
    conn.once('error', (err) => reject(refused(`test client could not connect: ${err.message}`)));
    conn.connect({
      host: '127.0.0.1',
      port: c.port,
      username: c.username,
      privateKey: c.privateKey,
      hostVerifier: (key: Buffer) => key.equals(c.hostKey),
      readyTimeout: defaultWaitMs(),
    });
  });
}
