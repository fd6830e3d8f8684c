/**
 * The recording thread: the part of recording that costs CPU per byte (JSON encoding, the sealing
 * chain's SHA-256, the writes) runs here, off the server's thread, which only stamps and copies
 * what the client is shown. Each recording is a CastWriter, as on the server's thread, resumed
 * after the header the server's thread wrote, on a SyncFileSink: this thread has nothing else to
 * do while it writes, and each batch's lines go to the file with one `writev` whose result is
 * known at once (what the report says is in the file is); the server's thread owns the file's
 * descriptor and closes it once the thread is done with it.
 */
import { parentPort } from 'node:worker_threads';
import { SyncFileSink } from '../sync-file-sink.js';
import { CastWriter } from '../writer.js';
import { LineHasher } from '../../sealing/hasher.js';
import type { SinkWriteError } from '../../errors.js';
import type { EventCode } from '../../asciicast/event.js';
import { CUT, RECORD_HEAD, type FromThread, type ToThread } from './protocol.js';

const port = parentPort!;
const O = 0x6f; // 'o'

function post(m: FromThread, transfer: ArrayBuffer[] = []): void {
  port.postMessage(m, transfer);
}

class ThreadRecording {
  readonly #id: number;
  readonly #writer: CastWriter;
  readonly #sink: SyncFileSink;
  /** The time of the record being written: the writer's clock. */
  #time = 0;
  #admitted = 0;
  /** A sealed recording's chain: hashed on a thread of its own (sealing/hasher.ts). */
  readonly #hasher: LineHasher | undefined;
  readonly #done: Int32Array;
  /** While a batch is written: a report follows anyway. */
  #inBatch = false;
  #reportSoon = false;
  #ends: number[] = [];
  #digests: Buffer[] = [];

  constructor(m: Extract<ToThread, { t: 'open' }>) {
    this.#id = m.id;
    this.#done = new Int32Array(m.done);
    this.#sink = new SyncFileSink(m.fd, m.path, {
      offset: m.bytes,
      fsync: m.fsync,
      // The descriptor is the server thread's: it closes it (a thread closing what it did not
      // open gets a warning from Node).
      keepOpen: true,
    });
    if (m.header) {
      // It hashes the header again (the server's thread did): the chain goes on from there.
      this.#hasher = new LineHasher(this.#sink, {
        onHashed: (first, ends, digests) => this.#hashed(first, ends, digests),
      });
      this.#hasher.onLine(Buffer.from(m.header));
    }
    this.#writer = new CastWriter(this.#sink, {
      clock: { monotonic: () => this.#time, wall: () => 0 },
      maxBytes: m.maxBytes,
      admit: (n) => {
        this.#admitted += n;
        return undefined;
      },
      ...(this.#hasher ? { onLine: this.#hasher.onLine } : {}),
    });
    this.#writer.resume(m.bytes, 1);
    this.#writer.on('error', (err: SinkWriteError) => {
      const cause = err.cause as NodeJS.ErrnoException | undefined;
      post({
        t: 'error',
        id: this.#id,
        message: cause?.message ?? err.message,
        code: cause?.code,
      });
    });
  }

  // Digests go to the server's thread with the next report; one comes soon when none is due.
  #hashed(first: number, ends: number[], digests: Buffer): void {
    const skip = first === 1 ? 1 : 0; // the header's: the server's thread has it
    for (let i = skip; i < ends.length; i++) this.#ends.push(ends[i]!);
    if (ends.length > skip) this.#digests.push(digests.subarray(32 * skip, 32 * ends.length));
    if (this.#inBatch || this.#reportSoon) return;
    this.#reportSoon = true;
    setImmediate(() => {
      this.#reportSoon = false;
      if (this.#ends.length > 0) this.#report(0);
    });
  }

  data(buf: Buffer): void {
    this.#inBatch = true;
    this.#sink.cork();
    for (let at = 0; at < buf.length;) {
      const code = buf[at]!;
      this.#time = buf.readDoubleLE(at + 1);
      const end = at + RECORD_HEAD + buf.readUInt32LE(at + 9);
      const data = buf.subarray(at + RECORD_HEAD, end);
      at = end;
      if (code === O) this.#writer.outputUtf8(data);
      else if (code === CUT) this.#writer.cut(data.toString('utf8'));
      else this.#writer.event(String.fromCharCode(code) as EventCode, data.toString('utf8'));
    }
    // Counted as written once it is being written, as FileSink counts a write under way: the file
    // system has it, or is taking it.
    Atomics.add(this.#done, 0, 1);
    this.#sink.uncork();
    this.#inBatch = false;
    this.#report(buf.length);
  }

  #report(acked: number): void {
    const transfer: ArrayBuffer[] = [];
    let ends: Float64Array | undefined;
    let digests: ArrayBuffer | undefined;
    if (this.#ends.length > 0) {
      ends = Float64Array.from(this.#ends);
      // A buffer of its own (Buffer.concat may give a slice of the shared pool) to hand over.
      const own = Buffer.allocUnsafeSlow(32 * this.#ends.length);
      let at = 0;
      for (const d of this.#digests) at += d.copy(own, at);
      digests = own.buffer as ArrayBuffer;
      transfer.push(ends.buffer as ArrayBuffer, digests);
      this.#ends = [];
      this.#digests = [];
    }
    post(
      {
        t: 'progress',
        id: this.#id,
        acked,
        bytes: this.#writer.bytes,
        lines: this.#writer.lines,
        written: this.#sink.bytesWritten,
        admitted: this.#admitted,
        capped: this.#writer.capped,
        ends,
        digests,
      },
      transfer,
    );
  }

  async finish(): Promise<void> {
    await this.#writer.close();
    if (this.#hasher) {
      await this.#hasher.drained();
      this.#hasher.dispose();
      if (this.#ends.length > 0) this.#report(0);
    }
    post({ t: 'closed', id: this.#id, bytes: this.#writer.bytes, lines: this.#writer.lines });
  }
}

const recordings = new Map<number, ThreadRecording>();

port.on('message', (m: ToThread) => {
  switch (m.t) {
    case 'open':
      recordings.set(m.id, new ThreadRecording(m));
      break;
    case 'data':
      recordings.get(m.id)?.data(Buffer.from(m.buf, 0, m.used));
      break;
    case 'finish': {
      const r = recordings.get(m.id);
      recordings.delete(m.id);
      void r?.finish();
      break;
    }
  }
});
