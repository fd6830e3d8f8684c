/**
 * `sshcast web` over real HTTP, started from the built CLI: access control (token, Host),
 * file access (traversal, symlinks, FIFOs), complete lines only, security headers, CLI errors.
 * Each attack is first shown to work against a naive server, then to fail against ours.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  authedGet,
  header,
  makeDir,
  rawGet,
  serve,
  webCommand,
  type Served,
} from '../web/serve.js';

let tmp: string;
let dir: string;
let served: Served;
const SECRET = 'TOP-SECRET-OUTSIDE-DIR';
const complete =
  header({ command: 'echo hi', localUser: 'alice' }) + '[0.1,"o","hi\\r\\n"]\n[0.2,"x","0"]\n';
const truncated =
  header({ localUser: 'bob' }) +
  '[0.1,"o","first\\r\\n"]\n[0.2,"o","second\\r\\n"]\n[0.3,"o","cut sho';

/** The kind of server one writes first: joins the decoded URL to DIR and checks nothing else. */
function naiveServer(root: string): Promise<{ port: number; close: () => void }> {
  const server = http.createServer((req, res) => {
    const name = decodeURIComponent((req.url ?? '/').replace(/^\/files\//, ''));
    try {
      res.end(fs.readFileSync(path.join(root, name)));
    } catch {
      res.statusCode = 404;
      res.end();
    }
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({ port: (server.address() as AddressInfo).port, close: () => server.close() }),
    ),
  );
}

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sshcast-web-'));
  fs.writeFileSync(path.join(tmp, 'secret.cast'), SECRET);
  fs.writeFileSync(path.join(tmp, 'secret.txt'), SECRET);
  dir = makeDir(tmp, 'recordings', {
    'ssh-session-1-a.cast': complete,
    'ssh-session-2-b.cast': truncated,
    'header-only.cast': header(),
  });
  fs.symlinkSync(path.join(tmp, 'secret.cast'), path.join(dir, 'escape.cast'));
  fs.mkdirSync(path.join(dir, 'sub.cast'));
  spawnSync('mkfifo', [path.join(dir, 'fifo.cast')]);
  served = await serve(dir);
});

afterAll(async () => {
  expect(await served?.stop()).toBe(0);
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('sshcast web: startup', () => {
  it('prints exactly one serving line with a 32-byte base64url token', () => {
    expect(served.url).toMatch(/^http:\/\/127\.0\.0\.1:[0-9]+\/#token=[A-Za-z0-9_-]{43}$/);
    expect(served.port).toBeGreaterThan(0);
  });

  it('bad flags, a bad port and a missing directory are one line on stderr and a non-zero exit', () => {
    const run = (args: string[]) =>
      spawnSync(process.execPath, [...webCommand(), ...args], {
        encoding: 'utf8',
        timeout: 15_000,
      });
    for (const args of [
      ['--bogus'],
      [dir, '--port', 'x'],
      [path.join(tmp, 'missing')],
      [dir, '--token-file', path.join(tmp, 'nope')],
    ]) {
      const r = run(args);
      expect(r.status, args.join(' ')).not.toBe(0);
      expect(r.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1);
      expect(r.stderr).toMatch(/^sshcast web: /);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
  });

  it('uses the token from --token-file', async () => {
    const tokenFile = path.join(tmp, 'token');
    fs.writeFileSync(tokenFile, 'my-own-token-0123456789\n', { mode: 0o600 });
    const s = await serve(dir, ['--token-file', tokenFile]);
    try {
      expect(s.token).toBe('my-own-token-0123456789');
      expect((await authedGet(s, '/api/recordings')).status).toBe(200);
    } finally {
      expect(await s.stop()).toBe(0);
    }
  });
});

describe('sshcast web: the token', () => {
  const host = (): Record<string, string> => ({ Host: `127.0.0.1:${served.port}` });

  it('without the token, every request for data gets 401, and the body names no file', async () => {
    for (const p of [
      '/api/recordings',
      '/api/recordings/ssh-session-1-a.cast',
      '/files/ssh-session-1-a.cast',
      '/api/live/ssh-session-1-a.cast/ticket',
      '/live/ssh-session-1-a.cast',
      '/no-such-page',
    ]) {
      const r = await rawGet(served.port, p, host());
      expect(r.status, p).toBe(401);
      expect(r.body.toString()).not.toMatch(/ssh-session|\.cast/);
    }
  });

  it('the page shell and its scripts are served without it, and name no recording', async () => {
    for (const p of ['/', '/view?file=ssh-session-1-a.cast', '/assets/web/client/app.js']) {
      const r = await rawGet(served.port, p, host());
      expect(r.status, p).toBe(200);
      expect(r.body.toString(), p).not.toMatch(/ssh-session|alice|echo hi/);
    }
  });

  it('a wrong token, or the right one anywhere but the Authorization header, gets 401', async () => {
    const bad = async (headers: Record<string, string>, p = '/api/recordings') =>
      (await rawGet(served.port, p, { ...host(), ...headers })).status;
    expect(await bad({ Authorization: 'Bearer wrong' })).toBe(401);
    expect(await bad({ Authorization: `Bearer ${served.token}x` })).toBe(401);
    expect(await bad({ Authorization: `Basic ${served.token}` })).toBe(401);
    expect(await bad({ Authorization: served.token })).toBe(401);
    // Not in the query (it would be in logs and history), nor in a cookie (sent to every port).
    expect(await bad({}, `/api/recordings?token=${served.token}`)).toBe(401);
    expect(await bad({ Cookie: `sshcast_${served.port}=${served.token}` })).toBe(401);
    expect(await bad({ Cookie: `token=${served.token}` })).toBe(401);
  });

  it('the right token in the Authorization header opens the data, and no response sets a cookie', async () => {
    const list = await authedGet(served, '/api/recordings');
    expect(list.status).toBe(200);
    expect(list.headers['set-cookie']).toBeUndefined();
    const file = await authedGet(served, '/files/ssh-session-1-a.cast');
    expect(file.status).toBe(200);
    expect(file.headers['set-cookie']).toBeUndefined();
    const shell = await rawGet(served.port, `/?token=${served.token}`, host());
    expect(shell.headers['set-cookie']).toBeUndefined();
    expect(shell.headers.location).toBeUndefined();
  });
});

describe('sshcast web: the Host header (DNS rebinding)', () => {
  it('a naive server answers a rebinding-style request (connect to 127.0.0.1, Host: attacker.example)', async () => {
    const naive = await naiveServer(dir);
    try {
      const r = await rawGet(naive.port, '/files/ssh-session-1-a.cast', {
        Host: `attacker.example:${naive.port}`,
      });
      expect(r.status).toBe(200);
      expect(r.body.toString()).toContain('echo hi');
    } finally {
      naive.close();
    }
  });

  it('ours answers 421 to a foreign Host, even with the right token', async () => {
    const auth = { Authorization: `Bearer ${served.token}` };
    for (const host of [
      `attacker.example:${served.port}`,
      `evil.example:${served.port}`,
      `localhost:${served.port}`,
      '127.0.0.1:1',
      '127.0.0.1',
    ]) {
      const r = await rawGet(served.port, '/files/ssh-session-1-a.cast', { Host: host, ...auth });
      expect(r.status, host).toBe(421);
      expect(r.body.toString()).not.toContain('echo hi');
    }
    // No Host at all: Node's HTTP/1.1 parser refuses it with 400 before our handler runs.
    const none = await rawGet(served.port, '/files/ssh-session-1-a.cast', { Host: '', ...auth });
    expect(none.status).toBe(400);
    expect(none.body.toString()).not.toContain('echo hi');
    const shell = await rawGet(served.port, '/', { Host: `attacker.example:${served.port}` });
    expect(shell.status).toBe(421);
  });
});

describe('sshcast web: which files can be reached', () => {
  it('a naive server leaks a file outside DIR through ../ and %2e%2e%2f', async () => {
    const naive = await naiveServer(dir);
    try {
      expect((await rawGet(naive.port, '/files/%2e%2e%2fsecret.txt')).body.toString()).toBe(SECRET);
      expect((await rawGet(naive.port, '/files/escape.cast')).body.toString()).toBe(SECRET);
    } finally {
      naive.close();
    }
  });

  it('ours refuses traversal, encoded separators, absolute paths, symlinks, FIFOs and directories with 4xx', async () => {
    const attempts = [
      '/files/../secret.txt',
      '/files/..%2fsecret.cast',
      '/files/%2e%2e%2fsecret.cast',
      '/files/%2E%2E/secret.cast',
      '/files/%2fetc%2fpasswd',
      '/files//etc/passwd',
      `/files/${encodeURIComponent(path.join(tmp, 'secret.cast'))}`,
      '/files/..%5csecret.cast',
      '/files/escape.cast',
      '/files/fifo.cast',
      '/files/sub.cast',
      '/files/.hidden.cast',
      '/files/ssh-session-1-a.cast%00.txt',
      '/files/%E0%A4%A',
      '/api/recordings/..%2fsecret.cast',
      '/api/recordings/escape.cast',
      '/../../secret.txt',
    ];
    for (const p of attempts) {
      const r = await authedGet(served, p);
      expect(r.status, p).toBeGreaterThanOrEqual(400);
      expect(r.status, p).toBeLessThan(500);
      expect(r.body.toString(), p).not.toContain(SECRET);
    }
  });

  it('the listing holds only regular .cast files directly inside DIR, newest first', async () => {
    const r = await authedGet(served, '/api/recordings');
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toMatch(/^application\/json/);
    const list = JSON.parse(r.body.toString()) as { file: string; status: string }[];
    expect(list.map((s) => s.file).sort()).toEqual([
      'header-only.cast',
      'ssh-session-1-a.cast',
      'ssh-session-2-b.cast',
    ]);
    expect(r.body.toString()).not.toContain(SECRET);
  });
});

describe('sshcast web: complete lines only', () => {
  it('a recording cut mid-line is served up to its last LF', async () => {
    const r = await authedGet(served, '/files/ssh-session-2-b.cast');
    expect(r.status).toBe(200);
    const body = r.body.toString();
    expect(body.endsWith('\n')).toBe(true);
    expect(body).toContain('second');
    expect(body).not.toContain('cut sho');
    expect(Number(r.headers['content-length'])).toBe(Buffer.byteLength(body));
    expect(body).toBe(truncated.slice(0, truncated.lastIndexOf('\n') + 1));
  });

  it('a complete recording is served byte for byte', async () => {
    const r = await authedGet(served, '/files/ssh-session-1-a.cast');
    expect(r.body.toString()).toBe(complete);
  });

  it('a file still being written grows by whole lines', async () => {
    const p = path.join(dir, 'ssh-session-3-live.cast');
    fs.writeFileSync(p, header() + '[0.1,"o","one"]\n[0.2,"o","tw', { mode: 0o600 });
    expect((await authedGet(served, '/files/ssh-session-3-live.cast')).body.toString()).toBe(
      header() + '[0.1,"o","one"]\n',
    );
    fs.appendFileSync(p, 'o"]\n[0.3,"o","thr');
    expect((await authedGet(served, '/files/ssh-session-3-live.cast')).body.toString()).toBe(
      header() + '[0.1,"o","one"]\n[0.2,"o","two"]\n',
    );
    fs.rmSync(p);
  });

  it('streams a large recording without reading it whole (192 MiB served, the server peak memory grows far less)', async () => {
    const p = path.join(dir, 'ssh-session-4-big.cast');
    const line = `[0.5,"o","${'x'.repeat(1000)}"]\n`;
    const fd = fs.openSync(p, 'w', 0o600);
    fs.writeSync(fd, header());
    const block = line.repeat(1024);
    for (let i = 0; i < 192; i++) fs.writeSync(fd, block);
    fs.closeSync(fd);
    const size = fs.statSync(p).size;
    const rssBefore = memory(served.child.pid!).rss;
    const got = await new Promise<number>((resolve, reject) => {
      const req = http.get(
        {
          host: '127.0.0.1',
          port: served.port,
          path: '/files/ssh-session-4-big.cast',
          headers: {
            Host: `127.0.0.1:${served.port}`,
            Authorization: `Bearer ${served.token}`,
          },
        },
        (res) => {
          let n = 0;
          res.on('data', (c: Buffer) => (n += c.length));
          res.on('end', () => resolve(n));
          res.on('error', reject);
        },
      );
      req.on('error', reject);
    });
    expect(got).toBe(size);
    const grown = memory(served.child.pid!).peak - rssBefore;
    // A server that read the file whole would have peaked at least its size higher.
    expect(grown).toBeLessThan(size / 2);
    console.log(
      `served ${(size / 2 ** 20).toFixed(0)} MiB; server peak RSS grew ${(grown / 2 ** 20).toFixed(1)} MiB`,
    );
    fs.rmSync(p);
  });
});

describe('sshcast web: descriptors', () => {
  it('many requests, HEADs and aborted downloads leave no descriptor open', async () => {
    const p = path.join(dir, 'ssh-session-5-mid.cast');
    fs.writeFileSync(p, header() + `[0.5,"o","${'y'.repeat(1000)}"]\n`.repeat(20_000), {
      mode: 0o600,
    });
    const fds = (): number => fs.readdirSync(`/proc/${served.child.pid}/fd`).length;
    await authedGet(served, '/api/recordings');
    const before = fds();
    const settled = async (): Promise<number> => {
      // The server closes a file asynchronously after the response: wait for it, bounded.
      for (let i = 0; i < 100 && fds() > before; i++) await new Promise((r) => setTimeout(r, 50));
      return fds();
    };
    const auth = {
      Host: `127.0.0.1:${served.port}`,
      Authorization: `Bearer ${served.token}`,
    };
    for (let i = 0; i < 50; i++)
      await rawGet(served.port, '/files/ssh-session-2-b.cast', auth, 'HEAD');
    expect(await settled()).toBeLessThanOrEqual(before);
    for (let i = 0; i < 50; i++) {
      await authedGet(served, '/files/ssh-session-1-a.cast');
      await authedGet(served, '/files/escape.cast');
      await authedGet(served, '/api/recordings/ssh-session-2-b.cast');
    }
    expect(await settled()).toBeLessThanOrEqual(before);
    for (let i = 0; i < 10; i++) {
      await new Promise<void>((resolve, reject) => {
        const req = http.get(
          {
            host: '127.0.0.1',
            port: served.port,
            path: '/files/ssh-session-5-mid.cast',
            headers: {
              Host: `127.0.0.1:${served.port}`,
              Authorization: `Bearer ${served.token}`,
            },
          },
          (res) => res.once('data', () => (req.destroy(), resolve())),
        );
        req.on('error', (err) =>
          (err as NodeJS.ErrnoException).code === 'ECONNRESET' ? resolve() : reject(err),
        );
      });
    }
    expect(await settled()).toBeLessThanOrEqual(before);
    fs.rmSync(p);
  });
});

describe('sshcast web: response headers', () => {
  it('every response has the security headers and no CORS header', async () => {
    const responses = [
      await rawGet(served.port, '/', { Host: `127.0.0.1:${served.port}` }),
      await rawGet(served.port, '/', { Host: `evil.example:${served.port}` }),
      await authedGet(served, '/'),
      await authedGet(served, '/files/ssh-session-1-a.cast'),
      await authedGet(served, '/api/recordings', { Origin: 'http://evil.example' }),
    ];
    for (const r of responses) {
      expect(r.headers['x-content-type-options']).toBe('nosniff');
      expect(r.headers['referrer-policy']).toBe('no-referrer');
      expect(r.headers['cache-control']).toBe('no-store');
      expect(r.headers['content-security-policy']).toMatch(/default-src 'self'/);
      expect(r.headers['content-security-policy']).not.toMatch(/unsafe-inline/);
      expect(Object.keys(r.headers).filter((h) => h.startsWith('access-control-'))).toEqual([]);
    }
  });

  it('the player and its CSS come from the installed package', async () => {
    const js = await authedGet(served, '/assets/player.js');
    expect(js.status).toBe(200);
    expect(
      js.body.equals(
        fs.readFileSync(
          path.join(
            process.cwd(),
            'node_modules/asciinema-player/dist/bundle/asciinema-player.min.js',
          ),
        ),
      ),
    ).toBe(true);
    expect((await authedGet(served, '/assets/player.css')).status).toBe(200);
  });

  it('only GET and HEAD', async () => {
    const r = await rawGet(
      served.port,
      '/',
      { Host: `127.0.0.1:${served.port}`, Authorization: `Bearer ${served.token}` },
      'POST',
    );
    expect(r.status).toBe(405);
  });
});

function memory(pid: number): { rss: number; peak: number } {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string): number =>
    Number(new RegExp(`${key}:\\s+([0-9]+) kB`).exec(status)![1]) * 1024;
  return { rss: kb('VmRSS'), peak: kb('VmHWM') };
}
