/**
 * The guard between untrusted output and a terminal emulator: the counts of the CSI sequences
 * whose cost grows with the count are clamped to the screen, so a hostile recording cannot keep
 * the emulator busy for minutes.
 */
import { DEFAULT_SIZE } from '../asciicast/terminal.js';

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
