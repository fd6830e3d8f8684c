/**
 * Loading a recording for assertions: from a path, its text, its bytes, a parsed Cast, a
 * MemorySink or a Recording, into one shape with the things a test asks about already worked out.
 */
import fs from 'node:fs';
import type { Event, Header } from '../asciicast/event.js';
import { parseCast, type Cast } from '../asciicast/reader.js';
import { CastParseError, SshcastError } from '../errors.js';
import { MemorySink } from '../recording/sink.js';
import { Recording } from '../recording/recording.js';

/** A marker (`m` event): `time` in seconds from the start. */
export interface CastMarker {
  time: number;
  label: string;
}

/** A window size change (`r` event): `time` in seconds from the start. */
export interface CastResize {
  time: number;
  cols: number;
  rows: number;
}

/**
 * A recording ready for assertions. `events` keep the model's integer microsecond times; every
 * other time here (`duration`, markers, resizes) is in seconds.
 */
export interface LoadedCast extends Cast {
  /** Where it came from: a file path, `text`, `bytes`, `memory` or `object`. */
  source: string;
  /** All `o` data joined, escape sequences included. */
  output: string;
  /** All `i` data joined (empty unless input was recorded). */
  input: string;
  /** The time of the last event in seconds (0 for a recording with no events). */
  duration: number;
  /** The status of the `x` event, or undefined when the recording has none. */
  exitCode: number | undefined;
  markers: CastMarker[];
  resizes: CastResize[];
}

/**
 * What the testing helpers accept as a recording: a path to a `.cast` file, the text of one
 * (anything starting with `{` is text), its bytes, a parsed {@link Cast} or {@link LoadedCast}, a
 * {@link MemorySink}, a {@link Recording} (a file recording, or one made by `memoryRecorder()`), or
 * a test channel from `fakeSession()` or `startTestServer()` (what its client saw).
 */
export type CastSource =
  string | Uint8Array | Cast | LoadedCast | MemorySink | Recording | CastView;

/** Anything that can show itself as a recording, such as a test channel (what its client saw). */
export interface CastView {
  toCast(): Cast;
}

const memorySinks = new WeakMap<Recording, MemorySink>();

/** @internal Lets {@link loadCast} read a Recording that writes to a MemorySink. */
export function registerMemoryRecording(recording: Recording, sink: MemorySink): void {
  memorySinks.set(recording, sink);
}

/** @internal The MemorySink a Recording from `memoryRecorder()` writes to. */
export function memorySinkOf(recording: Recording): MemorySink | undefined {
  return memorySinks.get(recording);
}

/** Whether a string is the text of a recording rather than a path to one. */
export function isCastText(s: string): boolean {
  return s.trimStart().startsWith('{');
}

/**
 * Reads a source's raw text and names it; undefined for an already parsed Cast.
 * @internal
 */
export function castText(source: CastSource): { text: string; name: string } | undefined {
  if (typeof source === 'string') {
    if (isCastText(source)) return { text: source, name: 'text' };
    try {
      return { text: fs.readFileSync(source, 'utf8'), name: source };
    } catch (err) {
      throw new SshcastError(
        'ERR_CAST_READ',
        `cannot read recording ${source}: ${(err as Error).message}`,
        {
          cause: err,
        },
      );
    }
  }
  if (source instanceof Uint8Array)
    return { text: Buffer.from(source).toString('utf8'), name: 'bytes' };
  if (source instanceof MemorySink || isMemorySinkLike(source))
    return { text: source.text(), name: 'memory' };
  if (isCastView(source)) return undefined;
  if (source instanceof Recording) {
    const sink = memorySinks.get(source);
    if (sink) return { text: sink.text(), name: 'memory' };
    const file = source.file;
    if (file === undefined) {
      throw new SshcastError(
        'ERR_CAST_READ',
        'this Recording records nothing (recording is off or failed to start)',
      );
    }
    if (file === 'memory') {
      throw new SshcastError(
        'ERR_CAST_READ',
        'this Recording writes to a MemorySink sshcast/testing does not know: make it with memoryRecorder(), or pass the sink',
      );
    }
    return castText(file);
  }
  return undefined;
}

function isMemorySinkLike(v: unknown): v is MemorySink {
  return (
    typeof v === 'object' &&
    v !== null &&
    typeof (v as MemorySink).text === 'function' &&
    typeof (v as MemorySink).bytes === 'function' &&
    typeof (v as MemorySink).write === 'function'
  );
}

/**
 * Loads a recording for assertions. Accepts a path, the text of a recording (text starts with
 * `{`), bytes, a parsed Cast, a MemorySink or a Recording. A final line cut short is reported in
 * `truncated` with the events before it kept; any other format problem throws a
 * {@link CastParseError} whose message starts with the file name.
 *
 * @example
 * const cast = loadCast('/tmp/rec/ssh-session-1-a.cast');
 * expect(cast.output).toContain('hello');
 * expect(cast.exitCode).toBe(0);
 * expect(cast.resizes).toEqual([{ time: 1.5, cols: 100, rows: 30 }]);
 */
export function loadCast(source: CastSource): LoadedCast {
  if (isLoaded(source)) return source;
  if (isCastView(source)) return summarize(source.toCast(), 'client');
  const raw = castText(source);
  let cast: Cast;
  if (raw) {
    try {
      cast = parseCast(raw.text);
    } catch (err) {
      if (err instanceof CastParseError && raw.name !== 'text')
        err.message = `${raw.name}: ${err.message}`;
      throw err;
    }
  } else {
    cast = source as Cast;
  }
  return summarize(cast, raw?.name ?? 'object');
}

function isCastView(v: unknown): v is CastView {
  return typeof v === 'object' && v !== null && typeof (v as CastView).toCast === 'function';
}

function isLoaded(v: CastSource): v is LoadedCast {
  return typeof v === 'object' && v !== null && 'output' in v && 'events' in v && 'source' in v;
}

function summarize(cast: Cast, source: string): LoadedCast {
  let output = '';
  let input = '';
  let exitCode: number | undefined;
  const markers: CastMarker[] = [];
  const resizes: CastResize[] = [];
  for (const e of cast.events) {
    const time = e.time / 1_000_000;
    switch (e.code) {
      case 'o':
        output += e.data;
        break;
      case 'i':
        input += e.data;
        break;
      case 'm':
        markers.push({ time, label: e.data });
        break;
      case 'r': {
        const [cols, rows] = e.data.split('x').map(Number);
        resizes.push({ time, cols: cols!, rows: rows! });
        break;
      }
      case 'x': {
        const n = Number.parseInt(e.data, 10);
        exitCode = Number.isNaN(n) ? undefined : n;
        break;
      }
    }
  }
  const last: Event | undefined = cast.events.at(-1);
  const loaded: LoadedCast = {
    version: cast.version,
    header: cast.header as Header,
    events: cast.events,
    source,
    output,
    input,
    duration: last ? last.time / 1_000_000 : 0,
    exitCode,
    markers,
    resizes,
  };
  if (cast.truncated) loaded.truncated = cast.truncated;
  return loaded;
}
