/** A recording's summary as the page words it, in the units `sshcast ls` uses. */
import type { CastSummary as Summary } from '../../asciicast/summary.js';
import { clockDuration, formatSize, localDate, localTime } from '../../text/units.js';

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

export function statusText(s: Summary): string {
  if (s.status === 'damaged') return `damaged: ${s.problem ?? 'unreadable'}`;
  if (!s.hasEvents) return 'no output yet';
  if (s.status === 'live') return 'still being written';
  if (s.status === 'partial') return 'in progress or cut short';
  return s.exit !== undefined ? `exit ${s.exit}` : 'ended';
}
