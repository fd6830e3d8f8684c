/**
 * A real ssh2 server for tests: 127.0.0.1, a free port, a throwaway host key, recordings in a
 * fresh temporary directory, and a connected ssh2 client that waits on output, never on time.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import ssh2 from 'ssh2';
import { DEFAULT_SIZE } from '../asciicast/terminal.js';
import { generateEd25519KeyPair } from '../ssh/keys.js';
import type {
  ClientChannel,
  ClientInfo,
  Connection,
  ParsedKey,
  PseudoTtyOptions,
  Session,
} from 'ssh2';
import { Recorder, type RecorderOptions } from '../recording/recorder.js';
import type { Recording } from '../recording/recording.js';
import { currentAccount } from '../ssh/account.js';
import { hangUp, isClosed } from '../ssh/connection.js';
import type { Identity } from '../ssh/identity.js';
import { handleSession, type SessionOptions } from '../ssh/session.js';
import type { PtyOptions, TestChannel } from './test-channel.js';
import { DEFAULT_WAIT_MS, OutputChannel } from './terminal-output.js';

/** What a custom session handler of {@link startTestServer} gets besides the session. */
export interface TestSessionContext {
  /** Who the connection authenticated as. */
  identity: Identity;
  /** The server's recorder (into the temporary directory). */
  recorder: Recorder;
  /** The ssh2 server-side connection. */
  connection: Connection;
}

/** Options for {@link startTestServer}. */
export interface TestServerOptions {
  /**
   * Handles each session. Default: sshcast's `handleSession`, which runs real shells and commands
   * through node-pty as the current account, recorded.
   */
  session?: (session: Session, context: TestSessionContext) => void;
  /** More options for the default handler (`allowEnv`, `subsystems`, `onRecording`, `log`). */
  sessionOptions?: Omit<SessionOptions, 'identity' | 'recorder'>;
  /** Recorder options; `dir` is always the temporary directory. `enabled` defaults to true. */
  recorder?: Omit<RecorderOptions, 'dir'>;
  /**
   * Replaces the built-in key check, for example with sshcast's `authenticate` and an
   * authorized_keys file. Resolve the Identity, or undefined to refuse.
   */
  authenticate?: (connection: Connection, info: ClientInfo) => Promise<Identity | undefined>;
  /** Connect a client at once (`server.client`). Default true. */
  connect?: boolean;
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
  /** For `exec()`: give up after this many ms. Default 10000. */
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
        if (err) return reject(new Error(`shell request refused: ${err.message}`));
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
          if (err) return reject(new Error(`exec request refused: ${err.message}`));
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
    const exit = await ch.waitForExit({ timeout: options.timeout ?? DEFAULT_WAIT_MS });
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

/** A running test server; see {@link startTestServer}. */
export interface TestServer {
  /** Always `127.0.0.1`. */
  readonly host: string;
  /** The port it listens on (chosen by the system). */
  readonly port: number;
  /** The temporary directory holding everything; removed by `close()`. */
  readonly tmpDir: string;
  /** Where recordings go (inside `tmpDir`). */
  readonly dir: string;
  /** The login name the client uses: the current account. */
  readonly user: string;
  /** The server's recorder. */
  readonly recorder: Recorder;
  /** The client's private key file (OpenSSH format, 0600), for `ssh -i`. */
  readonly clientKeyFile: string;
  /** A known_hosts file naming this server's host key, for `ssh -o UserKnownHostsFile=`. */
  readonly knownHostsFile: string;
  /** A connected client (unless `connect: false`). */
  readonly client: TestClient;
  /** Connects another client with the test key (or `privateKey`), as `username` (default `user`). */
  connect(options?: { username?: string; privateKey?: string | Buffer }): Promise<TestClient>;
  /** The recording files so far, full paths, oldest first. */
  recordings(): string[];
  /**
   * Resolves with the recording files once at least `count` recordings have started and every
   * started one has finished (its `x` written and the file closed).
   */
  waitForRecordings(count?: number, options?: { timeout?: number }): Promise<string[]>;
  /** Ends every client and connection, stops the server, removes `tmpDir`. */
  close(): Promise<void>;
}

/**
 * Starts a real ssh2 server on 127.0.0.1 with a free port, a throwaway ed25519 host key, and
 * recording on into a fresh temporary directory. It accepts one generated client key for the
 * current account only, and only after verifying the client's signature. Sessions are served by
 * sshcast's `handleSession` (real shells as the current account) unless `session` is given.
 *
 * @example
 * const server = await startTestServer();
 * try {
 *   const { stdout, code } = await server.client.exec('echo hello');
 *   expect(stdout).toBe('hello\n');
 *   const [file] = await server.waitForRecordings(1);
 *   expect(file).toContainOutput('hello');
 * } finally {
 *   await server.close();
 * }
 */
export async function startTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  const tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sshcast-test-'));
  const dir = path.join(tmpDir, 'recordings');
  const account = await currentAccount();
  const hostKey = generateEd25519KeyPair();
  const clientKey = generateEd25519KeyPair();
  const clientPublic = parsed(clientKey.public);
  const hostPublic = parsed(hostKey.public);
  const clientKeyFile = path.join(tmpDir, 'id_ed25519');
  fs.writeFileSync(clientKeyFile, clientKey.private, { mode: 0o600 });
  const recorder = new Recorder({ enabled: true, log: () => {}, ...options.recorder, dir });
  recorder.check();

  const started = new Set<Recording>();
  const finished = new Set<Recording>();
  const progress = new Set<() => void>();
  const wake = () => {
    for (const f of [...progress]) f();
  };
  recorder.on('start', (rec) => {
    started.add(rec);
    rec.once('close', () => {
      finished.add(rec);
      wake();
    });
    wake();
  });

  const serverConnections = new Set<Connection>();
  const clients = new Set<TestClient>();

  const builtInAuth = (connection: Connection): Promise<Identity | undefined> =>
    new Promise((resolve) => {
      connection.on('authentication', (ctx) => {
        if (
          ctx.method === 'publickey' &&
          ctx.username === account.name &&
          ctx.key.algo === clientPublic.type &&
          ctx.key.data.equals(clientPublic.getPublicSSH())
        ) {
          if (!ctx.signature || !ctx.blob) return ctx.accept();
          if (clientPublic.verify(ctx.blob, ctx.signature, ctx.hashAlgo) === true) {
            resolve({ account, keyOptions: {} });
            return ctx.accept();
          }
        }
        ctx.reject(['publickey']);
      });
      connection.once('close', () => resolve(undefined));
    });

  const server = new ssh2.Server({ hostKeys: [hostKey.private] }, (connection, info) => {
    serverConnections.add(connection);
    connection.on('error', () => {});
    connection.once('close', () => serverConnections.delete(connection));
    const auth = options.authenticate
      ? options.authenticate(connection, info)
      : builtInAuth(connection);
    void auth.then((identity) => {
      if (!identity) return;
      connection.on('session', (accept) => {
        const session = accept?.();
        if (!session) return;
        const context: TestSessionContext = { identity, recorder, connection };
        if (options.session) options.session(session, context);
        else handleSession(session, { ...options.sessionOptions, identity, recorder });
      });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as { port: number }).port;
  const knownHostsFile = path.join(tmpDir, 'known_hosts');
  fs.writeFileSync(knownHostsFile, `[127.0.0.1]:${port} ${hostKey.public.trim()}\n`, {
    mode: 0o600,
  });

  const connect = (
    o: { username?: string; privateKey?: string | Buffer } = {},
  ): Promise<TestClient> =>
    new Promise((resolve, reject) => {
      const conn = new ssh2.Client();
      const client = new TestClient(conn);
      conn.once('ready', () => {
        clients.add(client);
        conn.once('close', () => clients.delete(client));
        resolve(client);
      });
      conn.once('error', (err) =>
        reject(new Error(`test client could not connect: ${err.message}`)),
      );
      conn.connect({
        host: '127.0.0.1',
        port,
        username: o.username ?? account.name,
        privateKey: o.privateKey ?? clientKey.private,
        hostVerifier: (key: Buffer) => key.equals(hostPublic.getPublicSSH()),
        readyTimeout: DEFAULT_WAIT_MS,
      });
    });

  const recordings = () =>
    fs
      .readdirSync(dir)
      .filter((f) => f.endsWith('.cast'))
      .sort()
      .map((f) => path.join(dir, f));

  let closed: Promise<void> | undefined;
  let client: TestClient | undefined;
  try {
    if (options.connect !== false) client = await connect();
  } catch (err) {
    server.close();
    fs.rmSync(tmpDir, { recursive: true, force: true });
    throw err;
  }

  return {
    host: '127.0.0.1',
    port,
    tmpDir,
    dir,
    user: account.name,
    recorder,
    clientKeyFile,
    knownHostsFile,
    get client(): TestClient {
      if (!client) throw new Error('startTestServer: no client (connect: false); use connect()');
      return client;
    },
    connect,
    recordings,
    waitForRecordings(count = 1, o = {}) {
      const ms = o.timeout ?? DEFAULT_WAIT_MS;
      return new Promise((resolve, reject) => {
        const check = () => {
          if (started.size >= count && finished.size === started.size) {
            progress.delete(check);
            clearTimeout(timer);
            resolve(recordings());
            return;
          }
        };
        const timer = setTimeout(() => {
          progress.delete(check);
          reject(
            new Error(
              `waitForRecordings(${count}): ${started.size} started, ${finished.size} finished after ${ms} ms`,
            ),
          );
        }, ms);
        progress.add(check);
        check();
      });
    },
    close() {
      closed ??= (async () => {
        await Promise.all([...clients].map((c) => c.end()));
        for (const c of serverConnections) hangUp(c, { graceMs: 0 });
        await new Promise<void>((resolve) => server.close(() => resolve()));
        await recorder.close();
        fs.rmSync(tmpDir, { recursive: true, force: true });
      })();
      return closed;
    },
  };
}

function parsed(key: string): ParsedKey {
  const k = ssh2.utils.parseKey(key);
  if (k instanceof Error) throw k;
  return Array.isArray(k) ? k[0]! : k;
}
