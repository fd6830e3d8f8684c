/** A recording's summary as the page words it, in the units `sshcast ls` uses. */
import type { CastSummary } from '../../asciicast/summary.js';
import type { SealMark } from '../../sealing/ledger-index.js';
import { clockDuration, formatSize, localDate, localTime } from '../../text/units.js';

/**
 * A recording as the server lists it; `sealed` only in a directory set up for sealing (null: its
 * ledger never saw it); `device` only when it serves a collectors' store.
 */
export type Summary = CastSummary & { sealed?: SealMark | null; device?: string };

/** When it started (the file's time when the header has none), local time. */
export function when(s: Summary): string {
  const ms = s.start !== undefined ? s.start * 1000 : s.mtimeMs;
  return (ms && localTime(ms)) || '—';
}

/** The local day it started, `YYYY-MM-DD`, for the date filters; '' when unknown. */
export function day(s: Summary): string {
  const ms = s.start !== undefined ? s.start * 1000 : s.mtimeMs;
  return ms ? localDate(ms) : '';
}

export function duration(seconds: number | undefined): string {
  return seconds === undefined ? '—' : clockDuration(seconds);
}

export function size(bytes: number): string {
  return formatSize(bytes, 'iec');
}

/** Its status, and in a sealed directory what the ledger says of it. */
export function statusText(s: Summary): string {
  return recordingStatus(s) + sealText(s);
}

function recordingStatus(s: Summary): string {
  if (s.status === 'damaged') return `damaged: ${s.problem ?? 'unreadable'}`;
  if (s.status === 'live') return 'live';
  if (!s.hasEvents) return 'no output yet';
  if (s.status === 'partial') return 'in progress or cut short';
  return s.exit !== undefined ? `exit ${s.exit}` : 'ended';
}

/** What the ledger says (not verified: `sshcast verify` does that, with the key). */
function sealText(s: Summary): string {
  if (s.sealed === undefined) return '';
  if (s.sealed === null) return ' · not sealed';
  return ` · sealed through line ${s.sealed.lines}`;
}
