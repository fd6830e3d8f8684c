import { execFile } from 'node:child_process';
import fs from 'node:fs';
import type { Session } from 'ssh2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCast } from '../../src/testing/cast.js';
import { startTestServer, type TestServer } from '../../src/testing/test-server.js';
import '../../src/testing/vitest.js';

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
      const { default: ssh2 } = await import('ssh2');
      const other = ssh2.utils.generateKeyPairSync('ed25519');
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
