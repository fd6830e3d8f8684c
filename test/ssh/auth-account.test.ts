// Authentication against real accounts and their own ~/.ssh/authorized_keys: a throwaway account
// made for this test (useradd), removed afterwards (userdel -r).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { AuthContext, ClientInfo, Connection } from 'ssh2';
import { authenticate } from '../../src/ssh/auth.js';
import { lookupAccount, type Account } from '../../src/ssh/account.js';
import { parseAuthorizedKeys } from '../../src/ssh/authorized-keys.js';
import type { Identity } from '../../src/ssh/identity.js';
import { newKey, startServer, tryLogin, type TestServer } from './auth-harness.js';

const name = `shc-auth-${process.pid}`;
const key = newKey('throwaway');
let account: Account;
let keysFile: string;
const logs: string[] = [];

beforeAll(async () => {
  if (process.getuid!() !== 0) throw new Error('this test needs root (useradd)');
  execFileSync('useradd', ['-m', '-s', '/bin/sh', name]);
  account = (await lookupAccount(name))!;
  const dotSsh = path.join(account.home, '.ssh');
  mkdirSync(dotSsh, { mode: 0o700 });
  keysFile = path.join(dotSsh, 'authorized_keys');
  writeFileSync(keysFile, `${key.line}\n`, { mode: 0o600 });
  chownSync(dotSsh, account.uid, account.gid);
  chownSync(keysFile, account.uid, account.gid);
  chmodSync(account.home, 0o755);
});
afterAll(() => {
  execFileSync('userdel', ['-r', name], { stdio: 'ignore' });
});

const ours = (client: Connection, info: ClientInfo) =>
  authenticate(client, info, { log: (m) => logs.push(m) });

// A "key to user" shortcut: any login name is let in if its key is in some account's file.
const naive = (client: Connection) =>
  new Promise<Identity | undefined>((resolve) => {
    client.on('authentication', async (ctx: AuthContext) => {
      if (ctx.method !== 'publickey') return ctx.reject(['publickey']);
      const keys = parseAuthorizedKeys(readFileSync(keysFile, 'utf8'));
      const found = keys.find((k) => k.blob.equals(ctx.key.data));
      const who = await lookupAccount(ctx.username);
      if (
        !found ||
        !who ||
        (ctx.signature && !found.key.verify(ctx.blob!, ctx.signature, ctx.hashAlgo))
      )
        return ctx.reject(['publickey']);
      ctx.accept();
      if (ctx.signature) resolve({ account: who, keyOptions: found.options });
    });
    client.on('close', () => resolve(undefined));
  });

describe('per-account authorized_keys', () => {
  let server: TestServer;
  let naiveServer: TestServer;
  beforeAll(async () => {
    server = await startServer(ours);
    naiveServer = await startServer(naive);
  });
  afterAll(async () => {
    await server.close();
    await naiveServer.close();
  });

  it('lets the account in with a key from its own file', async () => {
    expect((await tryLogin(server.port, { username: name, privateKey: key.private })).result).toBe(
      'ready',
    );
    expect(server.results.at(-1)?.account).toEqual(account);
  });

  it('a key only the throwaway account authorizes cannot log in as root', async () => {
    const attack = await tryLogin(naiveServer.port, { username: 'root', privateKey: key.private });
    expect(attack.result).toBe('ready');
    expect(naiveServer.results.at(-1)?.account.name).toBe('root');

    const o = await tryLogin(server.port, { username: 'root', privateKey: key.private });
    expect(o.result).toBe('refused');
  });

  it('refuses the file when the home directory is writable by others (StrictModes)', async () => {
    const mode = statSync(account.home).mode & 0o7777;
    chmodSync(account.home, 0o777);
    try {
      const o = await tryLogin(server.port, { username: name, privateKey: key.private });
      expect(o.result).toBe('refused');
      expect(logs.some((l) => l.includes(`bad modes for directory ${account.home}`))).toBe(true);
    } finally {
      chmodSync(account.home, mode);
    }
  });

  it('refuses the file when another user owns it, or others can write it', async () => {
    // Readable by the account (the file is read as the account), but another user's.
    chownSync(keysFile, 65534, 65534);
    chmodSync(keysFile, 0o644);
    try {
      const o = await tryLogin(server.port, { username: name, privateKey: key.private });
      expect(o.result).toBe('refused');
      expect(logs.some((l) => l.includes(`bad ownership of ${keysFile}`))).toBe(true);
    } finally {
      chownSync(keysFile, account.uid, account.gid);
      chmodSync(keysFile, 0o600);
    }
    chmodSync(keysFile, 0o646);
    try {
      const o = await tryLogin(server.port, { username: name, privateKey: key.private });
      expect(o.result).toBe('refused');
    } finally {
      chmodSync(keysFile, 0o600);
    }
    expect((await tryLogin(server.port, { username: name, privateKey: key.private })).result).toBe(
      'ready',
    );
  });
});
