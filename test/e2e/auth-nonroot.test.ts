// The example server run by an ordinary account (a throwaway one made here): it says it serves only
// that account, and refuses root even with a key its --authorized-keys file lists.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { makeKey, requireTool, serverJsForOthers, ssh, tempDir } from '../helpers/e2e.js';
import { lookupAccount, type Account } from '../../src/ssh/account.js';

const name = `shc-nr-${process.pid}`;
let account: Account;
let dir: string;
let key: { file: string; pub: string };
let child: ChildProcess;
let output = '';
let port = 0;
let reach: ReturnType<typeof serverJsForOthers> | undefined;

beforeAll(async () => {
  requireTool('ssh');
  requireTool('setpriv');
  if (process.getuid!() !== 0) throw new Error('this test needs root (useradd, setpriv)');
  execFileSync('useradd', ['-m', '-s', '/bin/sh', name]);
  account = (await lookupAccount(name))!;
  dir = tempDir('nonroot-');
  key = await makeKey(dir, 'k');
  // The server's own files live in its home: owned by it, as they would be.
  const keysFile = path.join(account.home, 'keys');
  fs.writeFileSync(keysFile, `${key.pub}\n`, { mode: 0o600 });
  fs.chownSync(keysFile, account.uid, account.gid);
  reach = serverJsForOthers();
  child = spawn(
    'setpriv',
    [
      `--reuid=${account.uid}`,
      `--regid=${account.gid}`,
      '--init-groups',
      '--',
      process.execPath,
      reach.serverJs,
      '--host',
      '127.0.0.1',
      '--port',
      '0',
      '--host-key',
      path.join(account.home, 'host_key'),
      '--authorized-keys',
      keysFile,
    ],
    { cwd: account.home, stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH } },
  );
  await new Promise<void>((resolve, reject) => {
    const onData = (d: Buffer) => {
      output += d.toString();
      const m = /listening on 127\.0\.0\.1:(\d+)/.exec(output);
      if (m) {
        port = Number(m[1]);
        resolve();
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', () => reject(new Error(`server exited:\n${output}`)));
  });
});

afterAll(async () => {
  if (child && child.exitCode === null) {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  }
  reach?.release();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
  execFileSync('userdel', ['-r', name], { stdio: 'ignore' });
});

describe('a server not running as root', () => {
  it('says at start that it serves only its own account', () => {
    expect(output).toContain(`only this server's own account (uid ${account.uid})`);
  });

  it('lets its own account in', async () => {
    const r = await ssh(port, key.file, name, 'id -un');
    expect(r.stdout.toString()).toBe(`${name}\n`);
    expect(r.code).toBe(0);
  });

  it('refuses root, even with a key its key file lists', async () => {
    const r = await ssh(port, key.file, 'root', 'id -un');
    expect(r.stdout.toString()).toBe('');
    expect(r.stderr).toMatch(/Permission denied \(publickey\)/);
    expect(output).toMatch(
      /account "root" refused: a server not running as root serves only its own account/,
    );
  });
});
