/**
 * A sink that writes its lines to its file with synchronous writes, for a thread that has nothing
 * else to do meanwhile: `sshcast rec` (one process, one recording) and the recording thread. A
 * synchronous write costs a quarter of the CPU of an asynchronous one (no thread-pool round trip)
 * and its result is known when it returns. Corked, lines wait and are written together with one
 * `writev` when uncorked. A failed write truncates the file back to its last complete line, as
 * FileSink does, so what is on disk always parses.
 */
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import { SinkWriteError, SshcastError } from '../errors.js';
import { unwritten, wholeLines } from './file-sink.js';
import type { Sink } from './sink.js';

/** Options for {@link SyncFileSink}. */
export interface SyncFileSinkOptions {
  /** Bytes of whole lines already in the file (a header written elsewhere). Default 0. */
  offset?: number;
  /** fsync the file before `close()` resolves. Default false. */
  fsync?: boolean;
  /** `close()` leaves the descriptor open, for its owner (another thread's) to close. */
  keepOpen?: boolean;
}

const MAX_BATCH = 1024; // IOV_MAX on Linux

/** Writes synchronously to a file descriptor it owns; never applies backpressure. */
export class SyncFileSink extends EventEmitter implements Sink {
  readonly name: string;
  readonly #fd: number;
  readonly #fsync: boolean;
  readonly #keepOpen: boolean;
  #offset: number;
  #failed = false;
  #corked = false;
  #queue: Buffer[] = [];
  #closed: Promise<void> | undefined;

  /** Takes ownership of `fd`, open for writing; `name` is its path, for errors. */
  constructor(fd: number, name: string, options: SyncFileSinkOptions = {}) {
    super();
    this.#fd = fd;
    this.name = name;
    this.#offset = options.offset ?? 0;
    this.#fsync = options.fsync ?? false;
    this.#keepOpen = options.keepOpen ?? false;
  }

  /** Bytes on disk so far. */
  get bytesWritten(): number {
    return this.#offset;
  }

  /** Whether a write failed (the lines since are dropped). */
  get failed(): boolean {
    return this.#failed;
  }

  write(lines: Buffer): boolean {
    if (this.#failed) return true;
    if (this.#closed)
      throw new SshcastError('ERR_INVALID_STATE', `write after close: ${this.name}`);
    if (this.#corked) this.#queue.push(lines);
    else this.#writeAll([lines]);
    return true;
  }

  /** Lines written from now on wait for {@link uncork}. */
  cork(): void {
    this.#corked = true;
  }

  /** Writes the lines that waited, with as few system calls as it can. */
  uncork(): void {
    this.#corked = false;
    const queue = this.#queue;
    this.#queue = [];
    for (let i = 0; i < queue.length && !this.#failed; i += MAX_BATCH)
      this.#writeAll(queue.slice(i, i + MAX_BATCH));
  }

  #writeAll(bufs: Buffer[]): void {
    let size = 0;
    for (const b of bufs) size += b.length;
    let done = 0;
    try {
      let rest = bufs;
      while (done < size) {
        const n =
          rest.length === 1
            ? fs.writeSync(this.#fd, rest[0]!, 0, rest[0]!.length, this.#offset + done)
            : fs.writevSync(this.#fd, rest, this.#offset + done);
        if (n === 0) throw new Error('write made no progress');
        done += n;
        if (done < size) rest = unwritten(rest, n);
      }
    } catch (err) {
      this.#failed = true;
      this.#queue = [];
      const good = this.#offset + wholeLines(bufs, done);
      try {
        fs.ftruncateSync(this.#fd, good);
      } catch {
        // the file keeps a partial line; a reader reports it as a truncation
      }
      this.#offset = good;
      // Emitted later, so the caller's write() returns before its 'error' listener runs.
      process.nextTick(() => this.emit('error', new SinkWriteError(this.name, err)));
      return;
    }
    this.#offset += done;
  }

  close(): Promise<void> {
    this.#closed ??= (async () => {
      if (this.#corked) this.uncork();
      if (this.#fsync && !this.#failed) {
        try {
          fs.fsyncSync(this.#fd);
        } catch (err) {
          this.emit('error', new SinkWriteError(this.name, err));
        }
      }
      if (!this.#keepOpen)
        await new Promise<void>((resolve) => fs.close(this.#fd, () => resolve()));
    })();
    return this.#closed;
  }
}
