/**
 * The collector's tus data store, on `@tus/utils`' DataStore interface, over an ObjectStore.
 * Not @tus/s3-store, whose design does not fit (STACK.md): it re-uploads its pending part at every
 * PATCH (quadratic in a session's length), deletes that part before uploading the merged bytes
 * (acknowledged bytes then exist only in memory), lets a DELETE or a re-POST erase an upload, and
 * locks in one process only. Here every PATCH's bytes become one immutable segment, stored and
 * fenced (leases.ts) before they are acknowledged; an upload is never deleted or re-created; the
 * finished object is composed once (finisher.ts). Bytes written: about 1x while live, 1x more to
 * compose (or a server-side copy for segments of 5 MiB and more).
 */
import type { Readable } from 'node:stream';
import { DataStore, Upload, ERRORS } from '@tus/utils';
import { readChain, type HeldUpload, type Leases } from './leases.js';
import { lengthKey, parseUploadId, segmentKey, uploadDir, uploadKind } from '../storage/layout.js';
import type { ObjectStore } from '../storage/objects.js';
import type { FaultHook } from './faults.js';
import { TusError } from './errors.js';

/** What the store reports as bytes arrive, for the metrics. */
export interface StoreEvents {
  /** `bytes` from `device` were stored and fenced (acknowledged when the request ends). */
  received(device: string, bytes: number): void;
  /** An upload reached its declared length: compose it (finisher.ts). */
  complete(id: string): void;
}

export interface UploadStoreOptions {
  store: ObjectStore;
  leases: Leases;
  /** The biggest segment; a longer PATCH becomes several. Default 8 MiB. */
  segmentBytes?: number;
  /** PATCH bodies held in memory at once, over all requests. Default 256 MiB. */
  bufferBytes?: number;
  faults?: FaultHook;
  events?: Partial<StoreEvents>;
}

/** The JSON of an upload's `info` object. */
export interface UploadInfo {
  device: string;
  name: string;
  kind: string;
  created: string;
  metadata?: Record<string, string | null>;
}

const DEFAULT_SEGMENT_BYTES = 8 * 1024 * 1024;
const DEFAULT_BUFFER_BYTES = 256 * 1024 * 1024;
/** Uploads whose info and done length are remembered (the oldest are forgotten past this). */
const CACHED_UPLOADS = 50_000;

function remember<V>(map: Map<string, V>, key: string, value: V): void {
  map.delete(key);
  map.set(key, value);
  if (map.size > CACHED_UPLOADS) map.delete(map.keys().next().value!);
}

/** A byte budget: take() waits while the budget is spent, unless the caller can flush instead. */
class Budget {
  #free: number;
  readonly #waiters: (() => void)[] = [];

  constructor(bytes: number) {
    this.#free = bytes;
  }

  /** Takes `n` bytes if free now. */
  tryTake(n: number): boolean {
    if (this.#free < n) return false;
    this.#free -= n;
    return true;
  }

  /** Takes `n` bytes, waiting for them (a request holding none cannot deadlock the rest). */
  async take(n: number): Promise<void> {
    while (!this.tryTake(n)) await new Promise<void>((r) => this.#waiters.push(r));
  }

  give(n: number): void {
    this.#free += n;
    for (const w of this.#waiters.splice(0)) w();
  }
}

export class UploadStore extends DataStore {
  readonly #store: ObjectStore;
  readonly #leases: Leases;
  readonly #segmentBytes: number;
  readonly #budget: Budget;
  readonly #faults: FaultHook;
  readonly #events: Partial<StoreEvents>;
  readonly #infos = new Map<string, UploadInfo>();
  readonly #done = new Map<string, number>();
  /** Ids being created by a POST (the locker then takes a lease for an upload with no info). */
  readonly creating = new Set<string>();

  constructor(options: UploadStoreOptions) {
    super();
    this.extensions = ['creation', 'creation-defer-length'];
    this.#store = options.store;
    this.#leases = options.leases;
    this.#segmentBytes = options.segmentBytes ?? DEFAULT_SEGMENT_BYTES;
    this.#budget = new Budget(Math.max(options.bufferBytes ?? DEFAULT_BUFFER_BYTES, 1 << 16));
    this.#faults = options.faults ?? (() => {});
    this.#events = options.events ?? {};
  }

  /** The upload's info, or undefined if it was never created. */
  async info(id: string): Promise<UploadInfo | undefined> {
    const cached = this.#infos.get(id);
    if (cached) return cached;
    let body: Buffer;
    try {
      body = await this.#store.get(`${uploadDir(id)}info`);
    } catch (err) {
      if ((err as { code?: string }).code === 'ERR_OBJECT_NOT_FOUND') return undefined;
      throw err;
    }
    const info = JSON.parse(body.toString('utf8')) as UploadInfo;
    remember(this.#infos, id, info);
    return info;
  }

  /** The finished length, if the upload is done (its object composed). */
  async doneLength(id: string): Promise<number | undefined> {
    const cached = this.#done.get(id);
    if (cached !== undefined) return cached;
    const head = await this.#store.head(`${uploadDir(id)}done`);
    if (!head) return undefined;
    const length = Number((await this.#store.get(`${uploadDir(id)}done`)).toString('utf8'));
    remember(this.#done, id, length);
    return length;
  }

  /** Marks an upload done (the finisher composed it). */
  markDone(id: string, length: number): void {
    remember(this.#done, id, length);
    this.#leases.forget(id);
  }

  /**
   * Called by the locker with the upload's lock held: takes the upload's lease when it can be
   * written (it exists and is not done, or a POST is creating it).
   */
  async prepare(id: string): Promise<void> {
    // Held: it exists and is not done (we would have finished it), and the lease may need renewal.
    if (!this.creating.has(id) && !this.#leases.held(id)) {
      if (!(await this.info(id))) return;
      if ((await this.doneLength(id)) !== undefined) return;
    }
    await this.#leases.acquire(id);
  }

  override async create(upload: Upload): Promise<Upload> {
    const parsed = parseUploadId(upload.id);
    if (!parsed) throw new TusError(400, 'bad upload name');
    if (await this.info(upload.id)) throw new TusError(409, 'this upload exists already');
    if (!this.#leases.held(upload.id)) throw new TusError(423, 'upload not locked; retry');
    const info: UploadInfo = {
      device: parsed.device,
      name: parsed.name,
      kind: uploadKind(parsed.name)!,
      created: upload.creation_date ?? new Date().toISOString(),
      ...(upload.metadata ? { metadata: upload.metadata } : {}),
    };
    await this.#store.put(`${uploadDir(upload.id)}info`, Buffer.from(JSON.stringify(info) + '\n'));
    remember(this.#infos, upload.id, info);
    this.creating.delete(upload.id);
    return upload;
  }

  override async getUpload(id: string): Promise<Upload> {
    const info = await this.info(id);
    if (!info) throw ERRORS.FILE_NOT_FOUND;
    const base = {
      id,
      metadata: info.metadata,
      creation_date: info.created,
      storage: { type: 'sshcast', path: id },
    };
    const h = this.#leases.held(id);
    if (h) return new Upload({ ...base, offset: h.offset, size: h.length });
    const done = await this.doneLength(id);
    if (done !== undefined) return new Upload({ ...base, offset: done, size: done });
    const chain = await readChain(this.#store, id);
    return new Upload({ ...base, offset: chain.end, size: chain.length });
  }

  #holder(id: string): HeldUpload {
    const h = this.#leases.held(id);
    if (!h) throw new TusError(423, 'this collector does not hold the upload; retry');
    return h;
  }

  override async declareUploadLength(id: string, length: number): Promise<void> {
    const h = this.#holder(id);
    if (h.length !== undefined) throw ERRORS.INVALID_LENGTH;
    try {
      await this.#store.put(lengthKey(id, h.gen.gen, h.offset, length), Buffer.alloc(0));
      await this.#faults('length:put');
      await this.#leases.check(h);
    } catch (err) {
      this.#leases.drop(id);
      throw err;
    }
    h.length = length;
    if (h.offset === length) this.#events.complete?.(id);
  }

  override async write(stream: Readable, id: string, offset: number): Promise<number> {
    const h = this.#holder(id);
    if (offset !== h.offset) throw ERRORS.INVALID_OFFSET;
    const device = parseUploadId(id)!.device;
    let chunks: Buffer[] = [];
    let held = 0;
    const flush = async () => {
      if (held === 0) return;
      const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, held);
      chunks = [];
      try {
        await this.#writeSegment(h, body);
        this.#events.received?.(device, body.length);
      } finally {
        this.#budget.give(held);
        held = 0;
      }
    };
    try {
      for await (const data of stream) {
        let chunk = data as Buffer;
        while (chunk.length > 0) {
          const room = this.#segmentBytes - held;
          const part = chunk.length > room ? chunk.subarray(0, room) : chunk;
          chunk = chunk.subarray(part.length);
          // Out of budget: store what we hold first, so that no request waits holding memory.
          if (!this.#budget.tryTake(part.length)) {
            await flush();
            await this.#budget.take(part.length);
          }
          chunks.push(part);
          held += part.length;
          if (held >= this.#segmentBytes) await flush();
        }
      }
      await flush();
    } catch (err) {
      this.#budget.give(held);
      throw err;
    }
    if (h.length !== undefined && h.offset === h.length) this.#events.complete?.(id);
    return h.offset;
  }

  async #writeSegment(h: HeldUpload, body: Buffer): Promise<void> {
    await this.#faults('segment:received');
    if (h.lost) throw new TusError(423, 'another collector took this upload over; retry');
    try {
      await this.#leases.renewIfDue(h);
      if (h.lost) throw new TusError(423, 'another collector took this upload over; retry');
      await this.#faults('segment:ready');
      await this.#store.put(segmentKey(h.id, h.gen.gen, h.offset), body);
      await this.#faults('segment:put');
      await this.#leases.check(h);
      await this.#faults('segment:checked');
    } catch (err) {
      // The segment may or may not be stored: the next writer finds out from the bucket.
      this.#leases.drop(h.id);
      throw err;
    }
    h.offset += body.length;
  }

  override async remove(): Promise<void> {
    throw new TusError(405, 'uploads cannot be deleted');
  }
}
