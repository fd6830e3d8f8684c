/**
 * The README's ten-line server (examples/minimal.ts, built) with the real OpenSSH client and a
 * throwaway account whose own ~/.ssh/authorized_keys admits the key.
 */
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import {
  ROOT,
  finished,
  makeKey,
  outputOf,
  recordings,
  requireTool,
  ssh,
  tempDir,
  until,
  waitForPort,
} from '../helpers/e2e.js';

const USER = `sshcast-r${Math.random().toString(36).slice(2, 7)}`;
let work = '';

afterAll(() => {
  try {
    execFileSync('userdel', ['-r', USER], { stdio: 'ignore' });
  } catch {
    /* not created */
  }
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

it('records a session of the README example, run as the account that logged in', async () => {
  for (const tool of ['ssh', 'ssh-keygen', 'useradd']) requireTool(tool);
  execFileSync('useradd', ['-m', '-s', '/bin/bash', USER]);
  const home = execFileSync('getent', ['passwd', USER], { encoding: 'utf8' }).split(':')[5]!;
  work = tempDir();
  const key = await makeKey(work);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(work, 'host_key')]);
  fs.mkdirSync(path.join(home, '.ssh'), { mode: 0o700 });
  fs.writeFileSync(path.join(home, '.ssh/authorized_keys'), key.pub + '\n', { mode: 0o600 });
  execFileSync('chown', ['-R', `${USER}:`, path.join(home, '.ssh')]);
  const port = await freePort();
  const server = spawn(process.execPath, [path.join(ROOT, 'dist/examples/minimal.js')], {
    cwd: work,
    env: { ...process.env, TS_DEBUG_LOG_SSH: '1', PORT: String(port) },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  try {
    await waitForPort(port);
    const r = await ssh(port, key.file, USER, 'whoami; exit 5');
    expect(r.stdout.toString()).toBe(`${USER}\n`);
    expect(r.code).toBe(5);
    const file = await until(() => recordings(path.join(work, 'recordings'))[0], 'the recording');
    const cast = await finished(file);
    expect(cast.header.localUser).toBe(USER);
    expect(outputOf(cast)).toBe(`${USER}\n`);
  } finally {
    server.kill();
  }
});
