// Authentication end to end: the real OpenSSH client against the built example server.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import {
  execFileP,
  makeKey,
  requireTool,
  ssh,
  startExampleServer,
  tempDir,
  type ExampleServer,
} from '../helpers/e2e.js';

let dir: string;

async function makeKeyOfType(d: string, name: string, args: string[]) {
  const file = path.join(d, name);
  await execFileP('ssh-keygen', ['-q', ...args, '-N', '', '-C', name, '-f', file]);
  return { file, pub: fs.readFileSync(`${file}.pub`, 'utf8').trim() };
}
let server: ExampleServer;
const keys: Record<string, { file: string; pub: string }> = {};

beforeAll(async () => {
  requireTool('ssh');
  requireTool('ssh-keygen');
  dir = tempDir('auth-');
  keys.rsa = await makeKeyOfType(dir, 'rsa', ['-t', 'rsa', '-b', '2048']);
  for (const name of [
    'good',
    'wrong',
    'forced',
    'orig',
    'unknownopt',
    'w1',
    'w2',
    'w3',
    'w4',
    'w5',
    'w6',
  ])
    keys[name] = await makeKey(dir, name);
  const authorizedKeys = path.join(dir, 'authorized_keys');
  fs.writeFileSync(
    authorizedKeys,
    [
      '# written by the test',
      keys.good!.pub,
      keys.rsa!.pub,
      `command="echo forced-by-key",no-pty ${keys.forced!.pub}`,
      `frobnicate ${keys.unknownopt!.pub}`,
      `restrict,command="echo \\"orig=$SSH_ORIGINAL_COMMAND\\"" ${keys.orig!.pub}`,
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  server = await startExampleServer({
    args: ['--authorized-keys', authorizedKeys, '--dir', path.join(dir, 'rec')],
    env: { TS_DEBUG_LOG_SSH: undefined },
  });
});
afterAll(async () => {
  await server?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe('the example server with the real ssh client', () => {
  it('says at start whom it lets in', () => {
    expect(server.output()).toMatch(
      /authentication: public key only, any local account, keys from /,
    );
  });

  it('lets in a good key', async () => {
    const r = await ssh(server.port, keys.good!.file, 'root', 'echo hello from $(id -un)');
    expect(r.stderr).toBe('');
    expect(r.stdout.toString()).toBe('hello from root\n');
    expect(r.code).toBe(0);
  });

  it('takes RSA keys with SHA-2 signatures and refuses SHA-1 ones, as OpenSSH 8.8+ does', async () => {
    const sha2 = await ssh(server.port, keys.rsa!.file, 'root', 'echo rsa');
    expect(sha2.stdout.toString()).toBe('rsa\n');
    const sha1 = await ssh(server.port, keys.rsa!.file, 'root', 'echo rsa', {
      pre: ['-o', 'PubkeyAcceptedAlgorithms=ssh-rsa'],
    });
    expect(sha1.stderr).toMatch(/Permission denied \(publickey\)/);
    await server.waitFor('ssh-rsa (SHA-1) signature refused');
  });

  it('refuses a wrong key', async () => {
    const r = await ssh(server.port, keys.wrong!.file, 'root', 'echo in');
    expect(r.stdout.toString()).toBe('');
    expect(r.stderr).toMatch(/Permission denied \(publickey\)/);
    expect(r.code).toBe(255);
  });

  it('refuses a numeric login name', async () => {
    const r = await ssh(server.port, keys.good!.file, '0', 'echo in');
    expect(r.stderr).toMatch(/Permission denied \(publickey\)/);
    expect(r.code).toBe(255);
  });

  it('runs the forced command of a command= key and refuses it a pty', async () => {
    const r = await ssh(server.port, keys.forced!.file, 'root', 'echo asked-for');
    expect(r.stdout.toString()).toBe('forced-by-key\n');
    expect(r.code).toBe(0);
    const tty = await ssh(server.port, keys.forced!.file, 'root', undefined, { pre: ['-tt'] });
    // OpenSSH's client gives up when a pty it was told to force (-tt) is refused, as with sshd.
    expect(tty.stderr).toMatch(/PTY allocation request failed/);
    expect(tty.code).toBe(255);
  });

  it("gives a forced command the client's command as SSH_ORIGINAL_COMMAND", async () => {
    const r = await ssh(server.port, keys.orig!.file, 'root', 'ls -l /');
    expect(r.stdout.toString()).toBe('orig=ls -l /\n');
  });

  it('skips a key line with an unknown option, and says so', async () => {
    const r = await ssh(server.port, keys.unknownopt!.file, 'root', 'echo in');
    expect(r.code).toBe(255);
    expect(server.output()).toMatch(
      /authorized_keys:5: key skipped: unsupported option "frobnicate"/,
    );
  });

  it('disconnects after 6 failed keys (sshd MaxAuthTries)', async () => {
    const wrong = ['w1', 'w2', 'w3', 'w4', 'w5', 'w6'].flatMap((k) => ['-i', keys[k]!.file]);
    const r = await ssh(server.port, keys.wrong!.file, 'root', 'echo in', { pre: wrong });
    expect(r.code).toBe(255);
    expect(r.stdout.toString()).toBe('');
    await server.waitFor('too many authentication failures (6)');
  });
});
