/**
 * Turns uploads into objects: an upload that reached its declared length is composed into
 * `DEVICE/NAME` (once, streaming, server-side copies for big segments), marked done, and its
 * segments removed; an upload whose device has been silent for an hour is copied to `DEVICE/NAME`
 * as far as it goes (a snapshot; the upload stays open, so a device that comes back goes on).
 * A sweep finds the uploads a crashed collector left half finished, whichever collector made
 * them. Every step can be repeated after a crash: the composed bytes are fixed once the length is.
 */
import { readChain, type Leases } from './leases.js';
import {
  finalKey,
  parseUploadId,
  receiptsKey,
  uploadDir,
  uploadKind,
  UPLOADS,
} from '../storage/layout.js';
import { receiptsOf } from '../storage/reader.js';
import type { ObjectStore } from '../storage/objects.js';
import type { FaultHook } from './faults.js';
import type { UploadStore } from './tus-store.js';
import { escapingLogger, type Logger } from '../log.js';

export interface FinisherOptions {
  store: ObjectStore;
  leases: Leases;
  uploads: UploadStore;
  /** Silence after which an open upload is copied to its object. Default one hour. */
  idleMs?: number;
  faults?: FaultHook;
  log?: Logger;
  /** Uploads composed at once; the rest wait their turn. Default {@link DEFAULT_FINISHING}. */
  concurrency?: number;
}

export const DEFAULT_IDLE_MS = 60 * 60 * 1000;
/**
 * Composing is a burst of requests per upload (list, read, write, delete): 300 sessions ending
 * together on one Swift node, all composed at once, left half of them unfinished after 120 s.
 */
export const DEFAULT_FINISHING = 8;

export class Finisher {
  readonly #store: ObjectStore;
  readonly #leases: Leases;
  readonly #uploads: UploadStore;
  readonly #idleMs: number;
  readonly #faults: FaultHook;
  readonly #log: Logger;
  readonly #running = new Map<string, Promise<void>>();
  /** Finished uploads whose leftovers are gone (so a sweep skips them). */
  readonly #clean = new Set<string>();
  readonly #concurrency: number;
  #active = 0;
  readonly #queue: (() => void)[] = [];

  constructor(options: FinisherOptions) {
    this.#store = options.store;
    this.#leases = options.leases;
    this.#uploads = options.uploads;
    this.#idleMs = options.idleMs ?? DEFAULT_IDLE_MS;
    this.#faults = options.faults ?? (() => {});
    this.#log = options.log ? escapingLogger(options.log) : () => {};
    this.#concurrency = Math.max(1, options.concurrency ?? DEFAULT_FINISHING);
  }

  /** Uploads being composed now (at most `concurrency`). */
  get active(): number {
    return this.#active;
  }

  async #turn<T>(run: () => Promise<T>): Promise<T> {
    while (this.#active >= this.#concurrency) await new Promise<void>((r) => this.#queue.push(r));
    this.#active++;
    try {
      return await run();
    } finally {
      this.#active--;
      this.#queue.shift()?.();
    }
  }

  /** Composes `id` if it is complete; one run per upload at a time. Never rejects. */
  finish(id: string): Promise<void> {
    return this.#once(id, () => this.#finish(id));
  }

  /** Waits for every finish or snapshot in progress. */
  async idle(): Promise<void> {
    while (this.#running.size > 0) await Promise.all(this.#running.values());
  }

  #once(id: string, run: () => Promise<void>): Promise<void> {
    const running = this.#running.get(id);
    if (running) return running;
    const p = this.#turn(run)
      .catch((err: unknown) =>
        this.#log(`finishing ${id}: ${err instanceof Error ? err.message : String(err)}`),
      )
      .finally(() => this.#running.delete(id));
    this.#running.set(id, p);
    return p;
  }

  /** Holds the lease for the duration of `run`, renewing it. */
  async #withLease(id: string, run: () => Promise<void>): Promise<boolean> {
    const h = await this.#leases.acquire(id);
    const timer = setInterval(
      () => void this.#leases.renew(h).catch(() => {}),
      Math.max(this.#leases.leaseMs / 3, 100),
    );
    try {
      await run();
      return !h.lost;
    } finally {
      clearInterval(timer);
    }
  }

  async #finish(id: string): Promise<void> {
    if ((await this.#uploads.doneLength(id)) !== undefined) return this.#cleanUp(id);
    await this.#withLease(id, async () => {
      const chain = await readChain(this.#store, id);
      if (chain.length === undefined || chain.end !== chain.length) return;
      await this.#faults('finish:start');
      await this.#store.compose(finalKey(id), chain.pieces, chain.length);
      if (uploadKind(parseUploadId(id)!.name) === 'ledger') {
        // The segments' times go with them: keep each line's receipt time beside the ledger.
        const bytes = await this.#store.get(finalKey(id));
        const lines = receiptsOf(bytes, chain.pieces).map(
          (r) =>
            JSON.stringify({ line: r.line, received: new Date(r.receivedAt).toISOString() }) + '\n',
        );
        await this.#store.put(receiptsKey(id), Buffer.from(lines.join('')));
      }
      await this.#faults('finish:composed');
      const h = this.#leases.held(id);
      if (!h) return; // another collector took it over and finishes it
      await this.#leases.check(h);
      await this.#store.put(`${uploadDir(id)}done`, Buffer.from(String(chain.length)));
      await this.#faults('finish:done');
      this.#uploads.markDone(id, chain.length);
    });
    if ((await this.#uploads.doneLength(id)) !== undefined) await this.#cleanUp(id);
  }

  async #cleanUp(id: string): Promise<void> {
    if (this.#clean.has(id)) return;
    const dir = uploadDir(id);
    const leftovers: string[] = [];
    for await (const e of this.#store.list(dir))
      if (e.key !== `${dir}info` && e.key !== `${dir}done`) leftovers.push(e.key);
    // Segments first, the lease last: while segments remain, the lease says who is working.
    leftovers.sort((a, b) => Number(a.endsWith('/lease')) - Number(b.endsWith('/lease')));
    await this.#store.delete(leftovers);
    await this.#faults('finish:cleaned');
    this.#clean.add(id);
    if (this.#clean.size > 100_000) this.#clean.delete(this.#clean.values().next().value!);
  }

  /** Copies an idle upload's bytes so far to its object, and notes how many. */
  async #snapshot(id: string, end: number): Promise<void> {
    await this.#withLease(id, async () => {
      const chain = await readChain(this.#store, id);
      if (chain.end === 0 || chain.end !== end) return;
      await this.#store.compose(finalKey(id), chain.pieces, chain.end);
      await this.#store.put(`${uploadDir(id)}snapshot`, Buffer.from(String(chain.end)));
      this.#log(`copied ${id} (${chain.end} bytes, its device silent) to its object`);
    });
  }

  /**
   * One pass over every upload in the store: finishes complete ones whose collector did not,
   * removes leftovers of finished ones, and snapshots those silent for `idleMs`.
   */
  async sweep(): Promise<void> {
    for (const device of await this.#store.listNames(UPLOADS)) {
      const names = await this.#store.listNames(`${UPLOADS}${device}/`);
      for (const name of names) {
        const ids =
          name === '.sshcast'
            ? (await this.#store.listNames(`${UPLOADS}${device}/.sshcast/`)).map(
                (n) => `${device}/.sshcast/${n}`,
              )
            : [`${device}/${name}`];
        for (const id of ids) {
          if (!parseUploadId(id) || this.#clean.has(id)) continue;
          try {
            await this.#check(id);
          } catch (err) {
            this.#log(`sweeping ${id}: ${err instanceof Error ? err.message : String(err)}`);
          }
        }
      }
    }
    await this.idle();
  }

  async #check(id: string): Promise<void> {
    const dir = uploadDir(id);
    if ((await this.#uploads.doneLength(id)) !== undefined) return this.finish(id);
    const lease = await this.#store.head(`${dir}lease`);
    if (lease && lease.storeTime - lease.lastModified < this.#leases.leaseMs) return;
    const chain = await readChain(this.#store, id);
    if (chain.length !== undefined && chain.end === chain.length) return this.finish(id);
    const now = lease?.storeTime ?? Date.now();
    const lastActivity = Math.max(chain.lastWrite, lease?.lastModified ?? 0);
    if (chain.end === 0 || now - lastActivity < this.#idleMs) return;
    const snap = await this.#store.get(`${dir}snapshot`).catch(() => undefined);
    if (snap && Number(snap.toString('utf8')) === chain.end) return;
    await this.#once(id, () => this.#snapshot(id, chain.end));
  }
}
