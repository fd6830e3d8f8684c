/**
 * A recording's chain (DESIGN section 7): c1 = SHA-256(L1), cn = SHA-256(c(n-1) ‖ Ln), where Ln
 * is the exact bytes of line n including its LF. Computed here from bytes as they are, never
 * from re-serialized lines: by the writer's line hook (through {@link ../sealing/hasher.ts}) and
 * by the verifier reading a file.
 */
import crypto from 'node:crypto';
import type { ChainPoint } from './ledger.js';

/** Room behind the previous digest for a line hashed in one call (see {@link ChainStepper}). */
export const SCRATCH_SIZE = 32 + 64 * 1024;

/**
 * A digest as a string of 32 latin1 characters, one per byte. The chain's steps pass digests on
 * in this form: `crypto.hash` gives a string in under a microsecond, while making a Buffer for
 * its result cost 2 µs more a line (measured here: 0.7 against 2.5 µs a call), as much as
 * hashing 3 KiB. (`'binary'` is the name Node's types give latin1 as a digest's encoding.)
 */
export type Digest = string;

/** A digest as 64 lowercase hex digits (the ledger's form). */
export function digestHex(d: Digest): string {
  return Buffer.from(d, 'latin1').toString('hex');
}

/**
 * The chain's step, c(n) from c(n-1) (undefined for line 1), for a line at `buf[start, end)`
 * whose 32 bytes before it may be overwritten (the end of a line already hashed, or room left for
 * it): the previous digest is written there and the two are hashed in one call, with no copy of
 * the line. Self-contained (it uses only its arguments): the hashing worker, which owns the
 * buffers it is given, runs this very function from its source.
 */
export function chainStepInPlace(
  nodeCrypto: typeof crypto,
  buf: Buffer,
  prev: Digest | undefined,
  start: number,
  end: number,
): Digest {
  if (prev === undefined) return nodeCrypto.hash('sha256', buf.subarray(start, end), 'binary');
  buf.write(prev, start - 32, 'latin1');
  return nodeCrypto.hash('sha256', buf.subarray(start - 32, end), 'binary');
}

/**
 * The chain's step for lines that must not be written to (the writer's own, a file's as read),
 * with its own scratch buffer. Short lines are copied behind the previous digest into it and
 * hashed with one `crypto.hash` call: for them a Hash object's set-up costs more than the hashing.
 */
export class ChainStepper {
  readonly #scratch = Buffer.allocUnsafe(SCRATCH_SIZE);

  /** c(n) for `prev` = c(n-1) (or undefined when `line` is line 1). */
  step(prev: Digest | undefined, line: Buffer): Digest {
    const scratch = this.#scratch;
    if (line.length + 32 <= scratch.length) {
      if (prev === undefined) return crypto.hash('sha256', line, 'binary');
      scratch.write(prev, 0, 'latin1');
      line.copy(scratch, 32);
      return crypto.hash('sha256', scratch.subarray(0, 32 + line.length), 'binary');
    }
    const h = crypto.createHash('sha256');
    if (prev !== undefined) h.update(prev, 'latin1');
    return h.update(line).digest('binary');
  }
}

const ZERO_HEX = '0'.repeat(64);

/** The chain of a whole byte string (complete lines only): for tests and small files. */
export function chainOf(data: Buffer): ChainPoint & { digests: Buffer[] } {
  const stepper = new ChainStepper();
  const digests: Buffer[] = [];
  let c: Digest | undefined;
  let start = 0;
  for (;;) {
    const nl = data.indexOf(10, start);
    if (nl === -1) break;
    c = stepper.step(c, data.subarray(start, nl + 1));
    digests.push(Buffer.from(c, 'latin1'));
    start = nl + 1;
  }
  return {
    lines: digests.length,
    bytes: start,
    chain: c === undefined ? ZERO_HEX : digestHex(c),
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
  #c: Digest | undefined;
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
    return this.#c === undefined ? ZERO_HEX : digestHex(this.#c);
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
        chain: digestHex(this.#c),
      });
  }
}
