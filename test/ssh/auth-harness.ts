// In-process ssh2 server and client on 127.0.0.1 for the authentication tests.
import { mkdtempSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import ssh2 from 'ssh2';
import type { ClientInfo, Connection, ConnectConfig, ParsedKey } from 'ssh2';
import type { Identity } from '../../src/ssh/identity.js';

/**
 * ssh2's generateKeyPairSync('ed25519') writes about 1 key in 250 that ssh2 itself cannot parse
 * ("Malformed OpenSSH private key": a public key starting with a zero byte comes out 31 bytes
 * long). Generate until the pair parses.
 */
function generate(comment: string): { private: string; public: string } {
  for (let i = 0; i < 20; i++) {
    const k = ssh2.utils.generateKeyPairSync('ed25519', { comment });
    if (!(ssh2.utils.parseKey(k.private) instanceof Error)) return k;
  }
  throw new Error('ssh2 generated 20 unparseable keys in a row');
}

export const hostKey = generate('host').private;

/** A fresh ed25519 key pair: private PEM/OpenSSH text and the authorized_keys line. */
export function newKey(comment = 'test'): { private: string; line: string; parsed: ParsedKey } {
  const k = generate(comment);
  const parsed = ssh2.utils.parseKey(k.public) as ParsedKey;
  return { private: k.private, line: k.public.trim(), parsed };
}

/**
 * A private directory under the home directory: sshd-style checks refuse anything below a
 * world-writable directory such as /tmp, as sshd does.
 */
export function safeTempDir(): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(path.join(os.homedir(), '.sshcast-test-'));
  chmodSync(dir, 0o700);
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export function writeKeys(file: string, text: string, mode = 0o600): string {
  writeFileSync(file, text, { mode });
  chmodSync(file, mode);
  return file;
}

export type Authenticator = (client: Connection, info: ClientInfo) => Promise<Identity | undefined>;

export interface TestServer {
  port: number;
  /** What authenticate resolved for each connection, in order of completion. */
  results: (Identity | undefined)[];
  close: () => Promise<void>;
}

/** Starts an ssh2 server whose connections are authenticated by `auth`; no channels. */
export async function startServer(auth: Authenticator): Promise<TestServer> {
  const results: (Identity | undefined)[] = [];
  const server = new ssh2.Server({ hostKeys: [hostKey] }, (client, info) => {
    client.on('error', () => {});
    void auth(client, info).then((id) => results.push(id));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    results,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

export interface Outcome {
  /** 'ready': authenticated; 'refused': all methods failed; 'closed': the server hung up. */
  result: 'ready' | 'refused' | 'closed';
  /** The methods the server listed at each failure the client saw. */
  failures: string[][];
  error?: string;
}

/** Connects, tries to authenticate, and reports what the client saw; always disconnects. */
export function tryLogin(port: number, config: Partial<ConnectConfig>): Promise<Outcome> {
  return new Promise((resolve) => {
    const client = new ssh2.Client();
    const failures: string[][] = [];
    let settled = false;
    const settle = (o: Outcome) => {
      if (settled) return;
      settled = true;
      client.end();
      resolve(o);
    };
    const userHandler = config.authHandler;
    const authHandler: ConnectConfig['authHandler'] =
      typeof userHandler === 'function'
        ? (methodsLeft, partial, next) => {
            if (methodsLeft) failures.push([...methodsLeft]);
            return userHandler(methodsLeft, partial, next);
          }
        : userHandler;
    client
      .on('ready', () => settle({ result: 'ready', failures }))
      .on('error', (err) => {
        const refused = /authentication methods failed/i.test(err.message);
        settle({ result: refused ? 'refused' : 'closed', failures, error: err.message });
      })
      .on('close', () => settle({ result: 'closed', failures }))
      .connect({
        host: '127.0.0.1',
        port,
        readyTimeout: 20_000,
        ...config,
        ...(authHandler ? { authHandler } : {}),
      });
  });
}

/**
 * An agent that holds only a public key: it offers the key, and "signs" with garbage. This is
 * all an attacker who copied someone's authorized_keys line can do.
 */
export class ForgingAgent extends ssh2.BaseAgent<ParsedKey> {
  signCalls = 0;
  constructor(private readonly key: ParsedKey) {
    super();
  }
  getIdentities(cb: (err: Error | undefined, keys?: ParsedKey[]) => void): void {
    cb(undefined, [this.key]);
  }
  sign(
    _pub: ParsedKey,
    _data: Buffer,
    options: unknown,
    cb?: (err: Error | undefined, sig?: Buffer) => void,
  ): void {
    const done = (typeof options === 'function' ? options : cb) as (
      e: Error | undefined,
      s?: Buffer,
    ) => void;
    this.signCalls++;
    done(undefined, Buffer.alloc(64, 0x41));
  }
}
