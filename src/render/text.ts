/**
 * Renders a recording's output as plain text (`sshcast cat --text`): the lines that scrolled off,
 * then the final screen. Memory is bounded: lines are taken out as they scroll into a small
 * scrollback, and the emulator is the bounded one.
 */
import { clampSide, DEFAULT_SIZE } from '../asciicast/terminal.js';
import { BoundedTerminal } from './terminal.js';

// Every control character except LF: what is left of escape sequences after rendering, if any.
const UNSAFE = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/g;

/** Strips every C0 (except LF) and C1 control and DEL from rendered text. */
export function stripControls(text: string): string {
  return text.replace(UNSAFE, '');
}

interface Marker {
  readonly line: number;
  readonly isDisposed: boolean;
  dispose(): void;
}

/** Options for {@link TextRenderer}. */
export interface TextRendererOptions {
  cols: number;
  rows: number;
}

/**
 * Feeds output and resizes into a headless terminal and hands back finished lines. Call `write`
 * and `resize` in recording order, `take()` for the lines that scrolled off so far, `finish()` at
 * the end for the rest. Wrapped lines are joined; trailing spaces are trimmed.
 */
export class TextRenderer {
  readonly #bounded: BoundedTerminal;
  readonly #term: BoundedTerminal['term'];
  #marker: Marker | undefined;
  #lost = false;

  constructor(options: TextRendererOptions) {
    const cols = clampSide(options.cols, DEFAULT_SIZE.cols);
    // Room for what one write can scroll (at most one line per character) and more.
    const scrollback = Math.max(2000, Math.floor(2_000_000 / cols));
    this.#bounded = new BoundedTerminal({
      cols,
      rows: options.rows,
      scrollback,
      piece: Math.max(256, Math.floor(scrollback / 2)),
    });
    this.#term = this.#bounded.term;
  }

  /** Whether some lines were trimmed from the emulator before they could be taken. */
  get lostLines(): boolean {
    return this.#lost;
  }

  /** Writes output, resolving when the emulator has processed it. */
  write(data: string): Promise<void> {
    return this.#bounded.write(data);
  }

  /** Resizes the terminal (sizes clamped to 1..1000). */
  resize(cols: number, rows: number): void {
    this.#bounded.resize(cols, rows);
  }

  #start(): number {
    if (this.#marker && !this.#marker.isDisposed) return this.#marker.line;
    // No marker yet, or it was trimmed away (lines lost) or erased with the scrollback.
    if (this.#marker) this.#lost ||= this.#term.buffer.active.baseY > 0;
    return 0;
  }

  #lines(from: number, to: number, buf = this.#term.buffer.active): string {
    let out = '';
    let logical = '';
    for (let y = from; y < to; y++) {
      const line = buf.getLine(y);
      if (!line) continue;
      const next = buf.getLine(y + 1);
      const continues = y + 1 < to && next?.isWrapped === true;
      logical += line.translateToString(!continues);
      if (!continues) {
        out += stripControls(logical).trimEnd() + '\n';
        logical = '';
      }
    }
    return out;
  }

  /** Text of the lines that have scrolled off the screen since the last call. */
  take(): string {
    const buf = this.#term.buffer.active;
    if (buf.type !== 'normal') return '';
    const from = this.#start();
    let to = buf.baseY;
    // Stop before a line that continues onto the screen: it may still grow.
    while (to > from && buf.getLine(to)?.isWrapped) to--;
    if (to <= from) return '';
    const text = this.#lines(from, to);
    this.#marker?.dispose();
    const cursorLine = buf.baseY + buf.cursorY;
    this.#marker = this.#term.registerMarker(to - cursorLine) as Marker | undefined;
    return text;
  }

  /** The remaining text: what is left in the scrollback and the final screen, trailing blank lines dropped. */
  finish(): string {
    const { normal, active } = this.#term.buffer;
    const from = this.#marker && !this.#marker.isDisposed ? this.#marker.line : 0;
    let text: string;
    if (active.type === 'normal') text = this.#lines(from, normal.length);
    else text = this.#lines(from, normal.baseY, normal) + this.#lines(0, active.length, active);
    text = text.replace(/\n+$/, '\n');
    this.#bounded.dispose();
    return text === '\n' ? '' : text;
  }
}
