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
 *
 * A file recording's lines are cut from slabs of its own ({@link LineHasher.slabs}), which go to
 * the worker as they are once the file holds them: copying each line into a batch cost the
 * writer's thread a tenth of its throughput, more than the copy's own time (docs/performance.md).
 * The worker hashes the bytes the writer gave, in memory, never what the file holds.
 */
import crypto from 'node:crypto';
import { Worker } from 'node:worker_threads';
import { LineSlabs } from '../asciicast/encoder.js';
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
/** Batch buffers kept for reuse while none is out (3.75 MiB). */
const SPARE_BUFFERS = 3;
/**
 * The size of a sealed recording's own slabs (src/asciicast/encoder.ts) while its output is
 * hashed on this thread: a session's usual trickle keeps no more than this. Once a batch goes to
 * the worker, its slabs are batch buffers ({@link BUFFER_BYTES}).
 */
const SMALL_SLAB = 64 * 1024;

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

/** A run of lines in one buffer: `start` is the first one's offset, `ends` each one's end. */
interface Part {
  data: ArrayBuffer;
  start: number;
  ends: Uint32Array;
}

type Reply = { id: number; digests: ArrayBuffer; datas: ArrayBuffer[] };

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const crypto = require('node:crypto');
const chainStepInPlace = ${chainStepInPlace.toString()};
const hashed = new BigInt64Array(workerData.hashed);
const chains = new Map();
parentPort.on('message', (m) => {
  if (m.end) return void chains.delete(m.id);
  let c = m.prev ?? chains.get(m.id);
  // The batch's buffers are this thread's until they go back: each digest is written over the
  // end of the line before (or the room in front of the first), and the line is hashed where it
  // lies.
  const out = Buffer.allocUnsafeSlow(32 * m.lines);
  let k = 0;
  for (const p of m.parts) {
    const data = Buffer.from(p.data);
    let start = p.start;
    for (let i = 0; i < p.ends.length; i++) {
      const end = p.ends[i];
      c = chainStepInPlace(crypto, data, c, start, end);
      out.write(c, 32 * k++, 'latin1');
      start = end;
    }
  }
  chains.set(m.id, c);
  parentPort.postMessage({ id: m.id, digests: out.buffer, datas: m.datas }, [out.buffer, ...m.datas]);
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
      // The source is CommonJS: a process started with `node --input-type=module -e` would
      // have the worker read it as a module, and it would die at its first line.
      execArgv: process.execArgv.filter((a) => !a.startsWith('--input-type')),
      workerData: { hashed: this.#hashed.buffer },
    });
    this.#worker.on('message', (m: Reply) => {
      // Held only while batches are out, so an idle worker never keeps the process alive.
      if (--this.#out === 0) this.#worker.unref();
      for (const data of m.datas)
        if (data.byteLength === BUFFER_BYTES && this.#spare.length < SPARE_BUFFERS)
          this.#spare.push(data);
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
   * Sends a batch: `lines` lines, `bytes` in all, in `parts`, in order. Each part's buffer goes
   * to the worker and must not be used again; each has room before its first line (the worker
   * writes the previous digest there).
   */
  post(id: number, prev: Digest | undefined, parts: Part[], lines: number, bytes: number): void {
    // Bounded memory: when the worker is this far behind, wait for it (it hashes at GB/s).
    while (this.#posted - Atomics.load(this.#hashed, 0) > BigInt(MAX_IN_FLIGHT)) {
      Atomics.wait(this.#hashed, 0, Atomics.load(this.#hashed, 0), 100);
    }
    const datas = [...new Set(parts.map((p) => p.data))];
    if (this.#out++ === 0) this.#worker.ref();
    this.#worker.postMessage({ id, prev, parts, datas, lines, bytes }, datas);
    this.#posted += BigInt(bytes);
  }
}

/** A batch the worker is to hash once the file holds all of it (its lines are then no sink's). */
interface Waiting {
  /** Its entry in the hasher's batches, digests to come. */
  batch: Batch;
  lines: Buffer[];
  bytes: number;
  /** Whether some of its lines lie in the recording's own slabs (they go without a copy). */
  inSlabs: boolean;
}

/**
 * Follows one recording's chain. Pass {@link LineHasher.onLine} as the writer's line hook; ask
 * {@link LineHasher.point} for what can be sealed now.
 *
 * With `slabs`, the writer cuts the lines from {@link LineHasher.slabs}, slabs of this
 * recording's own: once the file holds every line of a full slab, no sink holds them any more,
 * and the slab goes to the worker as it is, without a copy on the writer's thread. Its lines are
 * hashed as the writer gave them (DESIGN section 6), never read back from the file.
 */
export class LineHasher {
  readonly #file: WrittenBytes;
  readonly #worker: HashWorker | undefined;
  readonly #id: number;
  readonly #stepper = new ChainStepper();
  readonly #slabs: LineSlabs | undefined;
  /** The buffers of this recording's own slabs that have not gone to the worker. */
  readonly #own = new WeakSet<ArrayBufferLike>();
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
  /** Batches for the worker whose lines are not all in the file yet, in order. */
  #waiting: Waiting[] = [];
  /** bytesWritten when the timer last found batches waiting. */
  #waitedAt = -1;
  #scheduled = false;
  #inFlight = 0;
  #waiters: (() => void)[] = [];
  #disposed = false;
  readonly #batchMs: number;
  readonly #onHashed: Hashed | undefined;
  #workerBytes = 0;
  #slabBytes = 0;

  /**
   * `file` says how many bytes of whole lines are in the file (a FileSink's `bytesWritten`).
   * `batchMs` (default {@link BATCH_MS}): how long lines wait for more before they are hashed.
   * `onHashed`: told each run of lines once hashed, in order (the recording thread sends them on).
   * `slabs`: the writer cuts its lines from {@link LineHasher.slabs}, and its sink keeps no line
   * once it is in the file (a FileSink).
   */
  constructor(
    file: WrittenBytes,
    options: { worker?: boolean; batchMs?: number; onHashed?: Hashed; slabs?: boolean } = {},
  ) {
    this.#file = file;
    this.#batchMs = options.batchMs ?? BATCH_MS;
    this.#onHashed = options.onHashed;
    const worker = options.worker === false ? undefined : HashWorker.get();
    this.#worker = worker;
    this.#id =
      worker?.register({
        answered: (d) => this.#answered(d),
        dead: () => this.dispose(),
      }) ?? 0;
    if (worker && options.slabs) {
      this.#slabs = new LineSlabs(SMALL_SLAB, RESERVE, (size) => {
        const slab =
          size === BUFFER_BYTES ? worker.buffer(size - RESERVE) : Buffer.allocUnsafeSlow(size);
        this.#own.add(slab.buffer);
        return slab;
      });
    }
  }

  /** The slabs the writer cuts this recording's lines from, when it was asked to (`slabs`). */
  get slabs(): LineSlabs | undefined {
    return this.#slabs;
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
    if (this.#waiting.length > 0 && this.#file.bytesWritten >= this.#waiting[0]!.batch.ends.at(-1)!)
      this.#sendWritten();
    if (this.#pendingBytes >= BATCH_BYTES) this.#flush();
    else this.#schedule();
  };

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    setTimeout(this.#onTimer, this.#batchMs);
  }

  readonly #onTimer = (): void => {
    this.#scheduled = false;
    this.#flush();
    this.#sendWritten();
    if (this.#disposed || this.#waiting.length === 0) {
      this.#waitedAt = -1;
      return;
    }
    const written = this.#file.bytesWritten;
    // Nothing reached the file for a whole wait: the sink is stalled or failed. What waits is
    // hashed here, from the lines as the writer gave them, so the chain never waits on it.
    if (written === this.#waitedAt && this.#inFlight === 0) {
      this.#waitedAt = -1;
      this.#hashWaitingHere();
    } else {
      this.#waitedAt = written;
      this.#schedule();
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

  /** @internal Of those, bytes sent in the recording's own slabs, without a copy. */
  get slabBytes(): number {
    return this.#slabBytes;
  }

  /** Lines the hook has seen. */
  get lines(): number {
    return this.#lines;
  }

  #flush(): void {
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
    if (
      !this.#worker ||
      (this.#inFlight === 0 && this.#waiting.length === 0 && bytes <= INLINE_BYTES)
    ) {
      const slabs = this.#slabs;
      if (slabs) {
        // Back to a trickle: the flood's last batch buffer is left to its lines, and what comes
        // next is cut from small slabs again.
        slabs.size = SMALL_SLAB;
        if (slabs.slab.length > SMALL_SLAB) slabs.renew();
      }
      this.#hashHere(firstLine, lines, ends);
      return;
    }
    let inSlabs = false;
    const slabs = this.#slabs;
    if (slabs) {
      // The slab the last lines were cut from is left to them: no later line lands in a slab that
      // is on its way to the worker. While the flood lasts, slabs are batch buffers.
      let i = lines.length - 1;
      while (i >= 0 && !this.#own.has(lines[i]!.buffer)) i--;
      inSlabs = i >= 0;
      if (inSlabs && lines[i]!.buffer === slabs.slab.buffer) slabs.renew();
      slabs.size = BUFFER_BYTES;
    }
    const batch: Batch = { firstLine, ends, digests: undefined };
    this.#batches.push(batch);
    this.#waiting.push({ batch, lines, bytes, inSlabs });
    this.#sendWritten();
    if (this.#waiting.length > 0) this.#schedule();
  }

  /** Hashes lines on this thread, from the line buffers as the writer gave them. */
  #hashHere(firstLine: number, lines: Buffer[], ends: number[], batch?: Batch): void {
    const digests = Buffer.allocUnsafe(32 * lines.length);
    let c = this.#last;
    for (let i = 0; i < lines.length; i++) {
      c = this.#stepper.step(c, lines[i]!);
      digests.write(c, 32 * i, 'latin1');
    }
    this.#last = c;
    if (batch) batch.digests = digests;
    else this.#batches.push({ firstLine, ends, digests });
    this.#onHashed?.(firstLine, ends, digests);
    this.#trim();
  }

  /** Hashes every waiting batch here (none may be out at the worker). */
  #hashWaitingHere(): void {
    for (const { batch, lines } of this.#waiting.splice(0))
      this.#hashHere(batch.firstLine, lines, batch.ends, batch);
  }

  /** Sends the waiting batches the file now holds, in order. */
  #sendWritten(): void {
    const worker = this.#worker;
    if (!worker) return;
    while (this.#waiting.length > 0) {
      const w = this.#waiting[0]!;
      // A batch with lines in the recording's slabs goes once the sink is done with them.
      if (w.inSlabs && this.#file.bytesWritten < w.batch.ends.at(-1)!) return;
      this.#waiting.shift();
      const parts = this.#parts(worker, w);
      // With nothing out, this thread knows the chain's head (it may have hashed the last lines).
      const prev = this.#inFlight === 0 ? this.#last : undefined;
      this.#inFlight++;
      this.#workerBytes += w.bytes;
      worker.post(this.#id, prev, parts, w.lines.length, w.bytes);
    }
  }

  /**
   * A batch as the worker takes it: runs of lines in this recording's slabs as they lie there;
   * any other lines copied into a batch buffer, after the room the worker writes in.
   */
  #parts(worker: HashWorker, w: Waiting): Part[] {
    const parts: { data: ArrayBuffer; start: number; ends: number[] }[] = [];
    let copied: Buffer[] = [];
    let copiedBytes = 0;
    const copy = () => {
      if (copied.length === 0) return;
      const data = worker.buffer(copiedBytes);
      const ends: number[] = [];
      let at = RESERVE;
      for (const b of copied) ends.push((at += b.copy(data, at)));
      parts.push({ data: data.buffer as ArrayBuffer, start: RESERVE, ends });
      copied = [];
      copiedBytes = 0;
    };
    for (const line of w.lines) {
      if (!this.#own.has(line.buffer)) {
        copied.push(line);
        copiedBytes += line.length;
        continue;
      }
      copy();
      const data = line.buffer as ArrayBuffer;
      const last = parts.at(-1);
      if (last?.data === data && last.ends.at(-1) === line.byteOffset)
        last.ends.push(line.byteOffset + line.length);
      else parts.push({ data, start: line.byteOffset, ends: [line.byteOffset + line.length] });
      this.#slabBytes += line.length;
    }
    copy();
    for (const p of parts) this.#own.delete(p.data);
    return parts.map((p) => ({ data: p.data, start: p.start, ends: Uint32Array.from(p.ends) }));
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
    this.#sendWritten();
    if (this.#inFlight === 0 && this.#waiters.length > 0) this.#drain();
  }

  /** What `drained()` waits for: every line hashed, here or by the worker. */
  #drain(): void {
    this.#flush(); // what came meanwhile: hashed here, or sent (then the next answer resolves)
    this.#sendWritten();
    if (this.#inFlight > 0) return;
    // Lines still not in the file (a sink closed after a failure) are hashed here.
    this.#hashWaitingHere();
    for (const w of this.#waiters.splice(0)) w();
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
    if (this.#disposed) return Promise.resolve();
    const done = new Promise<void>((resolve) => this.#waiters.push(resolve));
    this.#drain();
    return done;
  }

  /** Releases the worker's state for this recording. */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#waiting = [];
    this.#pending = [];
    if (this.#worker) this.#worker.unregister(this.#id);
    for (const w of this.#waiters.splice(0)) w();
  }
}
