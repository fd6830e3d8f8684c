/**
 * A recording's writer on the server's thread when the recording thread does the work: each event
 * is stamped here (so times are the server's, taken when the client was shown the bytes), copied
 * into a batch, and the batch goes to the thread after {@link BATCH_MS} or at {@link BATCH_BYTES}.
 * The thread encodes, seals and writes (worker.ts) and reports back what it wrote: bytes, lines,
 * chain digests, the file's size on disk, failures.
 *
 * The header is written here, synchronously, so that a recording that cannot start fails at
 * start. Backpressure is end to end: past {@link HIGH_WATER} bytes the thread has not taken,
 * `output()` returns false, and the thread takes no more while its file's queue is full.
 */
import fs from 'node:fs';
import type { Worker } from 'node:worker_threads';
import type { EventCode } from '../../asciicast/event.js';
import type { Clock } from '../../clock.js';
import { SinkWriteError, SshcastError } from '../../errors.js';
import { ProcessThread, workerScript } from '../../process-thread.js';
import type { LineHasher } from '../../sealing/hasher.js';
import { reportedWriteError, writeLinesSync, type WrittenFile } from '../file-sink.js';
import { EventKinds, headerLine, type HeaderFields, type RecordingWriter } from '../writer.js';
import { CUT, RECORD_HEAD, type FromThread, type ToThread } from './protocol.js';

/** A batch goes to the thread when it holds this many bytes... */
export const BATCH_BYTES = 64 * 1024;
/** ...or when its first event has waited this long (milliseconds). */
export const BATCH_MS = 2;
/** Bytes sent to the thread and not taken by its file's queue, past which `output()` is false. */
export const HIGH_WATER = 512 * 1024;

const O = 0x6f; // 'o'
const X = 0x78; // 'x'
/**
 * What an event line adds to its data's length, about (`[time, "o", "` and `"]` and LF). An event
 * is admitted before the thread knows its line's exact size: as its data's length times what the
 * thread's lines so far weighed per byte sent (escapes make a line up to six times its data),
 * and at least this much more than its data; what the exact sizes add is admitted when the
 * thread reports them.
 */
const LINE_OVERHEAD = 24;
/** A byte of data is at most this many bytes of its line (a control character's `\u00XX`). */
const MOST_PER_BYTE = 6;

/** The process's recording thread, started with the first threaded recording. */
class RecordingThread {
  static readonly #writers = new Map<number, ThreadWriter>();
  static #nextId = 1;
  // When it ends, its recordings fail (each under its policy); later ones start another thread,
  // or are written on the server's thread where none can run (process-thread.ts).
  static readonly thread = new ProcessThread<FromThread>(
    workerScript(import.meta.url, 'worker.js'),
    {
      message: (m) => RecordingThread.#writers.get(m.id)?.receive(m),
      ended: (why) => {
        const writers = [...RecordingThread.#writers.values()];
        RecordingThread.#writers.clear();
        for (const w of writers) w.lost(why);
      },
    },
  );

  /** The thread; undefined where it cannot run (no build of it beside this module). */
  static get(): RecordingThread | undefined {
    const worker = RecordingThread.thread.get();
    return worker && new RecordingThread(worker);
  }

  readonly #worker: Worker;

  private constructor(worker: Worker) {
    this.#worker = worker;
  }

  register(writer: ThreadWriter): number {
    const id = RecordingThread.#nextId++;
    // Held only while recordings are open, so an idle thread never keeps the process alive.
    RecordingThread.thread.hold();
    RecordingThread.#writers.set(id, writer);
    return id;
  }

  release(id: number): void {
    if (RecordingThread.#writers.delete(id)) RecordingThread.thread.release();
  }

  post(m: ToThread, transfer: ArrayBuffer[] = []): void {
    this.#worker.postMessage(m, transfer);
  }
}

/** Options for {@link ThreadWriter}. */
export interface ThreadWriterOptions {
  clock: Clock;
  maxBytes?: number;
  fsync?: boolean;
  /**
   * Asked before each event but the final `x`, with about its line's size (and later with what
   * the lines' escapes added): undefined lets it through, a text cuts the recording there (an `m`
   * event with that label, then only the final `x`).
   */
  admit?: (bytes: number) => string | undefined;
}

/** The build's recording thread script (for tests). */
export const RECORDING_THREAD_SCRIPT = RecordingThread.thread.script;

/**
 * Ends the recording thread as a crash would (for tests); the next threaded recording starts
 * one from `script`.
 */
export async function endRecordingThreadForTests(script: string): Promise<void> {
  await RecordingThread.thread.end(script);
}

/** One recording written by the recording thread. Use {@link ThreadWriter.create}. */
export class ThreadWriter extends EventKinds implements RecordingWriter, WrittenFile {
  readonly threaded = true;
  readonly sinkName: string;
  readonly #thread: RecordingThread;
  readonly #fd: number;
  readonly #options: ThreadWriterOptions;
  #id = 0;
  #state: 'new' | 'live' | 'failed' | 'closed' = 'new';
  #origin = 0;
  #last = 0;
  #startWall = 0;
  #bytes = 0;
  #lines = 0;
  #written = 0;
  #batch: Buffer | undefined;
  #used = 0;
  #timer: NodeJS.Timeout | undefined;
  /** Batch bytes not yet taken by the thread (sent or not). */
  #inFlight = 0;
  /** The most the lines of the batch being filled, and of each batch sent, can add to the file. */
  #most = 0;
  #sentMost: number[] = [];
  #queuedMost = 0;
  /**
   * Batches the thread has written, which it counts here as it writes each (its report comes
   * later, when this thread gets to it: until then statfs already has the bytes).
   */
  readonly #done = new Int32Array(new SharedArrayBuffer(4));
  #settled = 0;
  #needDrain = false;
  /** Cut (or capped by the thread): only the `x` is sent. */
  #cut = false;
  /** Bytes admitted before sending, and what the thread's exact sizes added to them. */
  #estimated = 0;
  #corrected = 0;
  /** Bytes of lines per batch byte so far, as the thread reports them. */
  #weight = 1;
  /** Batch bytes the thread has written. */
  #taken = 0;
  #closed: (() => void) | undefined;
  #closing: Promise<void> | undefined;
  #hasher: LineHasher | undefined;
  onWritten: ((bytes: number) => void) | undefined;

  private constructor(thread: RecordingThread, fd: number, path: string, o: ThreadWriterOptions) {
    super();
    this.#thread = thread;
    this.#fd = fd;
    this.sinkName = path;
    this.#options = o;
  }

  /**
   * A writer for the empty file `fd` at `path` (it takes the descriptor), or undefined when the
   * recording thread cannot run here.
   */
  static create(fd: number, path: string, options: ThreadWriterOptions): ThreadWriter | undefined {
    const thread = RecordingThread.get();
    return thread && new ThreadWriter(thread, fd, path, options);
  }

  /**
   * Seals the recording with `hasher` (call before `start()`): it hashes the header here and is
   * given the digests of the lines the thread hashes.
   */
  sealWith(hasher: LineHasher): void {
    this.#hasher = hasher;
  }

  get bytes(): number {
    return this.#bytes;
  }

  get lines(): number {
    return this.#lines;
  }

  get startTime(): number {
    return this.#startWall;
  }

  get failed(): boolean {
    return this.#state === 'failed';
  }

  get bytesWritten(): number {
    return this.#written;
  }

  /**
   * At most how many bytes the batches not yet written will add to the file. The thread writes
   * each batch before it reports it, so what it reported is in the file; what it did not report
   * is counted as the largest its lines can be (the free-space floors must not be passed because
   * a flood of escapes came faster than the thread's reports).
   */
  get queuedBytes(): number {
    this.#settle();
    return this.#queuedMost + this.#most;
  }

  /**
   * Writes the header synchronously (throws a SinkWriteError when it cannot), then hands the
   * file to the thread.
   */
  start(header: HeaderFields): boolean {
    if (this.#state !== 'new')
      throw new SshcastError('ERR_INVALID_STATE', 'ThreadWriter.start() called twice');
    const { clock } = this.#options;
    const hasher = this.#hasher;
    this.#origin = clock.monotonic();
    this.#startWall = clock.wall();
    const line = headerLine(header, this.#startWall);
    writeLinesSync(this.#fd, this.sinkName, line);
    this.#state = 'live';
    this.#bytes = this.#written = line.length;
    this.#lines = 1;
    hasher?.onLine(line);
    this.#id = this.#thread.register(this);
    this.#thread.post({
      t: 'open',
      id: this.#id,
      fd: this.#fd,
      path: this.sinkName,
      bytes: line.length,
      maxBytes: this.#options.maxBytes ?? Infinity,
      fsync: this.#options.fsync ?? false,
      done: this.#done.buffer as SharedArrayBuffer,
      header: hasher ? new Uint8Array(line).buffer : undefined,
    });
    this.onWritten?.(line.length);
    return true;
  }

  /** Microseconds since start, never less than the last event's. */
  now(): number {
    const t = this.#options.clock.monotonic() - this.#origin;
    if (t > this.#last) this.#last = t;
    return this.#last;
  }

  #append(code: number, data: Uint8Array | string): boolean {
    if (this.#state === 'new')
      throw new SshcastError('ERR_INVALID_STATE', 'ThreadWriter: start() first');
    if (this.#state !== 'live' || (this.#cut && code !== X)) return true;
    const length = typeof data === 'string' ? Buffer.byteLength(data) : data.length;
    if (code !== X) {
      const size = Math.max(
        length + LINE_OVERHEAD,
        Math.ceil((length + RECORD_HEAD) * this.#weight),
      );
      if (!this.#admitted(size)) return true;
      this.#estimated += size;
    }
    return this.#record(code, data, length);
  }

  // Admits `bytes` more; false (and a cut record sent in order) when a limit cuts the recording.
  #admitted(bytes: number): boolean {
    const cut = this.#options.admit?.(bytes);
    if (cut === undefined) return true;
    this.#cut = true;
    this.#record(CUT, cut, Buffer.byteLength(cut));
    return false;
  }

  #record(code: number, data: Uint8Array | string, length: number): boolean {
    const size = RECORD_HEAD + length;
    if (this.#batch && this.#used + size > this.#batch.length) this.#send();
    this.#batch ??= Buffer.allocUnsafeSlow(Math.max(BATCH_BYTES, size));
    const b = this.#batch;
    const at = this.#used;
    b[at] = code;
    b.writeDoubleLE(this.now(), at + 1);
    b.writeUInt32LE(length, at + 9);
    if (typeof data === 'string') b.write(data, at + RECORD_HEAD, 'utf8');
    else b.set(data, at + RECORD_HEAD);
    this.#used = at + size;
    this.#inFlight += size;
    this.#most += MOST_PER_BYTE * length + LINE_OVERHEAD;
    if (this.#used >= BATCH_BYTES) this.#send();
    else this.#timer ??= setTimeout(this.#sendNow, BATCH_MS);
    if (this.#inFlight < HIGH_WATER) return true;
    this.#needDrain = true;
    return false;
  }

  readonly #sendNow = (): void => this.#send();

  #send(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const batch = this.#batch;
    if (!batch || this.#used === 0) return;
    this.#batch = undefined;
    const used = this.#used;
    this.#used = 0;
    this.#sentMost.push(this.#most);
    this.#queuedMost += this.#most;
    this.#most = 0;
    const buf = batch.buffer as ArrayBuffer;
    this.#thread.post({ t: 'data', id: this.#id, buf, used }, [buf]);
  }

  outputUtf8(data: Uint8Array): boolean {
    return data.length === 0 ? true : this.#append(O, data);
  }

  event(code: EventCode, data: string): boolean {
    return this.#append(code.charCodeAt(0), data);
  }

  /** Sends what waits and the end; resolves when the thread has written and closed the file. */
  close(): Promise<void> {
    this.#closing ??= new Promise<void>((resolve) => {
      if (this.#state === 'new') {
        fs.close(this.#fd, () => resolve());
        this.#state = 'closed';
        return;
      }
      this.#closed = resolve;
      if (this.#state === 'live') this.#state = 'closed';
      this.#send();
      this.#thread.post({ t: 'finish', id: this.#id });
    });
    return this.#closing;
  }

  /** @internal A report from the thread. */
  receive(m: FromThread): void {
    switch (m.t) {
      case 'progress':
        return this.#progress(m);
      case 'error':
        return this.#fail(new SinkWriteError(this.sinkName, reportedWriteError(m.message, m.code)));
      case 'closed':
        this.#bytes = m.bytes;
        this.#lines = m.lines;
        this.#thread.release(this.#id);
        fs.close(this.#fd, () => this.#closed?.());
    }
  }

  #progress(m: Extract<FromThread, { t: 'progress' }>): void {
    this.#inFlight -= m.acked;
    this.#settle();
    if (m.written !== this.#written) {
      this.#written = m.written;
      this.onWritten?.(m.written);
    }
    this.#bytes = m.bytes;
    this.#lines = m.lines;
    if (m.ends && m.digests) this.#hasher?.add(m.ends, Buffer.from(m.digests));
    if (m.capped) this.#cut = true;
    this.#taken += m.acked;
    if (this.#taken > 0) this.#weight = Math.max(1, m.admitted / this.#taken);
    // Escapes made lines longer than admitted: admit the difference (it may cut the recording).
    const extra = m.admitted - this.#estimated - this.#corrected;
    if (extra > 0 && !this.#cut && this.#state === 'live') {
      this.#corrected += extra;
      this.#admitted(extra);
    }
    if (this.#needDrain && this.#inFlight < HIGH_WATER) {
      this.#needDrain = false;
      this.emit('drain');
    }
  }

  #settle(): void {
    const done = Atomics.load(this.#done, 0);
    for (; this.#settled < done && this.#sentMost.length > 0; this.#settled++)
      this.#queuedMost -= this.#sentMost.shift()!;
  }

  #fail(err: SinkWriteError): void {
    if (this.#state === 'failed') return;
    this.#state = 'failed';
    clearTimeout(this.#timer);
    this.#batch = undefined;
    this.#used = 0;
    this.#inFlight = 0;
    this.#most = this.#queuedMost = 0;
    this.#sentMost = [];
    this.emit('error', err);
    // Nothing is written any more: a caller waiting to write more may go on.
    if (this.#needDrain) {
      this.#needDrain = false;
      this.emit('drain');
    }
  }

  /** @internal The thread ended before this recording was finished. */
  lost(why: unknown): void {
    this.#fail(new SinkWriteError(this.sinkName, `the recording thread stopped: ${String(why)}`));
    fs.close(this.#fd, () => this.#closed?.());
  }
}
