/**
 * Splitting a byte stream into lines at LF, for the readers of recordings (the stream reader,
 * `sshcast validate`, the v3 summary).
 */

/**
 * Splits chunks of bytes into lines. The pieces of a line still without its LF are kept as a
 * list and joined once its LF comes, so a long line costs linear time (joining on every chunk
 * made a 64 MiB line take seconds to minutes).
 */
export class LineSplitter {
  #parts: Uint8Array[] = [];
  #pending = 0;

  /** Bytes of the line still waiting for its LF. */
  get pending(): number {
    return this.#pending;
  }

  /**
   * Yields each line `chunk` completes, without its LF, in order. The splitter keeps views into
   * `chunk`: the caller must not reuse its memory.
   */
  *push(chunk: Uint8Array): Generator<Buffer> {
    let start = 0;
    for (let nl = chunk.indexOf(10); nl !== -1; nl = chunk.indexOf(10, start)) {
      const piece = chunk.subarray(start, nl);
      const line = this.#pending
        ? Buffer.concat([...this.#parts, piece])
        : Buffer.from(piece.buffer, piece.byteOffset, piece.length);
      this.#parts = [];
      this.#pending = 0;
      start = nl + 1;
      yield line;
    }
    if (start < chunk.length) {
      this.#parts.push(chunk.subarray(start));
      this.#pending += chunk.length - start;
    }
  }

  /** The bytes after the last LF (a final line cut short), or undefined when there are none. */
  end(): Buffer | undefined {
    if (this.#pending === 0) return undefined;
    const rest = Buffer.concat(this.#parts);
    this.#parts = [];
    this.#pending = 0;
    return rest;
  }
}
