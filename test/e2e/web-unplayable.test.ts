/**
 * A recording the replay page will not play (damaged in its header or its middle, or with no
 * events yet) gets a page titled with its file name and what is wrong, and no player or player
 * controls; a good one keeps its title (the command) and its controls. Debian's chromium.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { header, makeDir, serve, type Served } from '../web/serve.js';

const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-sync'];

const FILES: Record<string, string> = {
  'ssh-session-1-good.cast':
    header({ timestamp: 1700000300, command: 'printf good', localUser: 'alice' }) +
    '[0.1,"o","good\\r\\n"]\n[0.2,"x","0"]\n',
  'ssh-session-2-garbage.cast': 'this is not a recording\n',
  'ssh-session-3-middle.cast':
    header({ timestamp: 1699990000, command: 'broken in the middle', localUser: 'bob' }) +
    '[0.1,"o","ok"]\n{not json\n[0.3,"o","ok"]\n',
  'ssh-session-4-empty.cast': header({ timestamp: 1699980000, command: 'nothing yet' }),
};

let tmp: string;
let served: Served;
let browser: Browser;
let context: BrowserContext;

beforeAll(async () => {
  if (!fs.existsSync(CHROMIUM))
    throw new Error(`${CHROMIUM} is missing: install Debian's chromium (apt-get install chromium)`);
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sshcast-web-unplayable-'));
  served = await serve(makeDir(tmp, 'recordings', FILES));
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
  context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(served.url); // the token, once: its cookie serves the views below
  await page.waitForSelector('#recordings tbody tr', { timeout: 15_000 });
  await page.close();
});

afterAll(async () => {
  await browser?.close();
  expect(await served?.stop()).toBe(0);
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

async function view(file: string): Promise<Page> {
  const page = await context.newPage();
  await page.goto(`${served.origin}/view?file=${encodeURIComponent(file)}`);
  await page.waitForFunction(
    () =>
      document.querySelector('.ap-player') !== null ||
      document.getElementById('error')?.hidden === false,
    null,
    { timeout: 15_000 },
  );
  return page;
}

describe('the replay view of a recording it will not play', () => {
  for (const [file, why] of [
    ['ssh-session-2-garbage.cast', 'damaged'],
    ['ssh-session-3-middle.cast', 'damaged'],
    ['ssh-session-4-empty.cast', 'no events'],
  ] as const) {
    it(`${file}: titled with the file and "${why}", no player, no controls`, async () => {
      const page = await view(file);
      expect(await page.title()).toBe(`${file} (${why}) — sshcast replay`);
      expect(await page.locator('#title').innerText()).toBe(`${file} (${why})`);
      expect(await page.locator('#controls').isHidden()).toBe(true);
      expect(await page.locator('.ap-player').count()).toBe(0);
      expect(await page.locator('#error').isVisible()).toBe(true);
      await page.close();
    });
  }

  it('a good one keeps its command as the title, its controls and its player', async () => {
    const page = await view('ssh-session-1-good.cast');
    expect(await page.title()).toBe('printf good — sshcast replay');
    expect(await page.locator('#controls').isVisible()).toBe(true);
    expect(await page.locator('.ap-player').count()).toBe(1);
    await page.close();
  });
});
