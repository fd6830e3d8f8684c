/**
 * The one bounded emulator behind `sshcast cat --text` and `renderScreen`: hostile output cannot
 * keep it busy. A hang blocks the event loop (one escape sequence is one synchronous action in
 * xterm.js), so each render runs in a child process of the built package with a deadline.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { encodeCast } from '../../src/asciicast/encoder.js';
import { BoundedTerminal } from '../../src/render/terminal.js';
import { cliPath, root, tempDir } from '../cli/helpers.js';

const HOSTILE = [
  '\x1b[999999999S', // scroll up a billion lines
  '\x1b[999999999T', // scroll down
  '\x1b[999999999L', // insert lines
  '\x1b[999999999M', // delete lines
  'x\x1b[999999999b', // repeat the last character
  '\x1b[999999999I', // tab forward
];

const hostileCast = encodeCast({ version: 2, width: 80, height: 24 }, [
  { time: 100_000, code: 'o', data: 'before\r\n' + HOSTILE.join('') + '\r\nafter' },
]);

function runNode(script: string, timeoutMs: number) {
  return spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    cwd: root,
    encoding: 'utf8',
    timeout: timeoutMs,
    env: { ...process.env, CAST: hostileCast },
  });
}

describe('hostile output', () => {
  it('naive: @xterm/headless fed the same output is still busy after 3 s', () => {
    const r = runNode(
      `import xterm from '@xterm/headless';
       const t = new xterm.Terminal({ cols: 80, rows: 24, scrollback: 0, allowProposedApi: true });
       t.write(${JSON.stringify(HOSTILE[0])}, () => process.exit(0));`,
      3000,
    );
    expect(r.signal).toBe('SIGTERM');
  });

  it('renderScreen renders it at once (the CSI clamp of cat --text applies)', () => {
    const dist = path.join(root, 'dist/src/testing/index.js');
    const r = runNode(
      `const { renderScreen } = await import(${JSON.stringify(dist)});
       const screen = await renderScreen(process.env.CAST);
       process.stdout.write(JSON.stringify(screen.text));`,
      20_000,
    );
    expect(r.signal).toBeNull();
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toContain('after');
  });

  it('sshcast cat --text renders it at once', () => {
    const { dir, cleanup } = tempDir();
    try {
      const file = path.join(dir, 'hostile.cast');
      fs.writeFileSync(file, hostileCast);
      const r = spawnSync(process.execPath, [cliPath, 'cat', '--text', file], {
        encoding: 'utf8',
        timeout: 20_000,
      });
      expect(r.signal).toBeNull();
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toContain('after');
    } finally {
      cleanup();
    }
  });
});

describe('BoundedTerminal', () => {
  it('clamps its size and each resize to 1..1000; a bad side keeps the current one', () => {
    const t = new BoundedTerminal({ cols: 70_000, rows: 0 });
    expect([t.cols, t.rows]).toEqual([1000, 24]);
    t.resize(Number.NaN, 5_000);
    expect([t.cols, t.rows]).toEqual([1000, 1000]);
    t.resize(40, 10);
    expect([t.cols, t.rows]).toEqual([40, 10]);
    t.dispose();
  });

  it('shows the visible screen, trailing blank rows dropped from text', async () => {
    const t = new BoundedTerminal({ cols: 10, rows: 3 });
    await t.write('ab\r\ncd');
    expect(t.screen()).toEqual({
      lines: ['ab', 'cd', ''],
      text: 'ab\ncd',
      cursor: { x: 2, y: 1 },
      cols: 10,
      rows: 3,
    });
    t.dispose();
  });
});
