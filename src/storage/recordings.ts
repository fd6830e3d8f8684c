/**
 * The recordings in a collectors' store (an S3 bucket or a collector's `--dir`) as listings show
 * them (`sshcast ls`, `sshcast web`): each one's summary, read from its header and its last event
 * (ranged reads, never the whole object), with the device that shipped it. A live upload is read
 * from its segments, so a session still being shipped is listed and can be replayed.
 */
import { Readable } from 'node:stream';
import {
  compareNewestFirst,
  summarizeRead,
  unreadableSummary,
  withWriterState,
  type CastSummary,
} from '../asciicast/summary.js';
import { DEVICE_PATTERN, RECORDING_NAME_PATTERN } from './layout.js';
import { ObjectStoreError, type ObjectStore } from './objects.js';
import { listStored, openStored, type StoredContent, type StoredEntry } from './reader.js';

/** A stored recording's summary, with its device. */
export interface StoredSummary extends CastSummary {
  /** The device that shipped it. */
  device: string;
}

/** How many recordings are summarised at once (each is two or three ranged GETs). */
const CONCURRENCY = 8;

/**
 * A recording by device and file name, `DEVICE/NAME`, parsed; undefined when either part is not
 * allowed (so a reference can never leave the device's own keys).
 */
export function parseRecordingRef(ref: string): { device: string; name: string } | undefined {
  const slash = ref.indexOf('/');
  const device = ref.slice(0, slash);
  const name = ref.slice(slash + 1);
  if (slash < 0 || !DEVICE_PATTERN.test(device) || !RECORDING_NAME_PATTERN.test(name))
    return undefined;
  return { device, name };
}

function summaryOf(
  device: string,
  name: string,
  content: StoredContent | undefined,
): Promise<CastSummary> {
  if (!content) return Promise.resolve(unreadableSummary(name, 'gone while listed'));
  return summarizeRead(name, content.size, content.lastModified, (p, n) => content.read(p, n));
}

/**
 * The summary of `device`'s recording `name`, or undefined if the store has none. An upload
 * still open is `live`: its device may still be writing (a collector finishes the upload of a
 * device silent for an hour).
 */
export async function storedSummary(
  store: ObjectStore,
  device: string,
  name: string,
): Promise<StoredSummary | undefined> {
  const content = await openStored(store, device, name);
  if (!content) return undefined;
  const summary = await summaryOf(device, name, content);
  return { ...withWriterState(summary, content.live), device };
}

/**
 * Summaries of every device's recordings (or one device's), newest first. `known` gives a cached
 * summary for an entry whose size and time have not changed since it was made.
 */
export async function storedSummaries(
  store: ObjectStore,
  device?: string,
  known?: (entry: StoredEntry) => StoredSummary | undefined,
): Promise<{ entry: StoredEntry; summary: StoredSummary }[]> {
  const entries = (await listStored(store, device)).filter((e) => e.kind === 'recording');
  const out: { entry: StoredEntry; summary: StoredSummary }[] = [];
  const work = [...entries];
  const one = async (e: StoredEntry) => {
    const cached = known?.(e);
    if (cached) return void out.push({ entry: e, summary: cached });
    const summary = await summaryOf(e.device, e.name, await openStored(store, e.device, e.name));
    out.push({ entry: e, summary: { ...withWriterState(summary, e.live), device: e.device } });
  };
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      for (let e = work.shift(); e; e = work.shift()) await one(e);
    }),
  );
  return out.sort((a, b) => compareNewestFirst(a.summary, b.summary));
}

/** The offset just past the last LF of `content` (0 when there is none), read from its end. */
async function endOfLastLine(content: StoredContent): Promise<number> {
  const step = 64 * 1024;
  for (let end = content.size; end > 0;) {
    const start = Math.max(0, end - step);
    const buf = await content.read(start, end - start);
    const nl = buf.lastIndexOf(10);
    if (nl !== -1) return start + nl + 1;
    end = start;
  }
  return 0;
}

/**
 * A stored recording's complete lines (everything up to its last LF, as a player needs them),
 * streamed in ranged reads of 1 MiB; undefined if the store has none.
 */
export async function storedCompleteLines(
  store: ObjectStore,
  device: string,
  name: string,
): Promise<{ length: number; stream: Readable } | undefined> {
  const content = await openStored(store, device, name);
  if (!content) return undefined;
  const length = await endOfLastLine(content);
  const chunk = 1 << 20;
  async function* bytes() {
    for (let at = 0; at < length;) {
      const got = await content!.read(at, Math.min(chunk, length - at));
      if (got.length === 0) throw new ObjectStoreError(`${device}/${name} shrank while read`);
      at += got.length;
      yield got;
    }
  }
  return { length, stream: Readable.from(bytes(), { objectMode: false }) };
}
