/**
 * Numbers and times as a person reads them, the same in `sshcast ls` and on the replay page: local
 * times, durations, sizes. No Node API: the replay page runs it too.
 */

function pad2(n: number): string {
  return String(n).padStart(2, '0');
}

/** A local date as `YYYY-MM-DD`. */
export function localDate(ms: number): string {
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())}`;
}

/** A local time as `YYYY-MM-DD HH:MM:SS`; undefined for a time a Date cannot hold. */
export function localTime(ms: number): string | undefined {
  const d = new Date(ms);
  if (Number.isNaN(d.getTime())) return undefined;
  return `${localDate(ms)} ${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
}

/** Whole seconds as `m:ss`, or `h:mm:ss` from an hour. */
export function clockDuration(seconds: number): string {
  const s = Math.floor(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h > 0 ? `${h}:${pad2(m)}:${pad2(s % 60)}` : `${m}:${pad2(s % 60)}`;
}

/** Unit names for {@link formatSize}: `short` (`4.1K`, as ls -h) or `iec` (`4.1 KiB`). */
export type SizeUnits = 'short' | 'iec';

const UNITS: Record<SizeUnits, { bytes: string; names: string[] }> = {
  short: { bytes: 'B', names: ['K', 'M', 'G', 'T'] },
  iec: { bytes: ' B', names: [' KiB', ' MiB', ' GiB', ' TiB'] },
};

/** A size in bytes, powers of 1024, one decimal below 10: `512B`, `4.1K`, `20M` (or `4.1 KiB`). */
export function formatSize(bytes: number, units: SizeUnits = 'short'): string {
  const { bytes: b, names } = UNITS[units];
  if (bytes < 1024) return `${bytes}${b}`;
  let n = bytes / 1024;
  let i = 0;
  while (n >= 1024 && i < names.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n < 10 ? n.toFixed(1) : Math.round(n)}${names[i]}`;
}
