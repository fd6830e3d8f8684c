/**
 * Live view in Debian's chromium: real sessions over OpenSSH (driven by tmux) into the built
 * example server, watched through the built `sshcast web` on the same directory. The earlier
 * screen shows at once, typed text follows, a resize is applied, the end is shown; a killed
 * server's recording stops being live; hostile output leaves the page and the server responsive.
 */
import fs from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  authorizedKey,
  recordingAfter,
  recordings,
  requireTool,
  sshOptions,
  startRecordingServer,
  tempDir,
  until,
  type ExampleServer,
} from '../helpers/e2e.js';
import { Tmux } from '../helpers/tmux.js';
import { authedGet, pageUrl, serve, type Served } from '../web/serve.js';

const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-sync'];
const USER = 'root';

let work: string;
let dir: string;
let key: { file: string };
let authorizedKeys: string;
let server: ExampleServer;
let served: Served;
let browser: Browser;
let context: BrowserContext;

beforeAll(async () => {
  for (const tool of ['ssh', 'ssh-keygen', 'tmux']) requireTool(tool);
  if (!fs.existsSync(CHROMIUM))
    throw new Error(`${CHROMIUM} is missing (apt-get install chromium)`);
  work = tempDir('live-');
  dir = path.join(work, 'rec');
  ({ authorizedKeys, ...key } = await authorizedKey(work));
  server = await startRecordingServer({
    dir,
    hostKey: path.join(work, 'host_key'),
    authorizedKeys,
  });
  served = await serve(dir);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
  context = await browser.newContext();
});

afterAll(async () => {
  await browser?.close();
  await served?.stop();
  await server?.stop();
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

/** An interactive ssh session in tmux, its prompt set; resolves with the recording's name. */
async function session(tmux: Tmux, port: number, cols = 100, rows = 30): Promise<string> {
  const before = recordings(dir);
  tmux.start(['ssh', ...sshOptions(port, key.file), '-t', `${USER}@127.0.0.1`], cols, rows);
  tmux.type("PS1='live$ '");
  await tmux.waitFor(/^live\$\s*$/m, 'the prompt');
  return path.basename(await recordingAfter(dir, before));
}

const termText = (page: Page): Promise<string> =>
  page.evaluate(() => document.querySelector('.ap-term')?.textContent ?? '');

/** Waits until the live player's terminal shows `text`. */
function pageShows(page: Page, text: string, timeout = 15_000): Promise<unknown> {
  return page.waitForFunction(
    (t) => document.querySelector('.ap-term')?.textContent?.includes(t),
    text,
    { timeout },
  );
}

/** Opens the live view of `file` and waits for the stream's first message (its reset). */
async function openLive(file: string): Promise<Page> {
  const page = await context.newPage();
  await page.goto(pageUrl(served, `/view?file=${encodeURIComponent(file)}`));
  await page.waitForSelector('#player[data-live="playing"]', { timeout: 15_000 });
  return page;
}

describe('the live view in chromium', () => {
  it('a session over OpenSSH: the earlier screen at once, typed text within 1 s, a resize, the end; the list follows without a reload', async () => {
    const tmux = new Tmux();
    try {
      const file = await session(tmux, server.port);
      tmux.type('echo before-$((6*7))');
      await tmux.waitFor(/^before-42$/m);

      const list = await context.newPage();
      await list.goto(served.url);
      const rowIs = (status: string, timeout = 15_000) =>
        list.waitForFunction(
          ([f, s]) => document.querySelector(`tr[data-file="${f}"] td.status`)?.textContent === s,
          [file, status],
          { timeout },
        );
      await rowIs('live');

      const page = await openLive(file);
      // Painted by the stream's first message (the present screen), before any new event.
      expect(await termText(page)).toContain('before-42');
      expect(await page.locator('#live-badge').isVisible()).toBe(true);

      tmux.type('echo after-$((7*8))');
      await tmux.waitFor(/^after-56$/m);
      await pageShows(page, 'after-56', 1000);

      tmux.resize(120, 40);
      tmux.type('stty size');
      await tmux.waitFor(/^40 120$/m, 'stty size 40 120');
      await page.waitForFunction(
        () => {
          const t = document.querySelector('.ap-term') as HTMLElement | null;
          return (
            t?.style.getPropertyValue('--term-cols') === '120' &&
            t.style.getPropertyValue('--term-rows') === '40'
          );
        },
        null,
        { timeout: 5000 },
      );
      await pageShows(page, '40 120');

      // Keys typed in the page reach nothing: the stream is one-way. (No f: it would make the
      // player full-screen.)
      await page.locator('.ap-player').click();
      await page.keyboard.type('echo viewer-typed-this\n');

      tmux.type('exit 3');
      await until(() => (tmux.alive() ? undefined : true), 'ssh to exit');
      await page.waitForSelector('#player[data-live="ended"]', { timeout: 10_000 });
      await page.waitForFunction(
        () => document.getElementById('live-text')?.textContent === 'The session ended (exit 3).',
        null,
        { timeout: 10_000 },
      );
      expect(await page.locator('#live-badge').isVisible()).toBe(false);
      expect(await page.locator('.ap-player').innerText()).toMatch(/Stream ended/i);
      expect(fs.readFileSync(path.join(dir, file), 'utf8')).not.toContain('viewer-typed-this');

      // The list, never reloaded, no longer says live.
      await rowIs('exit 3');

      // Replay from the start plays the whole recording.
      await page.locator('#replay-start').click();
      await page.waitForSelector('.ap-player');
      expect(await page.locator('#controls').isVisible()).toBe(true);
      // The audit log says who watched what, and when.
      expect(served.stderr()).toMatch(
        new RegExp(
          `^sshcast web: \\d{4}-\\d\\d-\\d\\dT[0-9:.]+Z live view of ${file} by 127\\.0\\.0\\.1:\\d+ started`,
          'm',
        ),
      );
      expect(served.stderr()).toMatch(
        new RegExp(`live view of ${file} by .* ended after .*: exit`),
      );
      await page.close();
      await list.close();
    } finally {
      tmux.kill();
    }
  }, 90_000);

  it('a server killed mid-session: its recording is no longer live, and the open live page ends', async () => {
    const killed = await startRecordingServer({
      dir,
      hostKey: path.join(work, 'host_key_2'),
      authorizedKeys,
    });
    const tmux = new Tmux();
    try {
      const file = await session(tmux, killed.port);
      tmux.type('echo doomed-$((2*5))');
      await tmux.waitFor(/^doomed-10$/m);
      const page = await openLive(file);
      expect(await termText(page)).toContain('doomed-10');
      expect(await killed.stop('SIGKILL')).toBe(null);
      await page.waitForSelector('#player[data-live="ended"]', { timeout: 15_000 });
      expect(await page.locator('#live-text').innerText()).toMatch(/recorder is gone/);
      const list = JSON.parse((await authedGet(served, '/api/recordings')).body.toString()) as {
        file: string;
        status: string;
      }[];
      expect(list.find((s) => s.file === file)?.status).not.toBe('live');
      await page.close();
    } finally {
      tmux.kill();
      await killed.stop('SIGKILL');
    }
  }, 60_000);

  it('hostile output (a huge OSC 52, huge CSI parameters, screen switches) leaves the page and the server responsive', async () => {
    const tmux = new Tmux();
    try {
      const file = await session(tmux, server.port);
      const page = await openLive(file);
      tmux.type(
        `printf '\\033]52;c;%s\\a' "$(head -c 3000000 /dev/zero | tr '\\0' A | base64 -w0)"; ` +
          `printf '\\033[99999999;99999999H\\033[999999999@\\033[999999999;999999999r\\033[?1049h\\033[?1049l'; ` +
          `printf '\\033[%sm' "$(seq -s ';' 1 50000)"; echo; echo hostile-$((3*3))`,
      );
      await tmux.waitFor(/^hostile-9$/m);
      await pageShows(page, 'hostile-9', 15_000);
      // The page still answers at once, and shows none of the clipboard payload (base64 of AAA…).
      expect(await page.evaluate(() => 1 + 1)).toBe(2);
      expect(await termText(page)).not.toContain('QUFBQUFB');
      // The server still answers.
      expect((await authedGet(served, `/api/recordings/${file}`)).status).toBe(200);
      tmux.type('echo still-$((4*4))');
      await pageShows(page, 'still-16', 5000);
      tmux.type('exit');
      await page.waitForSelector('#player[data-live="ended"]', { timeout: 10_000 });
      await page.close();
    } finally {
      tmux.kill();
    }
  }, 90_000);
});
