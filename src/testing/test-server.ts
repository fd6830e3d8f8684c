/**
 * A real ssh2 server for tests: 127.0.0.1, a free port, a throwaway host key, recordings in a
 * fresh temporary directory, and a connected ssh2 client that waits on output, never on time.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import ssh2 from 'ssh2';
import type { ClientInfo, Connection, ParsedKey, Session } from 'ssh2';
import { Recorder, type RecorderOptions } from '../recording/recorder.js';
import type { Recording } from '../recording/recording.js';
import { currentAccount, type Account } from '../ssh/account.js';
import { hangUp } from '../ssh/connection.js';
import type { Identity } from '../ssh/identity.js';
import { generateEd25519KeyPair } from '../ssh/keys.js';
import { handleSession, type SessionOptions } from '../ssh/session.js';
import { connectTestClient, type TestClient } from './test-client.js';
import { defaultWaitMs } from './terminal-output.js';
import { RecordingWatch } from './recording-watch.js';
import { SshcastError } from '../errors.js';

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

/** Lets in only `account` with the one public key `key`, once its signature is verified. */
function keyCheck(account: Account, key: ParsedKey) {
  return (connection: Connection): Promise<Identity | undefined> =>
    new Promise((resolve) => {
      connection.on('authentication', (ctx) => {
        if (
          ctx.method === 'publickey' &&
          ctx.username === account.name &&
          ctx.key.algo === key.type &&
          ctx.key.data.equals(key.getPublicSSH())
        ) {
          if (!ctx.signature || !ctx.blob) return ctx.accept();
          if (key.verify(ctx.blob, ctx.signature, ctx.hashAlgo) === true) {
            resolve({ account, keyOptions: {} });
            return ctx.accept();
          }
        }
        ctx.reject(['publickey']);
      });
      connection.once('close', () => resolve(undefined));
    });
}

/** Listens on 127.0.0.1 and a free port; resolves with the port. */
function listen(server: ssh2.Server): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve((server.address() as { port: number }).port);
    });
  });
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
  const clientKeyFile = path.join(tmpDir, 'id_ed25519');
  fs.writeFileSync(clientKeyFile, clientKey.private, { mode: 0o600 });
  const recorder = new Recorder({ enabled: true, log: () => {}, ...options.recorder, dir });
  recorder.check();
  const watch = new RecordingWatch(recorder);

  const serverConnections = new Set<Connection>();
  const clients = new Set<TestClient>();
  const authenticate = options.authenticate ?? keyCheck(account, parsed(clientKey.public));
  const server = new ssh2.Server({ hostKeys: [hostKey.private] }, (connection, info) => {
    serverConnections.add(connection);
    connection.on('error', () => {});
    connection.once('close', () => serverConnections.delete(connection));
    void authenticate(connection, info).then((identity) => {
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
  const port = await listen(server);
  const knownHostsFile = path.join(tmpDir, 'known_hosts');
  fs.writeFileSync(knownHostsFile, `[127.0.0.1]:${port} ${hostKey.public.trim()}\n`, {
    mode: 0o600,
  });

  const connect = async (
    o: { username?: string; privateKey?: string | Buffer } = {},
  ): Promise<TestClient> => {
    const client = await connectTestClient({
      port,
      username: o.username ?? account.name,
      privateKey: o.privateKey ?? clientKey.private,
      hostKey: parsed(hostKey.public).getPublicSSH(),
    });
    clients.add(client);
    client.connection.once('close', () => clients.delete(client));
    return client;
  };

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
      if (!client)
        throw new SshcastError(
          'ERR_INVALID_STATE',
          'startTestServer: no client (connect: false); use connect()',
        );
      return client;
    },
    connect,
    recordings,
    async waitForRecordings(count = 1, o = {}) {
      await watch.wait(count, o.timeout ?? defaultWaitMs());
      return recordings();
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
