/**
 * `sshcast ls s3://BUCKET/PREFIX` and `sshcast ls COLLECTOR-DIR`: the recordings every device
 * shipped to the collectors storing there, finished and live (an upload still open is `live`),
 * with a device column. Read straight from the store (storage/recordings.ts): each recording's
 * header and last event only, as for a device's directory.
 */
import { DEVICE_PATTERN } from '../storage/layout.js';
import { isS3Url, openStore } from '../storage/location.js';
import { storedSummaries } from '../storage/recordings.js';
import type { RecordingSummary } from './ls.js';
import { UsageError } from './common.js';

/** Summaries of the recordings in the store `spec` (s3:// or a collector's dir), one device's or all. */
export async function listStoredRecordings(
  spec: string,
  device?: string,
): Promise<RecordingSummary[]> {
  if (device !== undefined && !DEVICE_PATTERN.test(device))
    throw new UsageError(`ls: --device ${JSON.stringify(device)} is not a device name`);
  const store = await openStore(spec);
  try {
    const base = isS3Url(spec) ? store.location : `${store.location}/`;
    return (await storedSummaries(store, device)).map(({ summary }) => ({
      ...summary,
      path: `${base}${summary.device}/${summary.file}`,
    }));
  } finally {
    store.close();
  }
}
