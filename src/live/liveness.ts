/**
 * Which recordings are still being written: the rule behind the web page's live badge, the end of
 * a live view, and `sshcast play --follow`. A rule is a function, so a host can bring its own;
 * two come with sshcast, for the two places recordings are found:
 *
 * - {@link localWriter}, for a device's own directory: live while some process on this machine
 *   holds the file open for writing. Exact: the recorder keeps its file open until the `x` is
 *   written, and a recorder that crashed or was killed holds nothing. Read from /proc, one scan
 *   for the files it has not seen yet; afterwards each answer costs two reads of /proc per live
 *   file, and none for a file that has not changed since no one held it.
 * - {@link recentGrowth}, for a collector's `--dir`, whose writer is on another machine: live
 *   while the file has no `x` yet and grew within a window (two minutes by default). A device
 *   ships what its session writes within a second, so a session that prints is live; one idle
 *   for longer than the window, or whose device is gone, is not, until it grows again.
 *
 * {@link byLocation} combines them as `sshcast web` does: files directly in the directory are a
 * device's own, files one level down (`DEVICE/NAME.cast`) are a collector's copies.
 */
import { findWriters, stillWriting, type Writer } from '../recording/live.js';

/** A recording a rule is asked about: one that has not ended with an `x` event. */
export interface LiveCandidate {
  /** Its name in the directory served: `NAME.cast`, or `DEVICE/NAME.cast` one level down. */
  name: string;
  /** A path this process can reach it by. */
  path: string;
  size: number;
  mtimeMs: number;
}

/** Of the candidates, the names of those still being written. */
export type LivenessRule = (candidates: readonly LiveCandidate[]) => Promise<Set<string>>;

/** How long a collector's copy stays live without growing: {@link recentGrowth}'s default. */
export const DEFAULT_LIVE_WINDOW_MS = 120_000;

/** How many files a {@link localWriter} remembers. */
const MAX_KNOWN = 10_000;

type Known =
  { state: 'written'; writer: Writer } | { state: 'idle'; size: number; mtimeMs: number };

/**
 * Live while a process on this machine holds the file open for writing. What it learns is kept:
 * a file found written is checked again through the same process and descriptor, and a file no
 * one wrote stays not live until its size or modification time change (recorders create their
 * files; none reopens a finished one). A rule keeps its memory: make one per directory served.
 */
export function localWriter(): LivenessRule {
  const known = new Map<string, Known>();
  return async (candidates) => {
    const live = new Set<string>();
    const unknown: LiveCandidate[] = [];
    for (const c of candidates) {
      const k = known.get(c.path);
      if (k?.state === 'written' && (await stillWriting(k.writer))) live.add(c.name);
      else if (k?.state === 'idle' && k.size === c.size && k.mtimeMs === c.mtimeMs) continue;
      else unknown.push(c);
    }
    if (unknown.length === 0) return live;
    // Bounded: files come and go; forgetting only costs a scan.
    if (known.size + unknown.length > MAX_KNOWN) known.clear();
    const writers = await findWriters(unknown.map((c) => c.path));
    for (const c of unknown) {
      const writer = writers.get(c.path);
      if (writer) {
        known.set(c.path, { state: 'written', writer });
        live.add(c.name);
      } else {
        known.set(c.path, { state: 'idle', size: c.size, mtimeMs: c.mtimeMs });
      }
    }
    return live;
  };
}

/** Live while the file grew within the last `windowMs` (by its modification time). */
export function recentGrowth(
  windowMs: number = DEFAULT_LIVE_WINDOW_MS,
  now: () => number = Date.now,
): LivenessRule {
  return async (candidates) =>
    new Set(candidates.filter((c) => now() - c.mtimeMs <= windowMs).map((c) => c.name));
}

/**
 * One rule for the files directly in the directory (`NAME.cast`: a device's own recordings) and
 * another for those one level down (`DEVICE/NAME.cast`: a collector's copies).
 */
export function byLocation(own: LivenessRule, copies: LivenessRule): LivenessRule {
  return async (candidates) => {
    const [a, b] = await Promise.all([
      own(candidates.filter((c) => !c.name.includes('/'))),
      copies(candidates.filter((c) => c.name.includes('/'))),
    ]);
    return new Set([...a, ...b]);
  };
}

/** `sshcast web`'s rule: {@link localWriter} for a device's files, {@link recentGrowth} for copies. */
export function defaultLiveness(windowMs: number = DEFAULT_LIVE_WINDOW_MS): LivenessRule {
  return byLocation(localWriter(), recentGrowth(windowMs));
}
