/**
 * A sink for `sshcast rec` that writes each line to its file at once with a synchronous write.
 * A one-process command line recorder has nothing else to do while a local write completes, and a
 * synchronous write costs a quarter of the CPU of an asynchronous one (no thread-pool round trip
 * per line), which is most of the recorder's own overhead. A failed write truncates the file back
 * to its last complete line, as FileSink does, so what is on disk always parses.
 */
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import { SinkWriteError, SshcastError } from '../errors.js';
import type { Sink } from '../recording/sink.js';

/** Writes synchronously to a file descriptor it owns; never applies backpressure. */
export class SyncFileSink extends EventEmitter implements Sink {
  readonly name: string;
  readonly #fd: number;
  #offset = 0;
  #failed = false;
  #closed: Promise<void> | undefined;

  /** Takes ownership of `fd`, open for writing at offset 0; `name` is its path, for errors. */
  constructor(fd: number, name: string) {
    super();
    this.#fd = fd;
    this.name = name;
  }

  /** Bytes on disk so far. */
  get bytesWritten(): number {
    return this.#offset;
  }

  write(lines: Buffer): boolean {
    if (this.#failed) return true;
    if (this.#closed)
      throw new SshcastError('ERR_INVALID_STATE', `write after close: ${this.name}`);
    let done = 0;
    try {
      while (done < lines.length) {
        const n = fs.writeSync(this.#fd, lines, done, lines.length - done, this.#offset + done);
        if (n === 0) throw new Error('write made no progress');
        done += n;
      }
    } catch (err) {
      this.#failed = true;
      try {
        fs.ftruncateSync(this.#fd, this.#offset);
      } catch {
        // the file keeps a partial line; a reader reports it as a truncation
      }
      // Emitted later, so the caller's write() returns before its 'error' listener runs.
      process.nextTick(() => this.emit('error', new SinkWriteError(this.name, err)));
      return true;
    }
    this.#offset += done;
    return true;
  }

  close(): Promise<void> {
    this.#closed ??= new Promise<void>((resolve) => fs.close(this.#fd, () => resolve()));
    return this.#closed;
  }
}
