/**
 * A sink receives the exact final bytes of each recording line. Every sink has the same contract
 * as a Node writable: `write()` returns false when the caller should wait for `'drain'`; a failure
 * is emitted once as `'error'`; `close()` resolves when everything written has reached it.
 */
import { EventEmitter } from 'node:events';
import { SshcastError } from '../errors.js';

export interface Sink {
  /** Names the sink in errors and logs (a file path, `memory`, a URL). */
  readonly name: string;
  /** Takes one or more complete lines. Returns false when the caller should wait for `'drain'`. */
  write(lines: Buffer): boolean;
  /** Flushes and releases the sink. Resolves even after an error (which was emitted already). */
  close(): Promise<void>;
  on(event: 'drain', listener: () => void): this;
  on(event: 'error', listener: (err: Error) => void): this;
  once(event: 'drain', listener: () => void): this;
  off(event: 'drain', listener: () => void): this;
}

/** An in-memory sink: the lines are kept as written. Used by tests and `sshcast/testing`. */
export class MemorySink extends EventEmitter implements Sink {
  readonly name = 'memory';
  readonly #chunks: Buffer[] = [];
  #closed = false;

  write(lines: Buffer): boolean {
    if (this.#closed) throw new SshcastError('ERR_INVALID_STATE', 'write after close: memory');
    this.#chunks.push(lines);
    return true;
  }

  async close(): Promise<void> {
    this.#closed = true;
  }

  /** Whether `close()` was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Everything written, as one Buffer. */
  bytes(): Buffer {
    return Buffer.concat(this.#chunks);
  }

  /** Everything written, as text. */
  text(): string {
    return this.bytes().toString('utf8');
  }
}
