/**
 * Renders a recording's output through a terminal emulator (@xterm/headless) and yields plain text:
 * the lines that scrolled off, then the final screen. Memory is bounded: lines are taken out as
 * they scroll into a small scrollback, and terminal sizes from a file are clamped.
 */
import xterm from '@xterm/headless';
import { clampSide, DEFAULT_SIZE } from '../asciicast/terminal.js';

// Every control character except LF: what is left of escape sequences after rendering, if any.
const UNSAFE = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/g;

/** Strips every C0 (except LF) and C1 control and DEL from rendered text. */
export function stripControls(text: string): string {
  return text.replace(UNSAFE, '');
}

/**
 * Clamps the counts of CSI sequences whose cost in the emulator grows with the count
 * (`CSI 2147483647 S` would scroll line by line for minutes). Sequences it cannot parse are
 * dropped. Stateful: sequences split across chunks are handled.
 */
export class CsiClamp {
  #state: 'ground' | 'esc' | 'csi' = 'ground';
  #params = '';
  /** The current screen height: the bound for scroll and line insert/delete counts. */
  rows = DEFAULT_SIZE.rows;
  /** The current screen width: the bound for tab counts (and, times rows, for repeats). */
  cols = DEFAULT_SIZE.cols;

  /** Filters one chunk. */
  write(text: string): string {
    let out = '';
    let i = 0;
    while (i < text.length) {
      if (this.#state === 'ground') {
        let j = i;
        while (j < text.length) {
          const c = text.charCodeAt(j);
          if (c === 0x1b || c === 0x9b) break;
          j++;
        }
        out += text.slice(i, j);
        if (j === text.length) break;
        if (text.charCodeAt(j) === 0x9b) this.#enterCsi();
        else this.#state = 'esc';
        i = j + 1;
        continue;
      }
      const c = text.charCodeAt(i);
      if (this.#state === 'esc') {
        if (c === 0x5b) this.#enterCsi();
        else {
          out += '\u001b';
          this.#state = 'ground';
          continue; // the character after ESC is ordinary again
        }
        i++;
        continue;
      }
      // In a CSI sequence.
      i++;
      if (c >= 0x20 && c <= 0x3f) {
        this.#params += text[i - 1];
        if (this.#params.length > 256) this.#state = 'ground'; // absurd: drop it
      } else if (c >= 0x40 && c <= 0x7e) {
        out += this.#finish(String.fromCharCode(c));
        this.#state = 'ground';
      } else if (c === 0x1b) {
        this.#state = 'esc';
      } else if (c === 0x18 || c === 0x1a) {
        this.#state = 'ground';
      } else if (c < 0x20) {
        out += text[i - 1]; // executed in place by the emulator, as here
      } else {
        this.#state = 'ground'; // not part of a CSI sequence: drop the sequence
      }
    }
    return out;
  }

  #enterCsi(): void {
    this.#state = 'csi';
    this.#params = '';
  }

  #finish(final: string): string {
    const limit = 'STLM'.includes(final)
      ? this.rows
      : 'IZ'.includes(final)
        ? this.cols
        : final === 'b'
          ? this.cols * this.rows
          : Infinity;
    const params =
      limit === Infinity
        ? this.#params
        : this.#params.replace(/[0-9]+/g, (n) => String(Math.min(Number(n), limit)));
    return `\u001b[${params}${final}`;
  }
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
  readonly #term: InstanceType<typeof xterm.Terminal>;
  readonly #clamp = new CsiClamp();
  readonly #scrollback: number;
  #marker: Marker | undefined;
  #lost = false;

  constructor(options: TextRendererOptions) {
    const cols = clampSide(options.cols, DEFAULT_SIZE.cols);
    const rows = clampSide(options.rows, DEFAULT_SIZE.rows);
    // Room for what one write can scroll (at most one line per character) and more.
    this.#scrollback = Math.max(2000, Math.floor(2_000_000 / cols));
    this.#term = new xterm.Terminal({
      cols,
      rows,
      scrollback: this.#scrollback,
      allowProposedApi: true,
    });
    this.#clamp.cols = cols;
    this.#clamp.rows = rows;
  }

  /** Whether some lines were trimmed from the emulator before they could be taken. */
  get lostLines(): boolean {
    return this.#lost;
  }

  /** Writes output, resolving when the emulator has processed it. */
  async write(data: string): Promise<void> {
    const chunk = Math.max(256, Math.floor(this.#scrollback / 2));
    for (let i = 0; i < data.length; i += chunk) {
      const part = this.#clamp.write(data.slice(i, i + chunk));
      if (part) await new Promise<void>((resolve) => this.#term.write(part, resolve));
    }
  }

  /** Resizes the terminal (sizes clamped to 1..1000). */
  resize(cols: number, rows: number): void {
    cols = clampSide(cols, this.#term.cols);
    rows = clampSide(rows, this.#term.rows);
    this.#clamp.cols = cols;
    this.#clamp.rows = rows;
    this.#term.resize(cols, rows);
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
    this.#term.dispose();
    return text === '\n' ? '' : text;
  }
}
