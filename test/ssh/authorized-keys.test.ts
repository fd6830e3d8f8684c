import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawn } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  readFileSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { KEY_OPTIONS, parseAuthorizedKeys } from '../../src/ssh/authorized-keys.js';
import {
  MAX_AUTHORIZED_KEYS_BYTES,
  loadAuthorizedKeys,
} from '../../src/ssh/authorized-keys-file.js';
import { matchFrom } from '../../src/ssh/from-pattern.js';
import { safeTempDir } from './auth-harness.js';
import { needs, notRoot } from '../helpers/needs.js';

let tmp: ReturnType<typeof safeTempDir>;
const pub: Record<string, string> = {};

// Keys exactly as OpenSSH writes them.
beforeAll(() => {
  tmp = safeTempDir();
  const types: [string, string[]][] = [
    ['ed25519', ['-t', 'ed25519']],
    ['ecdsa256', ['-t', 'ecdsa', '-b', '256']],
    ['ecdsa384', ['-t', 'ecdsa', '-b', '384']],
    ['ecdsa521', ['-t', 'ecdsa', '-b', '521']],
    ['rsa', ['-t', 'rsa', '-b', '2048']],
  ];
  for (const [name, args] of types) {
    const file = path.join(tmp.dir, `id_${name}`);
    execFileSync('ssh-keygen', [...args, '-N', '', '-q', '-C', `${name}@test`, '-f', file]);
    pub[name] = readFileSync(`${file}.pub`, 'utf8').trim();
  }
});
afterAll(() => tmp.cleanup());

function parse(text: string) {
  const warnings: string[] = [];
  const keys = parseAuthorizedKeys(text, (m) => warnings.push(m), 'ak');
  return { keys, warnings };
}

describe('parseAuthorizedKeys', () => {
  it('reads every key type ssh-keygen writes, with comments and blank lines', () => {
    const text = [
      '# a comment',
      '',
      `  ${pub.ed25519}`,
      `${pub.ecdsa256}\r`,
      pub.ecdsa384,
      pub.ecdsa521,
      pub.rsa,
      '   # indented comment',
    ].join('\n');
    const { keys, warnings } = parse(text);
    expect(warnings).toEqual([]);
    expect(keys.map((k) => k.type)).toEqual([
      'ssh-ed25519',
      'ecdsa-sha2-nistp256',
      'ecdsa-sha2-nistp384',
      'ecdsa-sha2-nistp521',
      'ssh-rsa',
    ]);
    expect(keys.map((k) => k.line)).toEqual([3, 4, 5, 6, 7]);
    expect(keys[0]!.comment).toBe('ed25519@test');
    expect(keys[0]!.blob.equals(Buffer.from(pub.ed25519!.split(' ')[1]!, 'base64'))).toBe(true);
    expect(keys.every((k) => Object.keys(k.options).length === 0)).toBe(true);
  });

  it('honours command=, no-pty, restrict, pty, environment=, from=, expiry-time=', () => {
    const { keys, warnings } = parse(
      [
        `command="echo \\"hi, there\\"; exit 3",no-pty ${pub.ed25519} with spaces in comment`,
        `restrict ${pub.ed25519}`,
        `restrict,pty,command="id" ${pub.ed25519}`,
        `environment="A=b c",environment="A=second",environment="B=x=y" ${pub.ed25519}`,
        `from="10.0.0.*,!10.0.0.5",no-port-forwarding,no-agent-forwarding,no-X11-forwarding,no-user-rc ${pub.ed25519}`,
        `expiry-time="20000101",NO-PTY ${pub.ed25519}`,
      ].join('\n'),
    );
    expect(warnings).toEqual([]);
    expect(keys[0]!.options).toEqual({ command: 'echo "hi, there"; exit 3', noPty: true });
    expect(keys[0]!.comment).toBe('ed25519@test with spaces in comment');
    expect(keys[1]!.options).toEqual({ restrict: true, noPty: true });
    expect(keys[2]!.options).toEqual({ restrict: true, command: 'id' });
    expect(keys[3]!.options).toEqual({ environment: { A: 'b c', B: 'x=y' } });
    expect(keys[4]!.from).toBe('10.0.0.*,!10.0.0.5');
    expect(keys[4]!.options).toEqual({});
    expect(keys[5]!.expiresAt).toBe(new Date(2000, 0, 1).getTime());
    expect(keys[5]!.options).toEqual({ noPty: true });
  });

  it('skips, with a warning naming the line, every key it cannot honour exactly', () => {
    const lines = [
      `frobnicate ${pub.ed25519}`,
      `cert-authority ${pub.ed25519}`,
      `principals="alice" ${pub.ed25519}`,
      `tunnel="1" ${pub.ed25519}`,
      `permitopen="localhost:80" ${pub.ed25519}`,
      `permitlisten="8080" ${pub.ed25519}`,
      `command="unterminated ${pub.ed25519}`,
      `command="a",command="b" ${pub.ed25519}`,
      `environment="1BAD=x" ${pub.ed25519}`,
      `no-pty="x" ${pub.ed25519}`,
      `sk-ssh-ed25519@openssh.com AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29t sk`,
      `ssh-dss AAAAB3NzaC1kc3MAAACBAP sk`,
      `ssh-ed25519 AAAAnotakey`,
      `ssh-rsa ${pub.ed25519!.split(' ')[1]}`,
      'just-garbage',
      `expiry-time="tomorrow" ${pub.ed25519}`,
    ];
    const { keys, warnings } = parse([...lines, pub.ed25519].join('\n'));
    expect(keys.map((k) => k.line)).toEqual([lines.length + 1]);
    expect(warnings.length).toBe(lines.length);
    warnings.forEach((w, i) => expect(w).toMatch(new RegExp(`^ak:${i + 1}: key skipped: `)));
    expect(warnings[0]).toMatch(/unsupported option "frobnicate"/);
    expect(warnings[1]).toMatch(/unsupported option "cert-authority"/);
    expect(warnings[10]).toMatch(/key type sk-ssh-ed25519@openssh.com is not supported/);
    for (const name of KEY_OPTIONS.skipped) {
      const r = parse(`${name}="x" ${pub.ed25519}`);
      expect(r.keys).toEqual([]);
      expect(r.warnings[0]).toMatch(/key skipped/);
    }
  });
});

describe('matchFrom', () => {
  it.each([
    ['127.0.0.1', '127.0.0.*', true],
    ['127.0.0.1', '127.0.0.?', true],
    ['127.0.0.1', '10.*', false],
    ['127.0.0.1', '10.*,127.*', true],
    ['127.0.0.1', '!127.0.0.1,*', false],
    ['127.0.0.1', '*,!127.0.0.1', false],
    ['127.0.0.2', '*,!127.0.0.1', true],
    ['127.0.0.1', '127.0.0.0/8', true],
    ['127.0.0.1', '10.0.0.0/8', false],
    ['127.0.0.1', '!10.0.0.0/8', false],
    ['::ffff:127.0.0.1', '127.0.0.1', true],
    ['::1', '::1/128', true],
    ['::1', '127.0.0.0/8', false],
    ['127.0.0.1', '127.0.0.0/99', false],
    ['127.0.0.1', '', false],
    ['127.0.0.1', 'localhost', false],
  ])('%s against %s: %s', (ip, list, expected) => {
    expect(matchFrom(ip, list)).toBe(expected);
  });
});

describe('loadAuthorizedKeys', () => {
  const policy = () => ({ owners: [process.getuid!()] });
  let n = 0;
  const fresh = () => {
    const dir = path.join(tmp.dir, `case${n++}`);
    mkdirSync(dir, { mode: 0o700 });
    return { dir, file: path.join(dir, 'authorized_keys') };
  };

  it('reads a safe file, and treats a missing one as no keys', async () => {
    const { file } = fresh();
    expect(await loadAuthorizedKeys(file, policy())).toEqual({ keys: [] });
    writeFileSync(file, `${pub.ed25519}\n`, { mode: 0o600 });
    const r = await loadAuthorizedKeys(file, policy());
    expect(r.refused).toBeUndefined();
    expect(r.keys.length).toBe(1);
  });

  it('refuses a file any local user could write (naive code reads it and trusts the key)', async () => {
    const { file } = fresh();
    writeFileSync(file, `${pub.ed25519}\n`);
    chmodSync(file, 0o666);
    // The attack: another user appends a key; a naive reader trusts it.
    expect(parseAuthorizedKeys(readFileSync(file, 'utf8')).length).toBe(1);
    const r = await loadAuthorizedKeys(file, policy());
    expect(r.keys).toEqual([]);
    expect(r.refused).toMatch(/bad modes for .*authorized_keys \(writable by group or others\)/);
    chmodSync(file, 0o620);
    expect((await loadAuthorizedKeys(file, policy())).refused).toMatch(/bad modes/);
  });

  it('refuses a file in a directory others can write, up to the stop directory', async () => {
    const { dir, file } = fresh();
    writeFileSync(file, `${pub.ed25519}\n`, { mode: 0o600 });
    chmodSync(dir, 0o770);
    const r = await loadAuthorizedKeys(file, policy());
    expect(r.refused).toMatch(/bad modes for directory .*case\d+/);
    // sshd checks the home directory and below, not what lies above it.
    const inner = path.join(dir, '.ssh');
    mkdirSync(inner, { mode: 0o700 });
    writeFileSync(path.join(inner, 'authorized_keys'), `${pub.ed25519}\n`, { mode: 0o600 });
    const home = await loadAuthorizedKeys(path.join(inner, 'authorized_keys'), {
      ...policy(),
      stopAt: inner,
    });
    expect(home.keys.length).toBe(1);
    chmodSync(dir, 0o700);
  });

  it('refuses a file under /tmp, as sshd does (others can write /tmp)', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'sshcast-ak-'));
    try {
      const file = path.join(dir, 'authorized_keys');
      writeFileSync(file, `${pub.ed25519}\n`, { mode: 0o600 });
      const r = await loadAuthorizedKeys(file, policy());
      expect(r.refused).toMatch(/bad modes for directory \/tmp /);
    } finally {
      rmSync(dir, { recursive: true });
    }
  });

  it('refuses a file owned by another user', async (ctx) => {
    needs(ctx, notRoot); // chown
    const { file } = fresh();
    writeFileSync(file, `${pub.ed25519}\n`, { mode: 0o600 });
    chownSync(file, 65534, 65534);
    expect((await loadAuthorizedKeys(file, { owners: [4242] })).refused).toMatch(/bad ownership/);
    expect((await loadAuthorizedKeys(file, { owners: [65534] })).keys.length).toBe(1);
  });

  it('refuses a symbolic link', async () => {
    const { dir, file } = fresh();
    writeFileSync(path.join(dir, 'real'), `${pub.ed25519}\n`, { mode: 0o600 });
    symlinkSync(path.join(dir, 'real'), file);
    expect((await loadAuthorizedKeys(file, policy())).refused).toMatch(/symbolic link/);
  });

  it('refuses a huge file without reading it', async () => {
    const { file } = fresh();
    writeFileSync(file, `${pub.ed25519}\n`, { mode: 0o600 });
    truncateSync(file, 4 * 1024 * 1024 * 1024); // sparse: 4 GiB that a naive read would load
    const r = await loadAuthorizedKeys(file, policy());
    expect(r.refused).toMatch(new RegExp(`larger than ${MAX_AUTHORIZED_KEYS_BYTES} bytes`));
  });

  it('refuses a FIFO without blocking (a naive synchronous read stalls the whole process)', async () => {
    const { file } = fresh();
    execFileSync('mkfifo', ['-m', '600', file]);

    // The naive version: a service that reads the file synchronously for each connection (as a
    // naive auth handler would for each login attempt), then answers.
    const child = spawn(
      process.execPath,
      [
        '-e',
        `const fs = require('fs'), net = require('net');
         const srv = net.createServer((s) => { fs.readFileSync(${JSON.stringify(file)}); s.end('served\\n'); });
         srv.listen(0, '127.0.0.1', () => console.log(srv.address().port));`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const ask = (port: number) =>
      new Promise<string>((resolve) => {
        const s = net.connect(port, '127.0.0.1');
        let got = '';
        s.on('data', (d) => (got += d));
        // A bounded wait is the only way to observe "no answer": 1 s for a loopback reply.
        const t = setTimeout(() => {
          s.destroy();
          resolve(got || '(no answer)');
        }, 1000);
        s.on('end', () => {
          clearTimeout(t);
          resolve(got);
        });
      });
    try {
      const port = Number(
        await new Promise<string>((resolve) =>
          child.stdout.once('data', (d) => resolve(String(d))),
        ),
      );
      const [attacker, bystander] = await Promise.all([ask(port), ask(port)]);
      expect(attacker).toBe('(no answer)');
      expect(bystander).toBe('(no answer)'); // the whole process is stuck in read()
    } finally {
      child.kill('SIGKILL');
    }

    // Ours: refused at once, no writer ever needed (auth.test.ts shows other logins go on).
    const r = await loadAuthorizedKeys(file, policy());
    expect(r.keys).toEqual([]);
    expect(r.refused).toMatch(/is not a regular file/);
  });
});
