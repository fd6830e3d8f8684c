/**
 * A sink that writes to a file descriptor it owns. Lines queue in memory up to `highWaterMark`
 * and are written in batches with `writev`, so each line reaches the file in a single system call
 * with the lines around it. A failed write truncates the file back to its last complete line, so
 * what is on disk always parses.
 */
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import { SinkWriteError, SshcastError } from '../errors.js';
import type { Sink } from './sink.js';

/** Options for {@link FileSink}. */
export interface FileSinkOptions {
  /** Queued bytes above which `write()` returns false. Default 256 KiB. */
  highWaterMark?: number;
  /**
   * How long a line may wait for others before it is written, in milliseconds: a flood is then
   * written in batches of many lines per system call rather than one or two (each write is a
   * hand-off to a thread of the pool and back). A queue of {@link BATCH_BYTES} is written at once,
   * and `close()` writes what waits. 0: each line at once. Default 2.
   */
  batchMs?: number;
  /** fsync the file before `close()` resolves. Default false. */
  fsync?: boolean;
  /** The file system calls, replaceable to inject faults in tests. */
  fs?: FileOps;
  /**
   * @internal Bytes of whole lines already in the file (a header written elsewhere, see
   * {@link writeLinesSync}); the sink appends after them. Default 0.
   */
  offset?: number;
  /** @internal `close()` leaves the descriptor open: its owner closes it (another thread's). */
  keepOpen?: boolean;
}

/** How much of a file recording is on disk, and what waits to be written. */
export interface WrittenFile {
  /** Bytes of whole lines on disk. */
  readonly bytesWritten: number;
  /** Bytes accepted and not yet handed to the file system. */
  readonly queuedBytes: number;
  /** Called with `bytesWritten` after each write that reached the file (complete lines only). */
  onWritten: ((bytes: number) => void) | undefined;
}

/** The file system calls a {@link FileSink} makes. */
export interface FileOps {
  /**
   * Writes the first line (the header) synchronously, so that a disk already full fails the
   * recording's start rather than its first event. Without it the header is written like any line.
   */
  writeSync?(fd: number, buffer: Buffer): number;
  writev(fd: number, buffers: Buffer[], cb: (err: Error | null, written: number) => void): void;
  ftruncate(fd: number, len: number, cb: (err: Error | null) => void): void;
  fsync(fd: number, cb: (err: Error | null) => void): void;
  close(fd: number, cb: (err: Error | null) => void): void;
}

const nodeOps: FileOps = {
  writeSync: (fd, buf) => fs.writeSync(fd, buf),
  writev: (fd, bufs, cb) => fs.writev(fd, bufs, (err, n) => cb(err, n)),
  ftruncate: (fd, len, cb) => fs.ftruncate(fd, len, cb),
  fsync: (fd, cb) => fs.fsync(fd, cb),
  close: (fd, cb) => fs.close(fd, cb),
};

const MAX_BATCH = 1024; // IOV_MAX on Linux
/** Queued bytes written at once rather than after `batchMs`. */
export const BATCH_BYTES = 64 * 1024;
const DEFAULT_BATCH_MS = 2;

export class FileSink extends EventEmitter implements Sink, WrittenFile {
  readonly name: string;
  readonly #fd: number;
  readonly #hwm: number;
  readonly #fsync: boolean;
  readonly #ops: FileOps;
  readonly #batchMs: number;
  readonly #keepOpen: boolean;
  #batchTimer: NodeJS.Timeout | undefined;
  #queue: Buffer[] = [];
  #queued = 0;
  #offset = 0;
  #writing = false;
  #needDrain = false;
  #failed = false;
  #closing: Promise<void> | undefined;
  #idle: (() => void) | undefined;
  /** Called with `bytesWritten` after each write that reached the file (complete lines only). */
  onWritten: ((bytes: number) => void) | undefined;

  /** Takes ownership of `fd`, open for writing at offset 0; `name` is its path, for errors. */
  constructor(fd: number, name: string, options: FileSinkOptions = {}) {
    super();
    this.#fd = fd;
    this.name = name;
    this.#hwm = options.highWaterMark ?? 256 * 1024;
    this.#fsync = options.fsync ?? false;
    this.#ops = options.fs ?? nodeOps;
    this.#batchMs = options.batchMs ?? DEFAULT_BATCH_MS;
    this.#offset = options.offset ?? 0;
    this.#keepOpen = options.keepOpen ?? false;
  }

  /** Bytes queued and not yet handed to the file system. */
  get queuedBytes(): number {
    return this.#queued;
  }

  /** Bytes on disk so far. */
  get bytesWritten(): number {
    return this.#offset;
  }

  /**
   * Queues lines. The very first write (the header) goes to the file at once, synchronously when
   * the file layer can, and throws a SinkWriteError if it fails: a recording whose header cannot
   * be written has not started.
   */
  write(lines: Buffer): boolean {
    if (this.#failed) return true;
    if (this.#closing)
      throw new SshcastError('ERR_INVALID_STATE', `write after close: ${this.name}`);
    if (this.#offset === 0 && !this.#writing && this.#queue.length === 0 && this.#ops.writeSync) {
      return this.#writeFirst(lines, this.#ops.writeSync);
    }
    this.#queue.push(lines);
    this.#queued += lines.length;
    if (!this.#writing) this.#writeOrWait();
    if (this.#queued >= this.#hwm) {
      this.#needDrain = true;
      return false;
    }
    return true;
  }

  #writeFirst(lines: Buffer, writeSync: (fd: number, buffer: Buffer) => number): boolean {
    try {
      writeLinesSync(this.#fd, this.name, lines, writeSync);
    } catch (err) {
      this.#failed = true;
      throw err;
    }
    this.#offset = lines.length;
    this.onWritten?.(lines.length);
    return true;
  }

  readonly #flushNow = (): void => {
    clearTimeout(this.#batchTimer);
    this.#batchTimer = undefined;
    if (!this.#writing) this.#flush();
  };

  // A few queued lines wait for more (a first line, or those that came during a write); a full
  // batch, a closing sink or an empty queue goes on at once.
  #writeOrWait(): void {
    const little = this.#queue.length > 0 && this.#queued < BATCH_BYTES;
    if (this.#batchMs > 0 && little && !this.#closing && !this.#failed) {
      this.#writing = false;
      this.#batchTimer ??= setTimeout(this.#flushNow, this.#batchMs);
      return;
    }
    clearTimeout(this.#batchTimer);
    this.#batchTimer = undefined;
    this.#flush();
  }

  #flush(): void {
    if (this.#failed || this.#queue.length === 0) {
      this.#writing = false;
      if (this.#needDrain && !this.#failed) {
        this.#needDrain = false;
        this.emit('drain');
      }
      this.#idle?.();
      return;
    }
    this.#writing = true;
    const batch = this.#queue.length <= MAX_BATCH ? this.#queue : this.#queue.slice(0, MAX_BATCH);
    this.#queue = this.#queue.length <= MAX_BATCH ? [] : this.#queue.slice(MAX_BATCH);
    let size = 0;
    for (const b of batch) size += b.length;
    this.#queued -= size;
    const start = this.#offset;
    this.#writeAll(batch, size, 0, (err, written) => {
      if (err) return this.#fail(err, start + wholeLines(batch, written));
      this.#offset = start + size;
      this.onWritten?.(this.#offset);
      if (this.#needDrain && this.#queued < this.#hwm) {
        this.#needDrain = false;
        this.emit('drain');
      }
      this.#writeOrWait();
    });
  }

  // writev may write less than asked (a full disk, a signal): write the rest, or fail.
  // `cb` gets how many bytes reached the file, also on failure.
  #writeAll(
    bufs: Buffer[],
    size: number,
    done: number,
    cb: (err: Error | null, written: number) => void,
  ): void {
    this.#ops.writev(this.#fd, bufs, (err, n) => {
      if (err) return cb(err, done);
      if (n === 0 && size - done > 0) return cb(new Error('write made no progress'), done);
      done += n;
      if (done >= size) return cb(null, done);
      this.#writeAll(unwritten(bufs, n), size, done, cb);
    });
  }

  #fail(err: Error, goodOffset: number): void {
    this.#failed = true;
    this.#writing = false;
    this.#queue = [];
    this.#queued = 0;
    // Drop the part of a line that reached the file, so the file ends on a complete line.
    this.#ops.ftruncate(this.#fd, goodOffset, () => {
      this.#offset = goodOffset;
      this.emit('error', new SinkWriteError(this.name, err));
      this.#idle?.();
    });
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      if (this.#batchTimer) this.#flushNow();
      if (this.#writing) await new Promise<void>((resolve) => (this.#idle = resolve));
      this.#idle = undefined;
      if (this.#fsync && !this.#failed) {
        await new Promise<void>((resolve) =>
          this.#ops.fsync(this.#fd, (err) => {
            if (err) this.emit('error', new SinkWriteError(this.name, err));
            resolve();
          }),
        );
      }
      if (!this.#keepOpen)
        await new Promise<void>((resolve) => this.#ops.close(this.#fd, () => resolve()));
    })();
    return this.#closing;
  }
}

/**
 * Writes `lines` at the start of the empty file `fd`, synchronously, or truncates the file back to
 * empty and throws a SinkWriteError naming `name`: how a recording's header is written.
 */
export function writeLinesSync(
  fd: number,
  name: string,
  lines: Buffer,
  writeSync: (fd: number, buffer: Buffer) => number = fs.writeSync,
): void {
  let done = 0;
  try {
    while (done < lines.length) {
      const n = writeSync(fd, lines.subarray(done));
      if (n <= 0) throw new Error('write made no progress');
      done += n;
    }
  } catch (err) {
    if (done > 0) {
      try {
        fs.ftruncateSync(fd, 0);
      } catch {
        // The caller removes the file anyway.
      }
    }
    throw new SinkWriteError(name, err);
  }
}

/**
 * A file system error as another thread reported it (its message and errno code): the cause of
 * the SinkWriteError emitted here.
 */
export function reportedWriteError(message: string, code: string | undefined): Error {
  return Object.assign(new Error(message), code === undefined ? {} : { code });
}

/** The buffers left of `bufs` once its first `n` bytes are written (a short write). */
export function unwritten(bufs: Buffer[], n: number): Buffer[] {
  const rest: Buffer[] = [];
  for (const b of bufs) {
    if (n >= b.length) {
      n -= b.length;
      continue;
    }
    rest.push(n > 0 ? b.subarray(n) : b);
    n = 0;
  }
  return rest;
}

/** How many bytes of `lines` (each buffer whole lines) are whole lines within the first `written`. */
export function wholeLines(lines: Buffer[], written: number): number {
  let whole = 0;
  for (const b of lines) {
    if (whole + b.length > written) break;
    whole += b.length;
  }
  return whole;
}
