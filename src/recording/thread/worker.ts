/**
 * The recording thread: the part of recording that costs CPU per byte (JSON encoding, the sealing
 * chain's SHA-256, the writes) runs here, off the server's thread, which only stamps and copies
 * what the client is shown. Each recording is a CastWriter, as on the server's thread, resumed
 * after the header the server's thread wrote, on a SyncFileSink: this thread has nothing else to
 * do while it writes, and each batch's lines go to the file with one `writev` whose result is
 * known at once (what the report says is in the file is); the server's thread owns the file's
 * descriptor and closes it once the thread is done with it.
 */
import crypto from 'node:crypto';
import { parentPort } from 'node:worker_threads';
import { SyncFileSink } from '../sync-file-sink.js';
import { CastWriter } from '../writer.js';
import { chainStep, SCRATCH_SIZE } from '../../sealing/chain.js';
import type { SinkWriteError } from '../../errors.js';
import type { EventCode } from '../../asciicast/event.js';
import { CUT, RECORD_HEAD, type FromThread, type ToThread } from './protocol.js';

const port = parentPort!;
const scratch = Buffer.allocUnsafe(SCRATCH_SIZE);
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
  #processed = 0;
  #chain: Buffer | undefined;
  readonly #sealed: boolean;
  readonly #done: Int32Array;
  #ends: number[] = [];
  #digests: Buffer[] = [];

  constructor(m: Extract<ToThread, { t: 'open' }>) {
    this.#id = m.id;
    this.#sealed = m.chain !== undefined;
    this.#done = new Int32Array(m.done);
    if (m.chain) this.#chain = Buffer.from(m.chain);
    this.#sink = new SyncFileSink(m.fd, m.path, {
      offset: m.bytes,
      fsync: m.fsync,
      // The descriptor is the server thread's: it closes it (a thread closing what it did not
      // open gets a warning from Node).
      keepOpen: true,
    });
    this.#writer = new CastWriter(this.#sink, {
      clock: { monotonic: () => this.#time, wall: () => 0 },
      maxBytes: m.maxBytes,
      admit: (n) => {
        this.#admitted += n;
        return undefined;
      },
      ...(this.#sealed ? { onLine: (line: Buffer) => this.#hash(line) } : {}),
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

  #hash(line: Buffer): void {
    this.#chain = chainStep(crypto, scratch, this.#chain, line);
    this.#digests.push(this.#chain);
    this.#ends.push(this.#writer.bytes);
  }

  data(buf: Buffer): void {
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
    this.#processed += buf.length;
    this.#report(buf.length);
  }

  #report(acked: number): void {
    const transfer: ArrayBuffer[] = [];
    let ends: Float64Array | undefined;
    let digests: ArrayBuffer | undefined;
    if (this.#ends.length > 0) {
      ends = Float64Array.from(this.#ends);
      // A buffer of its own (Buffer.concat may give a slice of the shared pool) to hand over.
      const own = Buffer.allocUnsafeSlow(32 * this.#digests.length);
      this.#digests.forEach((d, i) => d.copy(own, 32 * i));
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
        processed: this.#processed,
        capped: this.#writer.capped,
        ends,
        digests,
      },
      transfer,
    );
  }

  async finish(): Promise<void> {
    await this.#writer.close();
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
