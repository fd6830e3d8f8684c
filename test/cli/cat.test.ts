import { describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { encodeCast } from '../../src/asciicast/encoder.js';
import type { Event, Header } from '../../src/asciicast/event.js';
import { CsiClamp } from '../../src/render/csi-clamp.js';
import { brokenDir, CONTROL_EXCEPT_LF, goldenDir, runCli, tempDir } from './helpers.js';

function writeCast(
  dir: string,
  name: string,
  header: Partial<Header>,
  data: (string | Event)[],
): string {
  const events: Event[] = data.map((d, i) =>
    typeof d === 'string' ? { time: i * 1000, code: 'o', data: d } : d,
  );
  const file = path.join(dir, name);
  fs.writeFileSync(file, encodeCast({ version: 2, width: 80, height: 24, ...header }, events));
  return file;
}

describe('sshcast cat', () => {
  it('writes the output events as recorded, and nothing else', async () => {
    const r = await runCli(['cat', path.join(goldenDir, 'full.cast')]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('\u001b[1;32mgreen\u001b[0m\r\ndone\r\n');
  });

  it('--text renders the golden file as plain text', async () => {
    const r = await runCli(['cat', '--text', path.join(goldenDir, 'full.cast')]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('green\ndone\n');
  });

  it('--text applies what a terminal would: overwrites, erases, cursor moves, resizes', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const file = writeCast(dir, 'render.cast', { width: 20, height: 5 }, [
        'hello world\rHELLO\r\n',
        'abc\u001b[2Dxy\r\n',
        'gone\u001b[2K\rkept\r\n',
        { time: 3500, code: 'r', data: '40x5' },
        '\u001b[30GX\r\n',
        'w'.repeat(50) + '\r\n', // wraps at 40 columns: one line again in the text
      ]);
      const r = await runCli(['cat', '--text', file]);
      expect(r.stdout).toBe(`HELLO world\naxy\nkept\n${' '.repeat(29)}X\n${'w'.repeat(50)}\n`);
    } finally {
      cleanup();
    }
  });

  it('--text keeps every line of a long recording, in order (more than the scrollback)', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const n = 60_000;
      const chunks: string[] = [];
      for (let i = 0; i < n; i += 1000) {
        chunks.push(Array.from({ length: 1000 }, (_, k) => `line ${i + k}\r\n`).join(''));
      }
      const file = writeCast(dir, 'long.cast', { width: 100, height: 30 }, chunks);
      const r = await runCli(['cat', '--text', file], { timeoutMs: 60_000 });
      expect(r.code).toBe(0);
      expect(r.stderr).toBe('');
      const lines = r.stdout.split('\n');
      expect(lines.length).toBe(n + 1);
      for (let i = 0; i < n; i += 997) expect(lines[i]).toBe(`line ${i}`);
      expect(lines[n - 1]).toBe(`line ${n - 1}`);
    } finally {
      cleanup();
    }
  }, 60_000);

  it('--text prints none of an attack on the viewer: OSC 52, titles, huge and hostile sequences', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const attack = [
        // Would scroll line by line for hours (and, as in xterm.js, take the screen with them).
        '\u001b[2147483647S\u001b[2147483647T\u001b[2147483647L\u001b[2147483647M',
        'visible-1\r\n',
        '\u001b]52;c;cm0gLXJmIH4K\u0007', // clipboard write
        '\u001b]0;pwned title\u0007\u001b]2;other\u001b\\', // title changes
        '\u001b]0;' + 'A'.repeat(3_000_000) + '\u0007', // a huge OSC
        '\u001bP1$r' + 'B'.repeat(100_000) + '\u001b\\', // DCS
        '\u001b_apc\u001b\\\u001b^pm\u001b\\\u001bXsos\u001b\\',
        '\u009b31m\u009d0;c1 title\u009c', // 8-bit C1 forms
        'x\u001b[2147483647b\r\n', // repeat the last character two billion times
        '\u001b[99999999999999999999999999999m\u0007\u0008\u007f',
        'visible-2\r\n',
      ];
      const file = writeCast(dir, 'attack.cast', {}, attack);
      // The raw stream does carry the attack: a naive `cat` hands it to the terminal.
      const raw = await runCli(['cat', file]);
      expect(raw.stdout).toContain('\u001b]52;c;cm0gLXJmIH4K\u0007');
      const r = await runCli(['cat', '--text', file], { timeoutMs: 60_000 });
      expect(r.code).toBe(0);
      expect(r.stdout).not.toMatch(CONTROL_EXCEPT_LF);
      expect(r.stdout).not.toContain('pwned');
      expect(r.stdout).not.toContain('cm0gLXJmIH4K');
      expect(r.stdout).not.toContain('AAAA');
      expect(r.stdout).toContain('visible-1\n');
      expect(r.stdout).toContain('visible-2\n');
    } finally {
      cleanup();
    }
  }, 60_000);

  it('--text clamps an absurd terminal size from the header', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const file = writeCast(dir, 'huge.cast', { width: 70_000, height: 70_000 }, [
        'top\r\n',
        { time: 500, code: 'r', data: '99999x99999' },
        'bottom\r\n',
      ]);
      const r = await runCli(['cat', '--text', file]);
      expect(r.code).toBe(0);
      expect(r.stdout).toBe('top\nbottom\n');
    } finally {
      cleanup();
    }
  });

  it('plays up to a truncated final line, and reports damage after what came before it', async () => {
    const truncated = await runCli(['cat', path.join(brokenDir, 'truncated.cast')]);
    expect(truncated.code).toBe(0);
    expect(truncated.stdout).toBe('a');
    const bad = path.join(brokenDir, 'time-backwards.cast');
    const r = await runCli(['cat', bad]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('a');
    expect(r.stderr).toBe(`sshcast: ${bad}: line 3: time goes backwards\n`);
    const t = await runCli(['cat', '--text', bad]);
    expect(t.code).toBe(1);
    expect(t.stdout).toBe('a\n');
  });
});

describe('CsiClamp', () => {
  it('clamps the counts of costly sequences, also when split across chunks', () => {
    const c = new CsiClamp();
    c.rows = 24;
    c.cols = 80;
    const out = ['\u001b', '[2147', '4836', '47S a \u001b[5T\u001b[31;1m', '\u009b9999L']
      .map((s) => c.write(s))
      .join('');
    expect(out).toBe('\u001b[24S a \u001b[5T\u001b[31;1m\u001b[24L');
  });

  it('lets C0 controls inside a sequence through without ending it, as terminals do', () => {
    const c = new CsiClamp();
    expect(c.write('\u001b[99\n999S')).toBe('\n\u001b[24S');
  });

  it('drops a sequence cut by another ESC or by CAN', () => {
    const c = new CsiClamp();
    expect(c.write('\u001b[99\u001b[1mA\u001b[5\u0018B')).toBe('\u001b[1mAB');
  });
});
