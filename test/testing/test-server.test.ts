import { execFile } from 'node:child_process';
import fs from 'node:fs';
import ssh2 from 'ssh2';
import type { Connection, ParsedKey, Session } from 'ssh2';
import { currentAccount } from '../../src/ssh/account.js';
import type { Identity } from '../../src/ssh/identity.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCast } from '../../src/testing/cast.js';
import { startTestServer, type TestServer } from '../../src/testing/test-server.js';
import '../../src/testing/vitest.js';
import { generateEd25519KeyPair } from '../../src/ssh/keys.js';

describe('startTestServer with sshcast sessions (real shells through node-pty)', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(async () => {
    const dir = server.tmpDir;
    await server.close();
    expect(fs.existsSync(dir)).toBe(false);
  });

  it('runs a command and records it', async () => {
    const result = await server.client.exec('echo hello; echo oops >&2; exit 3');
    expect(result).toEqual({ stdout: 'hello\n', stderr: 'oops\n', code: 3 });
    const files = await server.waitForRecordings(1);
    expect(files).toHaveLength(1);
    const cast = loadCast(files[0]!);
    expect(cast.header.command).toBe('echo hello; echo oops >&2; exit 3');
    expect(cast.header.localUser).toBe(server.user);
    expect(cast).toContainOutput('hello');
    expect(cast).toHaveExitCode(3);
    expect(files[0]).toBeValidCast();
  });

  it('drives an interactive shell: type, resize, wait for output, exit', async () => {
    const sh = await server.client.shell({ cols: 70, rows: 20 });
    sh.type('stty size; echo "marker-$((6*7))"\n');
    await sh.waitForOutput('marker-42');
    sh.resize(100, 30);
    sh.type('stty size\n');
    await sh.waitForOutput('30 100');
    sh.type('exit 5\n');
    expect(await sh.waitForExit()).toEqual({ code: 5 });
    const files = await server.waitForRecordings(2);
    const cast = loadCast(files.at(-1)!);
    expect(cast.header).toMatchObject({ width: 70, height: 20 });
    expect(cast.resizes.map((r) => `${r.cols}x${r.rows}`)).toEqual(['100x30']);
    expect(cast).toContainOutput('marker-42');
    expect(cast).toHaveExitCode(5);
    await expect(cast).toHaveScreenText('30 100');
  });

  it('lets OpenSSH connect with the client key and known_hosts file', async () => {
    const args = [
      '-i',
      server.clientKeyFile,
      '-o',
      `UserKnownHostsFile=${server.knownHostsFile}`,
      '-o',
      'StrictHostKeyChecking=yes',
      '-o',
      'BatchMode=yes',
      '-o',
      'IdentitiesOnly=yes',
      '-p',
      String(server.port),
      `${server.user}@127.0.0.1`,
      'echo from-openssh',
    ];
    const stdout = await new Promise<string>((resolve, reject) =>
      execFile('ssh', args, { timeout: 20_000 }, (err, out, errOut) =>
        err ? reject(new Error(`${err.message}\n${errOut}`)) : resolve(out),
      ),
    );
    expect(stdout).toBe('from-openssh\n');
  });
});

describe('startTestServer with a custom session handler', () => {
  it('serves the host handler, recorded through the Recording API', async () => {
    const server = await startTestServer({
      session: (session: Session, { recorder, identity }) => {
        session.on('exec', (accept, _reject, info) => {
          const ch = accept();
          const rec = recorder.start({ command: info.command, localUser: identity.account.name });
          const text = `you said: ${info.command}\n`;
          rec.output(text);
          ch.write(text);
          void rec.finish(0).then(() => {
            ch.exit(0);
            ch.end();
          });
        });
      },
    });
    try {
      expect(await server.client.exec('ping')).toEqual({
        stdout: 'you said: ping\n',
        stderr: '',
        code: 0,
      });
      const [file] = await server.waitForRecordings(1);
      expect(file).toContainOutput('you said: ping');
      expect(file).toHaveExitCode(0);
    } finally {
      await server.close();
    }
  });

  it('refuses a key it did not generate, and a wrong user name', async () => {
    const server = await startTestServer({ connect: false, session: () => {} });
    try {
      const other = generateEd25519KeyPair();
      await expect(server.connect({ privateKey: other.private })).rejects.toThrow(
        /authentication methods failed/,
      );
      await expect(server.connect({ username: 'no-such-user-x' })).rejects.toThrow(
        /authentication methods failed/,
      );
      const ok = await server.connect();
      await ok.end();
    } finally {
      await server.close();
    }
  });
});

/** An agent that offers the test key but signs with another key: a client with only the public key. */
class ForgingAgent extends ssh2.BaseAgent<ParsedKey> {
  constructor(
    private readonly offered: ParsedKey,
    private readonly signer: ParsedKey,
  ) {
    super();
  }
  getIdentities(cb: (err: Error | undefined, keys?: ParsedKey[]) => void): void {
    cb(undefined, [this.offered]);
  }
  sign(
    _key: ParsedKey,
    data: Buffer,
    _options: unknown,
    cb?: (err: Error | undefined, sig?: Buffer) => void,
  ): void {
    cb?.(undefined, this.signer.sign(data));
  }
}

function parseKey(text: string | Buffer): ParsedKey {
  const k = ssh2.utils.parseKey(text);
  if (k instanceof Error) throw k;
  return Array.isArray(k) ? k[0]! : k;
}

function connectWithAgent(
  server: { port: number; user: string },
  agent: ssh2.BaseAgent,
): Promise<string> {
  return new Promise((resolve) => {
    const c = new ssh2.Client();
    c.once('ready', () => {
      c.end();
      resolve('logged in');
    });
    c.once('error', (err) => resolve(`refused: ${err.message}`));
    c.connect({
      host: '127.0.0.1',
      port: server.port,
      username: server.user,
      agent,
      hostVerifier: () => true,
    });
  });
}

describe('the test server verifies the client signature', () => {
  it('a client holding only the public key gets in against a naive check, not against ours', async () => {
    const account = await currentAccount();
    const naive = await startTestServer({
      connect: false,
      session: () => {},
      // Accepts on a matching public key without checking the signature.
      authenticate: (conn: Connection) =>
        new Promise<Identity | undefined>((resolve) => {
          conn.on('authentication', (ctx) => {
            if (ctx.method === 'publickey') {
              resolve({ account, keyOptions: {} });
              return ctx.accept();
            }
            ctx.reject(['publickey']);
          });
        }),
    });
    const ours = await startTestServer({ connect: false, session: () => {} });
    try {
      const stranger = parseKey(generateEd25519KeyPair().private);
      for (const server of [naive, ours]) {
        const offered = parseKey(fs.readFileSync(server.clientKeyFile));
        const forged = new ForgingAgent(offered, stranger);
        const outcome = await connectWithAgent(server, forged);
        if (server === naive) expect(outcome).toBe('logged in');
        else expect(outcome).toMatch(/^refused: All configured authentication methods failed/);
      }
    } finally {
      await naive.close();
      await ours.close();
    }
  });
});

describe('the test client against sshcast sessions', () => {
  it('forwards a signal and reports how the command ended', async () => {
    const server = await startTestServer();
    try {
      const ch = await server.client.start('echo ready; exec sleep 30');
      await ch.waitForOutput('ready');
      ch.signal('TERM');
      expect(await ch.waitForExit()).toEqual({ code: null, signal: 'TERM' });
      const [file] = await server.waitForRecordings(1);
      expect(file).toHaveExitCode(143);
    } finally {
      await server.close();
    }
  });

  it('waitForRecordings fails with counts when a recording never finishes', async () => {
    const server = await startTestServer();
    try {
      const sh = await server.client.shell();
      await sh.waitForOutput(/[$#] $/);
      await expect(server.waitForRecordings(1, { timeout: 100 })).rejects.toThrow(
        'waitForRecordings(1): 1 started, 0 finished after 100 ms',
      );
    } finally {
      await server.close();
    }
  });
});
