/**
 * The chain of a recording being written, computed from each line's exact bytes as the writer's
 * line hook sees them, and tracking what is actually in the file: a seal covers only lines that
 * are both hashed and written (a write that failed and was cut back is never sealed).
 *
 * A flood of output is hashed on one worker thread per process, in batches of up to 1 MiB, so
 * the writer's thread keeps its speed (SHA-256 of every byte on the writer's thread cost a fifth of
 * its throughput). Lines wait up to 20 ms for more: the few KiB an ordinary session gives in that
 * time are hashed on the writer's thread, where they cost less than a message to the worker (a
 * message and its answer cost the writer's thread 40–70 µs here). The header is hashed at once, so a
 * recording's `open` entry can be written when it starts. Memory stays bounded: past
 * {@link MAX_IN_FLIGHT} bytes waiting for the worker, the writer waits for it.
 */
import crypto from 'node:crypto';
import { Worker } from 'node:worker_threads';
import { ChainStepper, chainStepInPlace, type Digest, digestHex } from './chain.js';
import type { ChainPoint } from './ledger.js';

/** Lines are sent to the worker in batches of about this many bytes (or at the next turn). */
const BATCH_BYTES = 1024 * 1024;
/**
 * Lines wait this long for more before they are hashed (a batch also goes at BATCH_BYTES). A
 * pty gives 4 KiB a turn of the event loop: hashed every turn, a flood never reached the worker;
 * every 2 ms, a flood through SSH was a message each way per 100 KB. What waits is bounded by the
 * output's rate (50 MB/s is 1 MB in 20 ms, however many sessions share it), and a seal, at most
 * once a second, covers what is hashed by then.
 */
const BATCH_MS = 20;
/** A flush of at most this many bytes is hashed on the writer's thread when the worker is idle. */
const INLINE_BYTES = 64 * 1024;
/** Bytes sent to the worker and not yet hashed, above which the writer waits. */
export const MAX_IN_FLIGHT = 32 * 1024 * 1024;
/** Room in front of a batch's first line, where the worker writes the digest before it. */
const RESERVE = 32;
/**
 * The size of the batch buffers that go back and forth between the threads (a batch is sent once
 * it reaches BATCH_BYTES, so its last line may take it past that). A larger batch gets a buffer
 * of its own. Reused, they cost neither a fresh allocation nor the page faults of first writing
 * it: copying 122 MB into fresh 1 MiB buffers took 38–45 ms here, into one reused 15 ms.
 */
const BUFFER_BYTES = RESERVE + BATCH_BYTES + 256 * 1024;
/** Batch buffers kept for reuse while none is out (2.5 MiB). */
const SPARE_BUFFERS = 2;

/** Lines `firstLine`… hashed: each one's end offset in the file and 32-byte chain digest. */
type Hashed = (firstLine: number, ends: number[], digests: Buffer) => void;

/** What the hasher needs to know of the file: how many bytes of whole lines it holds. */
export interface WrittenBytes {
  readonly bytesWritten: number;
}

interface Batch {
  /** The line number of the batch's first line. */
  firstLine: number;
  /** Each line's end offset in the file. */
  ends: number[];
  /** 32 bytes per line, once the worker answered. */
  digests: Buffer | undefined;
}

type Reply = { id: number; digests: ArrayBuffer; data: ArrayBuffer };

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const crypto = require('node:crypto');
const chainStepInPlace = ${chainStepInPlace.toString()};
const hashed = new BigInt64Array(workerData.hashed);
const chains = new Map();
parentPort.on('message', (m) => {
  if (m.end) return void chains.delete(m.id);
  let c = m.prev ?? chains.get(m.id);
  // The batch's buffer is this thread's until it goes back: each digest is written over the
  // end of the line before, in front of the next line, which is hashed where it lies.
  const data = Buffer.from(m.data);
  const out = Buffer.allocUnsafeSlow(32 * m.ends.length);
  let start = ${RESERVE};
  for (let i = 0; i < m.ends.length; i++) {
    const end = ${RESERVE} + m.ends[i];
    c = chainStepInPlace(crypto, data, c, start, end);
    out.write(c, 32 * i, 'latin1');
    start = end;
  }
  chains.set(m.id, c);
  parentPort.postMessage({ id: m.id, digests: out.buffer, data: m.data }, [out.buffer, m.data]);
  Atomics.add(hashed, 0, BigInt(m.bytes));
  Atomics.notify(hashed, 0);
});
`;

/** The process's hashing worker, started on first use; undefined where none can start. */
class HashWorker {
  static #instance: HashWorker | null | undefined;
  readonly #worker: Worker;
  readonly #hashed = new BigInt64Array(new SharedArrayBuffer(8));
  readonly #handlers = new Map<number, { answered(digests: Buffer): void; dead(): void }>();
  #posted = 0n;
  /** Batch buffers back from the worker, for the next batches. */
  readonly #spare: ArrayBuffer[] = [];
  /** Batches sent and not answered yet. */
  #out = 0;
  #nextId = 1;

  private constructor() {
    this.#worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { hashed: this.#hashed.buffer },
    });
    this.#worker.on('message', (m: Reply) => {
      // Held only while batches are out, so an idle worker never keeps the process alive.
      if (--this.#out === 0) this.#worker.unref();
      if (m.data.byteLength === BUFFER_BYTES && this.#spare.length < SPARE_BUFFERS)
        this.#spare.push(m.data);
      this.#handlers.get(m.id)?.answered(Buffer.from(m.digests));
    });
    // Only a bug could end the worker: its recordings stop sealing further lines (each is told),
    // and later recordings hash on their own thread.
    this.#worker.on('error', () => this.#dead());
    this.#worker.on('exit', () => this.#dead());
    this.#worker.unref();
  }

  static get(): HashWorker | undefined {
    if (HashWorker.#instance === undefined) {
      try {
        HashWorker.#instance = new HashWorker();
      } catch {
        HashWorker.#instance = null;
      }
    }
    return HashWorker.#instance ?? undefined;
  }

  #dead(): void {
    HashWorker.#instance = null;
    for (const h of this.#handlers.values()) h.dead();
    this.#handlers.clear();
  }

  register(handler: { answered(digests: Buffer): void; dead(): void }): number {
    const id = this.#nextId++;
    this.#handlers.set(id, handler);
    return id;
  }

  unregister(id: number): void {
    if (this.#handlers.delete(id)) this.#worker.postMessage({ id, end: true });
  }

  /**
   * A buffer for a batch of `bytes` of lines, written from {@link RESERVE} on (the room before
   * is the worker's).
   */
  buffer(bytes: number): Buffer {
    const spare = RESERVE + bytes <= BUFFER_BYTES ? this.#spare.pop() : undefined;
    return Buffer.from(spare ?? new ArrayBuffer(Math.max(BUFFER_BYTES, RESERVE + bytes)));
  }

  /**
   * Sends a batch: `bytes` of lines in `data` (from {@link buffer}, which goes to the worker and
   * must not be used again), ending at `ends` (offsets from the first line's start).
   */
  post(id: number, prev: Digest | undefined, data: Buffer, bytes: number, ends: Uint32Array): void {
    // Bounded memory: when the worker is this far behind, wait for it (it hashes at GB/s).
    while (this.#posted - Atomics.load(this.#hashed, 0) > BigInt(MAX_IN_FLIGHT)) {
      Atomics.wait(this.#hashed, 0, Atomics.load(this.#hashed, 0), 100);
    }
    const message = {
      id,
      prev,
      data: data.buffer,
      bytes,
      ends,
    };
    if (this.#out++ === 0) this.#worker.ref();
    this.#worker.postMessage(message, [data.buffer as ArrayBuffer, ends.buffer as ArrayBuffer]);
    this.#posted += BigInt(bytes);
  }
}

/**
 * Follows one recording's chain. Pass {@link LineHasher.onLine} as the writer's line hook; ask
 * {@link LineHasher.point} for what can be sealed now.
 */
export class LineHasher {
  readonly #file: WrittenBytes;
  readonly #worker: HashWorker | undefined;
  readonly #id: number;
  readonly #stepper = new ChainStepper();
  #lines = 0;
  #bytes = 0;
  /** The chain's head (its last digest), whenever no batch is out at the worker. */
  #last: Digest | undefined;
  #base: ChainPoint | undefined;
  #header: ChainPoint | undefined;
  #batches: Batch[] = [];
  #pending: Buffer[] = [];
  #pendingEnds: number[] = [];
  #pendingBytes = 0;
  #scheduled = false;
  #inFlight = 0;
  #waiters: (() => void)[] = [];
  #disposed = false;
  readonly #batchMs: number;
  readonly #onHashed: Hashed | undefined;
  #workerBytes = 0;

  /**
   * `file` says how many bytes of whole lines are in the file (a FileSink's `bytesWritten`).
   * `batchMs` (default {@link BATCH_MS}): how long lines wait for more before they are hashed.
   * `onHashed`: told each run of lines once hashed, in order (the recording thread sends them on).
   */
  constructor(
    file: WrittenBytes,
    options: { worker?: boolean; batchMs?: number; onHashed?: Hashed } = {},
  ) {
    this.#file = file;
    this.#batchMs = options.batchMs ?? BATCH_MS;
    this.#onHashed = options.onHashed;
    this.#worker = options.worker === false ? undefined : HashWorker.get();
    this.#id =
      this.#worker?.register({
        answered: (d) => this.#answered(d),
        dead: () => this.dispose(),
      }) ?? 0;
  }

  /** The writer's line hook: every line, header first, as its exact bytes. */
  readonly onLine = (line: Buffer): void => {
    if (this.#disposed) return;
    this.#lines++;
    this.#bytes += line.length;
    if (this.#lines === 1) {
      this.#last = this.#stepper.step(undefined, line);
      this.#header = { lines: 1, bytes: line.length, chain: digestHex(this.#last) };
      const digests = Buffer.from(this.#last, 'latin1');
      this.#batches.push({ firstLine: 1, ends: [this.#bytes], digests });
      this.#onHashed?.(1, [this.#bytes], digests);
      return;
    }
    this.#pending.push(line);
    this.#pendingBytes += line.length;
    this.#pendingEnds.push(this.#bytes);
    if (this.#pendingBytes >= BATCH_BYTES) this.#flush();
    else if (!this.#scheduled) {
      this.#scheduled = true;
      setTimeout(() => this.#flush(), this.#batchMs);
    }
  };

  /**
   * @internal Lines hashed elsewhere (the recording thread, after the header this hook saw): each
   * one's end offset in the file, and its chain digest, 32 bytes each, in order.
   */
  add(ends: ArrayLike<number>, digests: Buffer): void {
    if (this.#disposed || ends.length === 0) return;
    const firstLine = this.#lines + 1;
    this.#lines += ends.length;
    this.#bytes = ends[ends.length - 1]!;
    this.#last = digests.toString('latin1', digests.length - 32);
    this.#batches.push({ firstLine, ends: Array.from(ends), digests });
    this.#trim();
  }

  /** The chain through the header, once the hook has seen it (in the file or not yet). */
  header(): ChainPoint | undefined {
    return this.#header;
  }

  /** @internal Bytes sent to the worker thread to hash. */
  get workerBytes(): number {
    return this.#workerBytes;
  }

  /** Lines the hook has seen. */
  get lines(): number {
    return this.#lines;
  }

  #flush(): void {
    this.#scheduled = false;
    if (this.#pending.length === 0 || this.#disposed) return;
    const firstLine = this.#lines - this.#pending.length + 1;
    const lines = this.#pending;
    const ends = this.#pendingEnds;
    const bytes = this.#pendingBytes;
    this.#pending = [];
    this.#pendingEnds = [];
    this.#pendingBytes = 0;
    // A little output per turn of the event loop (a session's usual pace) costs less to hash here
    // than to send: a message each way costs more than hashing a few KiB. The worker takes the
    // floods, in batches, and only while it holds the chain's head can nothing be hashed here.
    if (!this.#worker || (this.#inFlight === 0 && bytes <= INLINE_BYTES)) {
      const digests = Buffer.allocUnsafe(32 * lines.length);
      let c = this.#last;
      for (let i = 0; i < lines.length; i++) {
        c = this.#stepper.step(c, lines[i]!);
        digests.write(c, 32 * i, 'latin1');
      }
      this.#last = c;
      this.#batches.push({ firstLine, ends, digests });
      this.#onHashed?.(firstLine, ends, digests);
      this.#trim();
      return;
    }
    const data = this.#worker.buffer(bytes);
    let at = RESERVE;
    for (const b of lines) at += b.copy(data, at);
    const base = ends[0]! - lines[0]!.length;
    const relative = new Uint32Array(ends.length);
    for (let i = 0; i < ends.length; i++) relative[i] = ends[i]! - base;
    this.#batches.push({ firstLine, ends, digests: undefined });
    // With nothing out, this thread knows the chain's head (it may have hashed the last lines).
    const prev = this.#inFlight === 0 ? this.#last : undefined;
    this.#inFlight++;
    this.#workerBytes += bytes;
    this.#worker.post(this.#id, prev, data, bytes, relative);
  }

  #answered(digests: Buffer): void {
    const batch = this.#batches.find((b) => b.digests === undefined);
    if (batch) {
      batch.digests = digests;
      this.#onHashed?.(batch.firstLine, batch.ends, digests);
    }
    this.#inFlight--;
    if (this.#inFlight === 0) this.#last = digests.toString('latin1', digests.length - 32);
    this.#trim();
    if (this.#inFlight === 0 && this.#waiters.length > 0) {
      this.#flush(); // what came meanwhile: hashed here, or sent (then the next answer resolves)
      if (this.#inFlight === 0) for (const w of this.#waiters.splice(0)) w();
    }
  }

  /** Forgets the chain below what is in the file (no seal can ever need it). */
  #trim(): void {
    const p = this.point();
    if (!p) return;
    this.#base = p;
    while (this.#batches.length > 0) {
      const b = this.#batches[0]!;
      if (b.digests === undefined || b.ends.at(-1)! > p.bytes) break;
      this.#batches.shift();
    }
  }

  /**
   * The last point both hashed and in the file: what a seal can cover now. Undefined before the
   * header is in the file.
   */
  point(): ChainPoint | undefined {
    const written = this.#file.bytesWritten;
    for (let i = this.#batches.length - 1; i >= 0; i--) {
      const b = this.#batches[i]!;
      if (b.digests === undefined || b.ends[0]! > written) continue;
      let lo = 0;
      let hi = b.ends.length - 1;
      while (lo < hi) {
        const mid = (lo + hi + 1) >> 1;
        if (b.ends[mid]! <= written) lo = mid;
        else hi = mid - 1;
      }
      return {
        lines: b.firstLine + lo,
        bytes: b.ends[lo]!,
        chain: b.digests.subarray(32 * lo, 32 * lo + 32).toString('hex'),
      };
    }
    return this.#base && this.#base.bytes <= written ? this.#base : undefined;
  }

  /** Resolves when every line seen so far is hashed. */
  drained(): Promise<void> {
    this.#flush();
    if (this.#inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /** Releases the worker's state for this recording. */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    if (this.#worker) this.#worker.unregister(this.#id);
    for (const w of this.#waiters.splice(0)) w();
  }
}
