/**
 * What the replay view needs to know of a served recording before the player gets it: its size,
 * its chapters, where the poster goes. Read with the same line parser as `sshcast validate`, so a
 * damaged file gets a clear message (the line and the problem) instead of a player failure.
 */
import { CastParser } from '../../asciicast/parser.js';
import { DEFAULT_SIZE } from '../../asciicast/terminal.js';

/** A recording, outlined. Times are in seconds from the start. */
export interface Outline {
  width: number;
  height: number;
  events: number;
  markers: { time: number; label: string }[];
  /** Each event's time and code, to place the poster. */
  times: { time: number; code: string }[];
}

/** Outlines the served text (complete lines only); throws the first problem, `line N: …`. */
export function outline(text: string): Outline {
  const out: Outline = { width: 0, height: 0, events: 0, markers: [], times: [] };
  const parser = new CastParser((e) => {
    const time = e.time / 1e6;
    out.events++;
    out.times.push({ time, code: e.code });
    if (e.code === 'm') out.markers.push({ time, label: e.data });
  });
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  for (const line of lines) {
    const problem = parser.line(line);
    if (problem) throw problem;
  }
  const empty = parser.finish();
  if (empty) throw empty;
  out.width = parser.header?.width || DEFAULT_SIZE.cols;
  out.height = parser.header?.height || DEFAULT_SIZE.rows;
  return out;
}

/**
 * Where the poster shows the recording: the first screen once the first burst of output settles
 * (the last event before a pause of a second), in the player's timeline after the idle limit.
 */
export function posterTime(times: Outline['times'], idleLimit: number | undefined): number {
  let shift = 0;
  let prev = 0;
  let seenOutput = false;
  let at = 0;
  for (const { time, code } of times) {
    const gap = time - prev;
    if (idleLimit !== undefined && gap > idleLimit) shift += gap - idleLimit;
    if (seenOutput && gap > 1) break;
    prev = time;
    at = time - shift;
    if (code === 'o') seenOutput = true;
  }
  // The poster shows events strictly before its time.
  return Math.min(at, 30) + 0.001;
}
