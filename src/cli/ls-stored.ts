/**
 * `sshcast ls s3://BUCKET/PREFIX`: the recordings every device shipped to the collectors of that
 * bucket, finished and live, with a device column. Read straight from the bucket (the collectors
 * serve no reads); each recording's header and last event only, as for a directory.
 */
import { compareNewestFirst, summarizeRead, withWriterState } from '../asciicast/summary.js';
import { DEVICE_PATTERN } from '../storage/layout.js';
import { isS3Url, openStore } from '../storage/location.js';
import { listStored, openStored, type StoredEntry } from '../storage/reader.js';
import type { RecordingSummary } from './ls.js';
import { UsageError } from './common.js';

/** Summaries of the recordings in the store `spec` (an s3:// address), one device's or all. */
export async function listStoredRecordings(
  spec: string,
  device?: string,
): Promise<RecordingSummary[]> {
  if (device !== undefined && !DEVICE_PATTERN.test(device))
    throw new UsageError(`ls: --device ${JSON.stringify(device)} is not a device name`);
  const store = await openStore(spec);
  try {
    const base = isS3Url(spec) ? store.location : `${store.location}/`;
    const entries = (await listStored(store, device)).filter((e) => e.kind === 'recording');
    const out: RecordingSummary[] = [];
    const work = [...entries];
    const one = async (e: StoredEntry) => {
      const content = await openStored(store, e.device, e.name);
      const summary = content
        ? withWriterState(
            await summarizeRead(e.name, content.size, content.lastModified, (p, n) =>
              content.read(p, n),
            ),
            content.live, // an upload still open: its device is writing it
          )
        : {
            file: e.name,
            size: 0,
            mtimeMs: 0,
            hasEvents: false,
            status: 'damaged' as const,
            problem: 'gone while listed',
          };
      out.push({ ...summary, path: `${base}${e.device}/${e.name}`, device: e.device });
    };
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        for (let e = work.shift(); e; e = work.shift()) await one(e);
      }),
    );
    return out.sort(compareNewestFirst);
  } finally {
    store.close();
  }
}
