import { describe, expect, it } from 'vitest';
import { encodeCast, type Event } from '../../src/index.js';
import { MAX_SCREEN_SIDE, renderScreen } from '../../src/testing/index.js';

const s = (seconds: number) => seconds * 1_000_000;
function cast(events: Event[], width = 20, height = 5): string {
  return encodeCast({ version: 2, width, height }, events);
}

describe('renderScreen', () => {
  it('applies escape sequences and trims trailing spaces', async () => {
    const text = cast([
      { time: s(0.1), code: 'o', data: 'hello world   \r\n' },
      { time: s(0.2), code: 'o', data: '\x1b[1;31mred\x1b[0m\r\n' },
      { time: s(0.3), code: 'o', data: 'abc\x1b[2Dz' },
    ]);
    const screen = await renderScreen(text);
    expect(screen.lines).toEqual(['hello world', 'red', 'azc', '', '']);
    expect(screen.text).toBe('hello world\nred\nazc');
    expect(screen.cursor).toEqual({ x: 2, y: 2 });
    expect([screen.cols, screen.rows]).toEqual([20, 5]);
  });

  it('renders the screen as it was at time `at`', async () => {
    const text = cast([
      { time: s(1), code: 'o', data: 'first\r\n' },
      { time: s(2), code: 'o', data: '\x1b[2J\x1b[Hsecond' },
    ]);
    expect((await renderScreen(text, { at: 1 })).text).toBe('first');
    expect((await renderScreen(text, { at: 1.5 })).text).toBe('first');
    expect((await renderScreen(text, { at: 0.5 })).text).toBe('');
    expect((await renderScreen(text)).text).toBe('second');
  });

  it('honours resizes: output after an r event wraps at the new width', async () => {
    const text = cast(
      [
        { time: s(0.1), code: 'o', data: '1234567890' },
        { time: s(0.2), code: 'r', data: '5x3' },
        { time: s(0.3), code: 'o', data: '\x1b[2J\x1b[Habcdefgh' },
      ],
      10,
      4,
    );
    const before = await renderScreen(text, { at: 0.1 });
    expect([before.cols, before.rows]).toEqual([10, 4]);
    const after = await renderScreen(text);
    expect([after.cols, after.rows]).toEqual([5, 3]);
    expect(after.lines).toEqual(['abcde', 'fgh', '']);
  });

  it('clamps a huge resize instead of allocating it', async () => {
    const text = cast([{ time: s(0.1), code: 'r', data: '70000x70000' }]);
    const screen = await renderScreen(text);
    expect([screen.cols, screen.rows]).toEqual([MAX_SCREEN_SIDE, MAX_SCREEN_SIDE]);
  });

  it('shows only the visible screen after scrolling', async () => {
    const lines = Array.from({ length: 12 }, (_, i) => `line ${i}\r\n`).join('');
    const screen = await renderScreen(cast([{ time: s(0.1), code: 'o', data: lines }], 20, 5));
    expect(screen.lines).toEqual(['line 8', 'line 9', 'line 10', 'line 11', '']);
    expect(screen.cursor).toEqual({ x: 0, y: 4 });
  });
});
