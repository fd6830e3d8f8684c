/**
 * Rendering a recording's screen the way a player shows it, through @xterm/headless, so a test
 * can assert on what a person saw rather than on escape sequences.
 */
import { MAX_TERMINAL_SIDE } from '../asciicast/terminal.js';
import { BoundedTerminal, type Screen } from '../render/terminal.js';
import { loadCast, type CastSource } from './cast.js';

export type { Screen };

/** The largest side a rendered terminal gets; a hostile `r` event must not allocate gigabytes. */
export { MAX_TERMINAL_SIDE as MAX_SCREEN_SIDE };

/** Options for {@link renderScreen}. */
export interface RenderOptions {
  /** Render the screen as it was at this time, in seconds from the start. Default: the end. */
  at?: number;
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
  const term = new BoundedTerminal({ cols: cast.header.width, rows: cast.header.height });
  try {
    let pending = '';
    for (const e of cast.events) {
      if (e.time > until) break;
      if (e.code === 'o') pending += e.data;
      else if (e.code === 'r') {
        if (pending) await term.write(pending);
        pending = '';
        const [cols, rows] = e.data.split('x').map(Number);
        term.resize(cols!, rows!);
      }
    }
    if (pending) await term.write(pending);
    return term.screen();
  } finally {
    term.dispose();
  }
}
