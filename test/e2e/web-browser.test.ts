/**
 * The replay page in a real browser: Debian's chromium driven by playwright-core, against the
 * built `sshcast web` started as a child process, through the URL it prints.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  chromium,
  type Browser,
  type BrowserContext,
  type ConsoleMessage,
  type Page,
} from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { header, makeDir, pageUrl, serve, type Served } from '../web/serve.js';

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

const HOSTILE_COMMAND = '<img src=x onerror="window.__pwned=1">';
const HOSTILE_USER = '<script>window.__pwned=2</script>';
const HOSTILE_TERM = '<svg onload="window.__pwned=3">';

const FILES: Record<string, string> = {
  'ssh-session-1-hello.cast':
    header({ timestamp: 1700000300, command: 'printf hello', localUser: 'alice' }) +
    '[0.1,"o","hello from sshcast\\r\\n"]\n[0.5,"m","chapter one"]\n[3.0,"o","second line\\r\\n"]\n[3.1,"m","chapter two"]\n[3.2,"x","0"]\n',
  'ssh-session-2-hostile.cast':
    header({
      timestamp: 1700000200,
      command: HOSTILE_COMMAND,
      localUser: HOSTILE_USER,
      env: { TERM: HOSTILE_TERM },
    }) + '[0.1,"o","<b>just text</b>\\r\\n"]\n[0.2,"x","0"]\n',
  'ssh-session-3-cut.cast':
    header({ timestamp: 1700000100, localUser: 'bob' }) +
    '[0.1,"o","complete line one\\r\\n"]\n[0.2,"o","complete line two\\r\\n"]\n[0.3,"o","this line was cut sh',
  'ssh-session-4-garbage.cast': 'this is not a recording\n',
  'ssh-session-5-middle.cast':
    header({ timestamp: 1699990000, command: 'broken in the middle', localUser: 'bob' }) +
    '[0.1,"o","ok"]\n{not json\n[0.3,"o","ok"]\n',
  'ssh-session-6-empty.cast': header({
    timestamp: 1699980000,
    command: 'nothing yet',
    localUser: 'carol',
  }),
};

let tmp: string;
let served: Served;
let browser: Browser;
/** One browser profile; each new tab gets the token in its URL's fragment, as printed. */
let context: BrowserContext;
const cspViolations: string[] = [];

async function openPage(): Promise<Page> {
  const page = await context.newPage();
  page.on('console', (m: ConsoleMessage) => {
    if (/Content Security Policy|Refused to/i.test(m.text())) cspViolations.push(m.text());
  });
  return page;
}

/** Opens the printed URL (the token in its fragment) and lands on the list. */
async function openList(): Promise<Page> {
  const page = await openPage();
  await page.goto(served.url);
  await page.waitForSelector('#recordings tbody tr', { timeout: 15_000 });
  return page;
}

async function openView(page: Page, file: string): Promise<void> {
  await page.goto(pageUrl(served, `/view?file=${encodeURIComponent(file)}`));
  await page.waitForFunction(
    () => document.getElementById('title')?.textContent !== 'Loading…',
    null,
    { timeout: 15_000 },
  );
}

const termText = (page: Page): Promise<string> => page.locator('.ap-term').innerText();
const pwned = (page: Page): Promise<unknown> =>
  page.evaluate(() => (window as unknown as { __pwned?: unknown }).__pwned);

beforeAll(async () => {
  if (!fs.existsSync(CHROMIUM)) {
    throw new Error(
      `${CHROMIUM} is missing: install Debian's chromium (apt-get install chromium); .ci/run does`,
    );
  }
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sshcast-web-browser-'));
  const dir = makeDir(tmp, 'recordings', FILES);
  // A 300 MiB recording that takes no disk space: header, a hole, and a valid last line.
  const huge = fs.openSync(path.join(dir, 'ssh-session-0-huge.cast'), 'w', 0o600);
  fs.writeSync(
    huge,
    header({ timestamp: 1699900000, command: 'rsync everything', localUser: 'dave' }),
  );
  fs.writeSync(huge, '\n[1,"o","end"]\n', 300 * 2 ** 20);
  fs.closeSync(huge);
  served = await serve(dir);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
  context = await browser.newContext({ viewport: { width: 1100, height: 900 } });
});

afterAll(async () => {
  await browser?.close();
  expect(await served?.stop()).toBe(0);
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

describe('the replay page in chromium', () => {
  it('the printed URL opens the list, newest first; the token leaves the URL and the history, and is in no cookie', async () => {
    const page = await openList();
    expect(new URL(page.url()).search).toBe('');
    expect(new URL(page.url()).hash).toBe('');
    expect(page.url()).not.toContain(served.token);
    expect(await page.evaluate(() => document.cookie)).toBe('');
    expect((await context.cookies()).length).toBe(0);
    expect(await page.evaluate(() => sessionStorage.getItem('sshcast-token'))).toBe(served.token);
    expect(await page.evaluate(() => localStorage.length)).toBe(0);
    const files = await page
      .locator('#recordings tbody tr')
      .evaluateAll((rows) => rows.map((r) => (r as HTMLElement).dataset.file));
    // The garbage file has no timestamp: it sorts by its mtime (now), so first.
    expect(files).toEqual([
      'ssh-session-4-garbage.cast',
      'ssh-session-1-hello.cast',
      'ssh-session-2-hostile.cast',
      'ssh-session-3-cut.cast',
      'ssh-session-5-middle.cast',
      'ssh-session-6-empty.cast',
      'ssh-session-0-huge.cast',
    ]);
    const hello = await page.locator('tr[data-file="ssh-session-1-hello.cast"]').innerText();
    expect(hello).toContain('printf hello');
    expect(hello).toContain('alice');
    expect(hello).toContain('0:03');
    expect(hello).toContain('exit 0');
    await page.close();
  });

  it('a damaged file is marked in its own row; the others list normally', async () => {
    const page = await openList();
    const garbage = await page.locator('tr[data-file="ssh-session-4-garbage.cast"]').innerText();
    expect(garbage).toMatch(/damaged: line 1/);
    expect(garbage).toContain('ssh-session-4-garbage.cast');
    expect(await page.locator('tr.damaged').count()).toBe(1);
    expect(await page.locator('tr[data-file="ssh-session-3-cut.cast"]').innerText()).toContain(
      'in progress or cut short',
    );
    await page.close();
  });

  it('filters by user, command and date', async () => {
    const page = await openList();
    const visible = () =>
      page
        .locator('#recordings tbody tr:not([hidden])')
        .evaluateAll((rows) => rows.map((r) => (r as HTMLElement).dataset.file));
    await page.selectOption('#f-user', 'bob');
    expect(await visible()).toEqual(['ssh-session-3-cut.cast', 'ssh-session-5-middle.cast']);
    await page.fill('#f-command', 'MIDDLE');
    expect(await visible()).toEqual(['ssh-session-5-middle.cast']);
    await page.selectOption('#f-user', '');
    await page.fill('#f-command', '');
    const day = await page.evaluate(() => {
      const d = new Date(1700000300 * 1000);
      return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
    });
    await page.fill('#f-from', day);
    await page.fill('#f-to', day);
    const shown = await visible();
    expect(shown).toContain('ssh-session-1-hello.cast');
    expect(shown).not.toContain('ssh-session-4-garbage.cast');
    expect(await page.locator('#summary').innerText()).toMatch(/of 7 recordings/);
    await page.close();
  });

  it('a recording opens ready to watch: the first screen, a duration, chapters; play shows the rest', async () => {
    const page = await openList();
    await page.click('tr[data-file="ssh-session-1-hello.cast"] a');
    await page.waitForURL(/\/view\?file=ssh-session-1-hello\.cast$/);
    await page.waitForFunction(
      () => document.querySelector('.ap-term')?.textContent?.includes('hello from sshcast'),
      null,
      {
        timeout: 15_000,
      },
    );
    expect(await page.locator('#title').innerText()).toBe('printf hello');
    expect(await page.locator('#chapters li').allInnerTexts()).toEqual([
      expect.stringContaining('chapter one'),
      expect.stringContaining('chapter two'),
    ]);
    expect(await page.locator('.ap-control-bar').innerText()).not.toContain('--:--');
    expect(await termText(page)).not.toContain('second line');
    await page.screenshot({ path: path.join(os.tmpdir(), 'sshcast-replay-view.png') });

    await page.locator('.ap-player').click();
    await page.waitForFunction(
      () => document.querySelector('.ap-term')?.textContent?.includes('second line'),
      null,
      {
        timeout: 15_000,
      },
    );
    expect(await page.locator('#error').isHidden()).toBe(true);
    await page.close();
  });

  it('speed and idle limit rebuild the player at the same place; a chapter seeks', async () => {
    const page = await openPage();
    await openView(page, 'ssh-session-1-hello.cast');
    await page.waitForFunction(() =>
      document.querySelector('.ap-term')?.textContent?.includes('hello from sshcast'),
    );
    await page.selectOption('#speed', '4');
    await page.selectOption('#idle', '');
    await page.locator('#chapters button', { hasText: 'chapter two' }).click();
    await page.waitForFunction(
      () => document.querySelector('.ap-term')?.textContent?.includes('second line'),
      null,
      {
        timeout: 15_000,
      },
    );
    expect(await page.locator('.ap-player').count()).toBe(1);
    // A new speed keeps the place: the rebuilt player still shows the later screen.
    await page.evaluate(() => {
      (document.querySelector('.ap-term') as HTMLElement).dataset.old = 'yes';
    });
    await page.selectOption('#speed', '2');
    await page.waitForFunction(
      () => {
        const term = document.querySelector('.ap-term') as HTMLElement | null;
        return term && !term.dataset.old && term.textContent?.includes('second line');
      },
      null,
      { timeout: 15_000 },
    );
    await page.close();
  });

  it('a naive page runs the hostile header (the payload is live)', async () => {
    const page = await context.newPage();
    await page.setContent(`<p>${HOSTILE_COMMAND}</p>`);
    await page.waitForFunction(
      () => (window as unknown as { __pwned?: unknown }).__pwned === 1,
      null,
      { timeout: 5_000 },
    );
    await page.close();
  });

  it('ours shows the hostile header as text and runs none of it, in the list and the replay view', async () => {
    const page = await openList();
    const row = await page.locator('tr[data-file="ssh-session-2-hostile.cast"]').innerText();
    expect(row).toContain(HOSTILE_COMMAND);
    expect(row).toContain(HOSTILE_USER);
    expect(await page.locator('#recordings img, #recordings script, #recordings svg').count()).toBe(
      0,
    );
    await openView(page, 'ssh-session-2-hostile.cast');
    await page.waitForFunction(
      () => document.querySelector('.ap-term')?.textContent?.includes('<b>just text</b>'),
      null,
      {
        timeout: 15_000,
      },
    );
    expect(await page.locator('#title').innerText()).toBe(HOSTILE_COMMAND);
    expect(await page.locator('#meta').innerText()).toContain(HOSTILE_USER);
    expect(await page.locator('#meta').innerText()).toContain(`TERM ${HOSTILE_TERM}`);
    expect(await page.locator('header img, header script, header svg, #controls img').count()).toBe(
      0,
    );
    expect(await page.locator('[onerror], [onload]').count()).toBe(0);
    expect(await pwned(page)).toBeUndefined();
    await page.close();
  });

  it('a recording cut mid-line plays its complete lines', async () => {
    const page = await openPage();
    await openView(page, 'ssh-session-3-cut.cast');
    await page.waitForFunction(
      () => document.querySelector('.ap-term')?.textContent?.includes('complete line two'),
      null,
      {
        timeout: 15_000,
      },
    );
    expect(await termText(page)).not.toContain('cut sh');
    expect(await page.locator('#error').isHidden()).toBe(true);
    await page.close();
  });

  it('a damaged file shows an error for that file only', async () => {
    const page = await openPage();
    await openView(page, 'ssh-session-4-garbage.cast');
    expect(await page.locator('#error').innerText()).toMatch(/damaged: line 1/);
    expect(await page.locator('.ap-player').count()).toBe(0);
    await openView(page, 'ssh-session-5-middle.cast');
    await page.waitForSelector('#error:not([hidden])');
    expect(await page.locator('#error').innerText()).toMatch(/line 3: not valid JSON/);
    await openView(page, 'ssh-session-6-empty.cast');
    await page.waitForSelector('#error:not([hidden])');
    expect(await page.locator('#error').innerText()).toMatch(/no events/);
    // The list and the other recordings still work.
    await openView(page, 'ssh-session-1-hello.cast');
    await page.waitForFunction(() =>
      document.querySelector('.ap-term')?.textContent?.includes('hello from sshcast'),
    );
    await page.close();
  });

  it('a huge recording is not loaded into the tab until asked', async () => {
    const page = await openPage();
    let fetched = false;
    page.on('request', (r) => {
      if (r.url().includes('/files/')) fetched = true;
    });
    await openView(page, 'ssh-session-0-huge.cast');
    await page.waitForSelector('#large:not([hidden])');
    expect(await page.locator('#large').innerText()).toMatch(/300 MiB/);
    expect(await page.locator('.ap-player').count()).toBe(0);
    expect(fetched).toBe(false);
    await page.close();
  });

  it('a tab without the token gets the shell, which asks for the printed URL and names no file; the data gets 401', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const res = await page.goto(`${served.origin}/`);
    expect(res?.status()).toBe(200);
    await page.waitForSelector('#list-error:not([hidden])');
    expect(await page.locator('#list-error').innerText()).toMatch(
      /open the URL that `sshcast web` printed/,
    );
    expect(await page.content()).not.toMatch(/ssh-session|\.cast/);
    const view = await page.goto(`${served.origin}/view?file=ssh-session-1-hello.cast`);
    expect(view?.status()).toBe(200);
    await page.waitForSelector('#error:not([hidden])');
    expect(await page.locator('.ap-player').count()).toBe(0);
    expect(await page.locator('#meta').innerText()).not.toContain('alice');
    const api = await page.goto(`${served.origin}/api/recordings`);
    expect(api?.status()).toBe(401);
    expect(await page.content()).not.toMatch(/ssh-session|\.cast/);
    await context.close();
  });

  it('nothing on our pages broke the Content-Security-Policy (no inline script, player allowed)', () => {
    expect(cspViolations).toEqual([]);
  });
});
