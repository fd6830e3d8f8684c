/**
 * A recording's chain (DESIGN section 7): c1 = SHA-256(L1), cn = SHA-256(c(n-1) ‖ Ln), where Ln
 * is the exact bytes of line n including its LF. Computed here from bytes as they are, never
 * from re-serialized lines: by the writer's line hook (through {@link ../sealing/hasher.ts}) and
 * by the verifier reading a file.
 */
import crypto from 'node:crypto';
import type { ChainPoint } from './ledger.js';

// crypto.hash (Node >= 20.12) is a one-shot digest without a Hash object: for short lines the
// object's set-up costs more than the hashing. Lines up to this size are copied behind the
// previous digest and hashed in one call.
const ONE_SHOT_MAX = 4096;
const oneShot = (crypto as { hash?: (alg: string, data: Buffer, enc: 'buffer') => Buffer }).hash;

/** The step of the chain: c(n) from c(n-1) (undefined for the first line) and line n. */
export class ChainStepper {
  readonly #scratch = Buffer.allocUnsafe(32 + ONE_SHOT_MAX);

  /** c(n) for `prev` = c(n-1) (or undefined when `line` is line 1). */
  step(prev: Buffer | undefined, line: Buffer): Buffer {
    if (oneShot && line.length <= ONE_SHOT_MAX) {
      if (!prev) return oneShot('sha256', line, 'buffer');
      prev.copy(this.#scratch, 0);
      line.copy(this.#scratch, 32);
      return oneShot('sha256', this.#scratch.subarray(0, 32 + line.length), 'buffer');
    }
    const h = crypto.createHash('sha256');
    if (prev) h.update(prev);
    return h.update(line).digest();
  }
}

/** The chain of a whole byte string (complete lines only): for tests and small files. */
export function chainOf(data: Buffer): ChainPoint & { digests: Buffer[] } {
  const stepper = new ChainStepper();
  const digests: Buffer[] = [];
  let c: Buffer | undefined;
  let start = 0;
  for (;;) {
    const nl = data.indexOf(10, start);
    if (nl === -1) break;
    c = stepper.step(c, data.subarray(start, nl + 1));
    digests.push(c);
    start = nl + 1;
  }
  return {
    lines: digests.length,
    bytes: start,
    chain: (c ?? Buffer.alloc(32)).toString('hex'),
    digests,
  };
}

/**
 * Follows the chain of a file read in chunks of any size: lines split across chunks are joined.
 * Keeps the chain at the line counts asked for in `wanted`, and the first line (the header).
 */
export class ChainReader {
  readonly #stepper = new ChainStepper();
  readonly #wanted: ReadonlySet<number>;
  readonly #maxHeader: number;
  #c: Buffer | undefined;
  #partial: Buffer[] = [];
  #partialBytes = 0;
  /** Complete lines so far. */
  lines = 0;
  /** Bytes of the complete lines so far. */
  bytes = 0;
  /** The chain at each wanted line count reached. */
  readonly at = new Map<number, ChainPoint>();
  /** The first line, without its LF (at most `maxHeader` bytes of it are kept). */
  header: Buffer | undefined;

  constructor(wanted: ReadonlySet<number> = new Set(), maxHeader = 64 * 1024) {
    this.#wanted = wanted;
    this.#maxHeader = maxHeader;
  }

  /** Bytes after the last complete line (a line cut short, or still being written). */
  get trailing(): number {
    return this.#partialBytes;
  }

  /** The chain value after the last complete line (64 zeros before any). */
  get chain(): string {
    return (this.#c ?? Buffer.alloc(32)).toString('hex');
  }

  push(chunk: Buffer): void {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(10, start);
      if (nl === -1) break;
      let line = chunk.subarray(start, nl + 1);
      if (this.#partialBytes > 0) {
        line = Buffer.concat([...this.#partial, line]);
        this.#partial = [];
        this.#partialBytes = 0;
      }
      this.#line(line);
      start = nl + 1;
    }
    if (start < chunk.length) {
      // The chunk's buffer is reused by the caller: keep a copy of the unfinished line.
      this.#partial.push(Buffer.from(chunk.subarray(start)));
      this.#partialBytes += chunk.length - start;
    }
  }

  #line(line: Buffer): void {
    this.#c = this.#stepper.step(this.#c, line);
    this.lines++;
    this.bytes += line.length;
    if (this.lines === 1 && line.length - 1 <= this.#maxHeader)
      this.header = Buffer.from(line.subarray(0, line.length - 1));
    if (this.#wanted.has(this.lines))
      this.at.set(this.lines, {
        lines: this.lines,
        bytes: this.bytes,
        chain: this.#c.toString('hex'),
      });
  }
}
