/**
 * A headless terminal emulator (@xterm/headless) that is safe to feed untrusted output: each side
 * is clamped to 1..1000, every write passes the CSI clamp, and a long write is handed over in
 * pieces. The one emulator behind `sshcast cat --text` and `renderScreen`.
 */
import xterm from '@xterm/headless';
import { clampSide, DEFAULT_SIZE } from '../asciicast/terminal.js';
import { CsiClamp } from './csi-clamp.js';

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

/** Options for {@link BoundedTerminal}. */
export interface BoundedTerminalOptions {
  /** The size; each side is clamped, and a missing or 0 side is 80 columns or 24 rows. */
  cols: number;
  rows: number;
  /** Lines kept above the screen. Default 0. */
  scrollback?: number;
  /** The most characters handed to the emulator at once. Default: all of a write. */
  piece?: number;
}

export class BoundedTerminal {
  /** The emulator itself, for reading its buffers. */
  readonly term: InstanceType<typeof xterm.Terminal>;
  readonly #clamp = new CsiClamp();
  readonly #piece: number;

  constructor(options: BoundedTerminalOptions) {
    const cols = clampSide(options.cols, DEFAULT_SIZE.cols);
    const rows = clampSide(options.rows, DEFAULT_SIZE.rows);
    this.term = new xterm.Terminal({
      cols,
      rows,
      scrollback: options.scrollback ?? 0,
      allowProposedApi: true,
    });
    this.#clamp.cols = cols;
    this.#clamp.rows = rows;
    this.#piece = options.piece ?? Infinity;
  }

  get cols(): number {
    return this.term.cols;
  }

  get rows(): number {
    return this.term.rows;
  }

  /** Writes output, resolving when the emulator has processed it. */
  async write(data: string): Promise<void> {
    const piece = Math.min(this.#piece, data.length || 1);
    for (let i = 0; i < data.length; i += piece) {
      const part = this.#clamp.write(data.slice(i, i + piece));
      if (part) await new Promise<void>((resolve) => this.term.write(part, resolve));
    }
  }

  /** Resizes the terminal; each side is clamped, and a bad side keeps its current value. */
  resize(cols: number, rows: number): void {
    cols = clampSide(cols, this.term.cols);
    rows = clampSide(rows, this.term.rows);
    this.#clamp.cols = cols;
    this.#clamp.rows = rows;
    this.term.resize(cols, rows);
  }

  /** What the screen shows now. */
  screen(): Screen {
    const buffer = this.term.buffer.active;
    const lines: string[] = [];
    for (let y = 0; y < this.term.rows; y++) {
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
      cols: this.term.cols,
      rows: this.term.rows,
    };
  }

  dispose(): void {
    this.term.dispose();
  }
}
