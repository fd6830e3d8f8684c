/**
 * A streaming UTF-8 decoder: a character split across chunks comes out whole, invalid bytes become
 * U+FFFD, and the output never holds a lone surrogate.
 */
export class Utf8StreamDecoder {
  #decoder = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });
  #held: Uint8Array | undefined;

  /**
   * Takes a chunk and returns the bytes of every character it completes, the bytes held back from
   * the previous chunk first; the bytes of a character not complete yet are held back. Invalid
   * sequences are passed through (they decode to U+FFFD the same way a streaming decoder would).
   * Lets the recorder escape bytes without building a string.
   */
  complete(chunk: Uint8Array): Uint8Array {
    let bytes = chunk;
    if (this.#held) {
      bytes = new Uint8Array(this.#held.length + chunk.length);
      bytes.set(this.#held);
      bytes.set(chunk, this.#held.length);
      this.#held = undefined;
    }
    const cut = incompleteTail(bytes);
    if (cut === bytes.length) return bytes;
    this.#held = bytes.slice(cut);
    return bytes.subarray(0, cut);
  }

  /** Decodes a chunk, holding back the bytes of a character that is not complete yet. */
  write(chunk: Uint8Array): string {
    const bytes = this.complete(chunk);
    return bytes.length === 0 ? '' : this.#decoder.decode(bytes);
  }

  /** Returns what is held back (as U+FFFD if incomplete) and resets the decoder. */
  end(): string {
    const held = this.#held;
    this.#held = undefined;
    return held ? this.#decoder.decode(held) : '';
  }
}

/**
 * Where a trailing incomplete character starts (the length when there is none). Only a lead byte
 * within the last three bytes can start a sequence that is still short of bytes.
 */
function incompleteTail(bytes: Uint8Array): number {
  const n = bytes.length;
  for (let i = n - 1; i >= 0 && i >= n - 3; i--) {
    const b = bytes[i]!;
    if ((b & 0xc0) === 0x80) continue;
    const need =
      b >= 0xf0 && b <= 0xf4 ? 4 : b >= 0xe0 && b <= 0xef ? 3 : b >= 0xc2 && b <= 0xdf ? 2 : 1;
    return n - i < need ? i : n;
  }
  return n;
}
