/**
 * Which collector writes an upload, kept in the bucket so that any collector can take over and
 * two never write at once, even when one is stalled (SIGSTOP, a VM pause) and wakes up later.
 *
 * A lease alone cannot do that: a writer that checked its lease, then stalled, writes after the
 * lease passed to another. So the lease is also a fencing token the store itself checks. The
 * `lease` object holds a random nonce, and its ETag identifies the holder:
 *
 * - Taking over: write a fresh lease, wait `settleMs` (so that copies the store had already
 *   accepted under the old lease have landed), read it back (still ours?), list the upload and
 *   resolve where it ends (storage/chain.ts), then create the generation record by a copy *of the
 *   lease* conditional on our ETag: the store refuses it if anyone took over meanwhile.
 * - Writing: each segment is put under our generation's name, then the lease's ETag is checked;
 *   only then is it acknowledged. A segment whose writer lost the lease before its check is never
 *   acknowledged, and lies beyond where the next generation begins, so it is never read.
 * - Renewing: a copy of the lease onto itself conditional on our ETag (a stalled writer cannot
 *   renew a lease that passed on). A lease not renewed for `leaseMs` (by the store's clock) may
 *   be taken over.
 *
 * Old Swift refuses conditional PUTs (`If-None-Match`), which would make this simpler; a copy
 * conditional on its source's ETag works on every S3 implementation.
 */
import crypto from 'node:crypto';
import { resolveChain, nextGeneration, type Chain } from '../storage/chain.js';
import { genKey, segmentKey, uploadDir, type GenRecord } from '../storage/layout.js';
import type { ObjectStore } from '../storage/objects.js';
import type { FaultHook } from './faults.js';
import { TusError } from './errors.js';
import { escapingLogger, type Logger } from '../log.js';

export interface LeaseOptions {
  /** A lease not renewed for this long may be taken over. Default 10 s. */
  leaseMs?: number;
  /** How long a takeover waits for copies in flight under the old lease. Default 500 ms. */
  settleMs?: number;
  faults?: FaultHook;
  log?: Logger;
  /** Milliseconds, monotonic; injectable for tests. */
  now?: () => number;
}

/** An upload this collector holds the lease of. */
export interface HeldUpload {
  id: string;
  /** Our generation. */
  gen: GenRecord;
  /** The lease's ETag while it is ours. */
  etag: string;
  /** The bytes the upload holds (all acknowledged). */
  offset: number;
  /** The declared length, once known. */
  length?: number;
  /** When we last renewed (our clock). */
  renewedAt: number;
  /** Whether the lease may have passed on (a check failed or an outcome is unknown). */
  lost: boolean;
}

export const DEFAULT_LEASE_MS = 10_000;
export const DEFAULT_SETTLE_MS = 500;

/** The upload is being written by another collector (or was taken over): retry later. */
export function busy(what: string): TusError {
  return new TusError(423, `${what}; retry\n`);
}

/** Lists an upload's directory and resolves its chain. */
export async function readChain(store: ObjectStore, id: string): Promise<Chain> {
  const dir = uploadDir(id);
  const entries = [];
  for await (const e of store.list(dir)) entries.push({ ...e, rel: e.key.slice(dir.length) });
  return resolveChain(entries);
}

export class Leases {
  readonly #store: ObjectStore;
  readonly #leaseMs: number;
  readonly #settleMs: number;
  readonly #faults: FaultHook;
  readonly #now: () => number;
  readonly #log: Logger;
  readonly #held = new Map<string, HeldUpload>();
  /** The ETag of the last lease we wrote per upload, kept after a drop: ours to take back. */
  readonly #ours = new Map<string, string>();

  constructor(store: ObjectStore, options: LeaseOptions = {}) {
    this.#store = store;
    this.#leaseMs = options.leaseMs ?? DEFAULT_LEASE_MS;
    this.#settleMs = options.settleMs ?? DEFAULT_SETTLE_MS;
    this.#faults = options.faults ?? (() => {});
    this.#now = options.now ?? (() => performance.now());
    this.#log = options.log ? escapingLogger(options.log) : () => {};
  }

  #lost(h: HeldUpload): void {
    if (!h.lost) this.#log(`lost the lease of ${h.id} to another collector`);
    h.lost = true;
    this.#held.delete(h.id);
  }

  get leaseMs(): number {
    return this.#leaseMs;
  }

  /** The upload if we hold its lease (as far as we know). */
  held(id: string): HeldUpload | undefined {
    const h = this.#held.get(id);
    return h && !h.lost ? h : undefined;
  }

  /** Forgets a lease (after an error whose outcome is unknown); ours to take back at once. */
  drop(id: string): void {
    this.#held.delete(id);
  }

  /** Forgets an upload entirely (it is finished). */
  forget(id: string): void {
    this.#held.delete(id);
    this.#ours.delete(id);
  }

  /**
   * Makes sure we hold `id`'s lease: renews it when due, or takes it over when it is free or has
   * lapsed. Throws a 423 when another collector holds it. The caller holds the upload's
   * in-process lock.
   */
  async acquire(id: string): Promise<HeldUpload> {
    const mine = this.held(id);
    if (mine) {
      await this.renewIfDue(mine);
      if (!mine.lost) return mine;
    }
    this.#held.delete(id);
    return this.#takeOver(id);
  }

  /** Renews the lease when half its time has passed since the last renewal. */
  async renewIfDue(h: HeldUpload): Promise<void> {
    if (this.#now() - h.renewedAt >= this.#leaseMs / 2) await this.renew(h);
  }

  /** Renews the lease by copying it onto itself, only if it is still ours. */
  async renew(h: HeldUpload): Promise<void> {
    const key = `${uploadDir(h.id)}lease`;
    const at = this.#now();
    if (await this.#store.copyIfMatch(key, key, h.etag)) h.renewedAt = at;
    else this.#lost(h);
  }

  /** Fails with 423 unless the lease is still ours: the fence before an acknowledgement. */
  async check(h: HeldUpload): Promise<void> {
    const head = await this.#store.head(`${uploadDir(h.id)}lease`);
    if (head?.etag !== h.etag) {
      this.#lost(h);
      throw busy('another collector took this upload over');
    }
  }

  async #takeOver(id: string): Promise<HeldUpload> {
    const key = `${uploadDir(id)}lease`;
    const current = await this.#store.head(key);
    const live = current && current.storeTime - current.lastModified < this.#leaseMs;
    if (live && current.etag !== this.#ours.get(id))
      throw busy('another collector is writing this upload');
    const nonce = crypto.randomBytes(8).toString('hex');
    // Just the nonce: every renewal copies the body, so it is kept small (17 bytes).
    const body = Buffer.from(`${nonce}\n`);
    const putAt = this.#now();
    await this.#store.put(key, body);
    await this.#faults('lease:put');
    await new Promise((r) => setTimeout(r, this.#settleMs));
    const back = await this.#store.head(key);
    const expected = `"${crypto.createHash('md5').update(body).digest('hex')}"`;
    // A store that does not use MD5 ETags (SSE-KMS) is read back by body to learn ours.
    let etag = back?.etag;
    if (back && etag !== expected) {
      const read = await this.#store.get(key).catch(() => undefined);
      if (!read?.equals(body)) etag = undefined;
    }
    if (!back || !etag) throw busy('another collector took this upload at the same time');
    this.#ours.set(id, etag);
    await this.#faults('lease:checked');
    let chain = await readChain(this.#store, id);
    // A listing may lag the writes it lists (Swift's container updates can): look past its end.
    for (let i = 0; i < 3 && chain.tip; i++) {
      if (!(await this.#store.head(segmentKey(id, chain.tip.gen, chain.end)))) break;
      chain = await readChain(this.#store, id);
    }
    const gen = nextGeneration(chain, nonce);
    if (!(await this.#store.copyIfMatch(key, genKey(id, gen), etag)))
      throw busy('another collector took this upload at the same time');
    await this.#faults('lease:generation');
    const h: HeldUpload = {
      id,
      gen,
      etag,
      offset: chain.end,
      ...(chain.length !== undefined ? { length: chain.length } : {}),
      renewedAt: putAt,
      lost: false,
    };
    this.#held.set(id, h);
    return h;
  }
}
