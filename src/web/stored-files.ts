/**
 * The recordings the replay page may reach in a collectors' store (`sshcast web s3://BUCKET/PREFIX`
 * or a collector's `--dir`): every device's, or one device's, named `DEVICE/NAME`. Only names
 * that are a device and a recording file name are looked up, so a request can reach nothing of
 * the store but recordings (no upload state, no ledger).
 */
import type { ObjectStore } from '../storage/objects.js';
import {
  parseRecordingRef,
  storedCompleteLines,
  storedSummaries,
  storedSummary,
  type StoredSummary,
} from '../storage/recordings.js';
import type { StoredEntry } from '../storage/reader.js';
import { FileRefused, type CompleteLines } from './files.js';

export class StoredRecordings {
  /** Where it reads, for messages. */
  readonly path: string;
  readonly #store: ObjectStore;
  readonly #device: string | undefined;
  readonly #cache = new Map<string, { size: number; at: number; summary: StoredSummary }>();

  /** Reads `store`; with `device`, only that device's recordings. Takes ownership of `store`. */
  constructor(store: ObjectStore, device?: string) {
    this.#store = store;
    this.#device = device;
    this.path = store.location;
  }

  #ref(ref: string): { device: string; name: string } {
    const r = parseRecordingRef(ref);
    if (!r) throw new FileRefused(400, 'not a recording name (DEVICE/NAME)');
    if (this.#device !== undefined && r.device !== this.#device)
      throw new FileRefused(404, 'no such recording');
    return r;
  }

  /** Every recording, newest first; unchanged ones (same size and time) from the cache. */
  async list(): Promise<StoredSummary[]> {
    const key = (e: { device: string; name: string }) => `${e.device}/${e.name}`;
    const known = (e: StoredEntry) => {
      const hit = this.#cache.get(key(e));
      return hit && hit.size === e.size && hit.at === e.lastModified ? hit.summary : undefined;
    };
    const rows = await storedSummaries(this.#store, this.#device, known);
    this.#cache.clear();
    for (const { entry, summary } of rows)
      this.#cache.set(key(entry), { size: entry.size, at: entry.lastModified, summary });
    return rows.map((r) => r.summary);
  }

  /** The summary of recording `ref` (`DEVICE/NAME`), or undefined if there is none. */
  async summary(ref: string): Promise<StoredSummary | undefined> {
    const { device, name } = this.#ref(ref);
    return storedSummary(this.#store, device, name);
  }

  /** Recording `ref`'s complete lines, for the player. */
  async openComplete(ref: string): Promise<CompleteLines> {
    const { device, name } = this.#ref(ref);
    const lines = await storedCompleteLines(this.#store, device, name);
    if (!lines) throw new FileRefused(404, 'no such recording');
    return lines;
  }

  close(): void {
    this.#store.close();
  }
}
