/**
 * A streaming UTF-8 decoder: a character split across chunks comes out whole, invalid bytes become
 * U+FFFD, and the output never holds a lone surrogate.
 */
export class Utf8StreamDecoder {
  #decoder = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });

  /** Decodes a chunk, holding back the bytes of a character that is not complete yet. */
  write(chunk: Uint8Array): string {
    return this.#decoder.decode(chunk, { stream: true });
  }

  /** Returns what is held back (as U+FFFD if incomplete) and resets the decoder. */
  end(): string {
    return this.#decoder.decode();
  }
}
