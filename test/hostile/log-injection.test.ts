/**
 * Issue 13, attack 5: a user's own authorized_keys writes raw control bytes into the server's
 * log. Its `from="\e]0;PWNED\a\e[2K\rauth: 127.0.0.1:1: accepted ssh-ed25519 key for root,…"`
 * (and `environment=`, `expiry-time=`, unknown options, comments), a hostile login name and a
 * hostile client version line, against the built example server as root with a throwaway
 * account. The admin's terminal is played by @xterm/headless: the log as it was written (raw)
 * sets its title and shows a forged "accepted … for root" line of its own; the server's real log
 * has no control byte at all, and on a terminal it is the lines it was, titled as before.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import ssh2 from 'ssh2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BoundedTerminal } from '../../src/render/terminal.js';
import {
  makeKey,
  requireTool,
  ssh,
  startExampleServer,
  tempDir,
  type ExampleServer,
} from '../helpers/e2e.js';

const E = '\u001b';
const FORGED = `${E}]0;PWNED\u0007${E}[2K\rauth: 127.0.0.1:1: accepted ssh-ed25519 key for root`;
const FROM = `${FORGED},10.9.9.9`;
const ACCOUNT = `sshcl${randomBytes(4).toString('hex')}`;
// Every C0 control but LF, DEL and C1: none may reach the log.
const RAW_CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/;

let work: string;
let server: ExampleServer;
const keys: Record<string, { file: string; pub: string }> = {};

beforeAll(async () => {
  for (const tool of ['ssh', 'ssh-keygen', 'useradd', 'userdel']) requireTool(tool);
  if (process.getuid?.() !== 0) throw new Error('this test needs root (useradd, any account)');
  work = tempDir('loginj-');
  fs.chmodSync(work, 0o755);
  const home = path.join(work, 'home');
  execFileSync('useradd', ['-m', '-d', home, '-s', '/bin/sh', ACCOUNT]);
  for (const name of ['from', 'env', 'expiry', 'unknown', 'good'])
    keys[name] = await makeKey(work, name);
  // The user's own file, written as the user could: every value chosen by them.
  const lines = [
    `from="${FROM}" ${keys.from!.pub}`,
    `environment="${E}]0;ENV\u0007=1" ${keys.env!.pub}`,
    `expiry-time="${E}[2K\r20990101" ${keys.expiry!.pub}`,
    `${E}]0;OPT\u0007 ${keys.unknown!.pub}`,
    `${keys.good!.pub.replace(/\S+$/, `good${E}]0;COMMENT\u0007${E}[2K\r`)}`,
  ];
  const sshDir = path.join(home, '.ssh');
  fs.mkdirSync(sshDir, { mode: 0o700 });
  fs.writeFileSync(path.join(sshDir, 'authorized_keys'), lines.join('\n') + '\n', { mode: 0o600 });
  execFileSync('chown', ['-R', `${ACCOUNT}:`, sshDir]);
  server = await startExampleServer({
    args: ['--host-key', path.join(work, 'host_key')],
    env: { TS_DEBUG_LOG_SSH: undefined },
  });
}, 60_000);

afterAll(async () => {
  await server?.stop();
  try {
    execFileSync('userdel', ['-r', ACCOUNT], { stdio: 'ignore' });
  } catch {
    // not created
  }
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

/** What an admin's terminal shows for `text` written to it (LF as a terminal's onlcr makes it). */
async function onTerminal(text: string): Promise<{ lines: string[]; title: string }> {
  const term = new BoundedTerminal({ cols: 400, rows: 1000 });
  let title = 'admin@host';
  term.term.onTitleChange((t) => (title = t));
  await term.write(text.replace(/\n/g, '\r\n'));
  const { lines } = term.screen();
  term.dispose();
  return { lines: lines.filter((l) => l !== ''), title };
}

function ssh2Login(username: string, privateKey: Buffer): Promise<string> {
  return new Promise((resolve) => {
    const c = new ssh2.Client();
    c.on('ready', () => {
      c.end();
      resolve('in');
    });
    c.on('error', (err) => resolve(`refused: ${err.message}`));
    c.connect({ host: '127.0.0.1', port: server.port, username, privateKey, readyTimeout: 10_000 });
  });
}

function hostileVersionLine(): Promise<void> {
  return new Promise((resolve) => {
    const s = net.connect(server.port, '127.0.0.1', () => {
      s.write(`SSH-2.0-${E}]0;VERSION\u0007${E}[2K\r\r\n`);
      s.write(randomBytes(64));
    });
    s.on('error', () => {});
    s.on('close', () => resolve());
    setTimeout(() => s.destroy(), 2000);
  });
}

describe("a user's authorized_keys and a client's text in the server's log", () => {
  it('raw, the from= line retitles the terminal and prints a forged "accepted … for root" line', async () => {
    // The line today's code wrote for that key, as it wrote it (the naive logger: no escaping).
    const naive = `auth: 127.0.0.1:40000: key at line 1 not allowed from this address (from="${FROM}")\n`;
    const shown = await onTerminal(naive);
    expect(shown.title).toBe('PWNED');
    expect(shown.lines[0]).toMatch(/^auth: 127\.0\.0\.1:1: accepted ssh-ed25519 key for root/);
    expect(shown.lines.join('\n')).not.toContain('not allowed from this address');
  });

  it('through sshcast: no control byte in anything logged, each value shown as escapes', async () => {
    // Each key is tried as the account with the real OpenSSH client; only `good` gets in.
    for (const name of ['from', 'env', 'expiry', 'unknown']) {
      const r = await ssh(server.port, keys[name]!.file, ACCOUNT, 'true');
      expect(r.code, name).toBe(255);
    }
    const good = await ssh(server.port, keys.good!.file, ACCOUNT, 'exit 3');
    expect(good.code).toBe(3);
    // A login name and a version line chosen by the client.
    expect(
      await ssh2Login(
        `${E}]0;USER\u0007${E}[2K\rauth: x: accepted`,
        fs.readFileSync(keys.good!.file),
      ),
    ).toMatch(/^refused/);
    await hostileVersionLine();
    await server.waitFor(/accepted ssh-ed25519 key .*good/);
    await server.waitFor('no account');

    const log = server.output();
    expect(log).not.toMatch(RAW_CONTROL);
    expect(log).toContain(
      'not allowed from this address (from="\\e]0;PWNED\\x07\\e[2K\\rauth: 127.0.0.1:1: accepted ssh-ed25519 key for root,10.9.9.9")',
    );
    expect(log).toContain('bad environment "\\e]0;ENV\\x07=1"');
    expect(log).toContain('bad expiry-time "\\e[2K\\r20990101"');
    expect(log).toMatch(/\\e\]0;OPT\\x07/);
    // No line of the log starts with what the attacker wrote.
    expect(log.split('\n').filter((l) => /^auth: 127\.0\.0\.1:1: /.test(l))).toEqual([]);

    // On the admin's terminal: every line as logged, none forged, the title untouched.
    const shown = await onTerminal(log);
    expect(shown.title).toBe('admin@host');
    expect(shown.lines.some((l) => l.includes('not allowed from this address'))).toBe(true);
    expect(shown.lines.filter((l) => /^auth: 127\.0\.0\.1:1: accepted/.test(l))).toEqual([]);
  });
});
