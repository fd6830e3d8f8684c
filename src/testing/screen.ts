/**
 * Rendering a recording's screen the way a player shows it, through @xterm/headless, so a test
 * can assert on what a person saw rather than on escape sequences.
 */
import xterm from '@xterm/headless';
import { clampSide, MAX_TERMINAL_SIDE } from '../asciicast/terminal.js';
import { loadCast, type CastSource } from './cast.js';

/** The largest side a rendered terminal gets; a hostile `r` event must not allocate gigabytes. */
export { MAX_TERMINAL_SIDE as MAX_SCREEN_SIDE };

/** Options for {@link renderScreen}. */
export interface RenderOptions {
  /** Render the screen as it was at this time, in seconds from the start. Default: the end. */
  at?: number;
}

/** A rendered terminal screen. */
export interface Screen {
  /** Each visible row, trailing spaces trimmed (always `rows` entries). */
  lines: string[];
  /** The rows joined with LF, trailing empty rows dropped. */
  text: string;
  /** The cursor: column `x` and row `y`, both 0-based within the visible screen. */
  cursor: { x: number; y: number };
  /** The terminal's size at that moment (after any `r` events up to then). */
  cols: number;
  rows: number;
}

function clamp(n: number): number {
  return clampSide(n, 1);
}

function write(term: xterm.Terminal, data: string): Promise<void> {
  return new Promise((resolve) => term.write(data, resolve));
}

/**
 * Replays a recording's `o` and `r` events into a headless xterm.js terminal of the header's size
 * and returns the visible screen, at the end or at time `at` (seconds, inclusive). Each side is
 * clamped to {@link MAX_TERMINAL_SIDE}.
 *
 * @example
 * const screen = await renderScreen('session.cast');
 * expect(screen.lines[0]).toBe('$ echo hi');
 * const early = await renderScreen(cast, { at: 0.5 });
 * expect(early.text).not.toContain('bye');
 */
export async function renderScreen(
  source: CastSource,
  options: RenderOptions = {},
): Promise<Screen> {
  const cast = loadCast(source);
  const until = options.at === undefined ? Infinity : options.at * 1_000_000;
  const term = new xterm.Terminal({
    cols: clamp(cast.header.width),
    rows: clamp(cast.header.height),
    allowProposedApi: true,
    scrollback: 0,
  });
  try {
    let pending = '';
    for (const e of cast.events) {
      if (e.time > until) break;
      if (e.code === 'o') pending += e.data;
      else if (e.code === 'r') {
        if (pending) await write(term, pending);
        pending = '';
        const [cols, rows] = e.data.split('x').map(Number);
        term.resize(clamp(cols!), clamp(rows!));
      }
    }
    if (pending) await write(term, pending);
    const buffer = term.buffer.active;
    const lines: string[] = [];
    for (let y = 0; y < term.rows; y++) {
      lines.push(
        buffer
          .getLine(buffer.viewportY + y)
          ?.translateToString(true)
          .trimEnd() ?? '',
      );
    }
    let end = lines.length;
    while (end > 0 && lines[end - 1] === '') end--;
    return {
      lines,
      text: lines.slice(0, end).join('\n'),
      cursor: { x: buffer.cursorX, y: buffer.cursorY },
      cols: term.cols,
      rows: term.rows,
    };
  } finally {
    term.dispose();
  }
}
