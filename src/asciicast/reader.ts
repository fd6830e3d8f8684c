/**
 * The asciicast reader: a whole recording from text, a byte stream or a file, through the line
 * parser (parser.ts), into the shared event model. A final line cut short by a crash is a
 * truncation: the events before it stand.
 */
import { createReadStream } from 'node:fs';
import type { CastParseError } from '../errors.js';
import type { Event, Header } from './event.js';
import { LineSplitter } from './lines.js';
import { CastParser, MAX_KEPT_PROBLEMS } from './parser.js';

/** A parsed recording. */
export interface Cast {
  /** 2 or 3: the version of the file; the header and events are in the v2 model either way. */
  version: 2 | 3;
  header: Header;
  events: Event[];
  /** Set when the last line was cut short (a crash mid-write); the events before it are kept. */
  truncated?: CastParseError;
}

/** Options for {@link parseCast}. */
export interface ParseOptions {
  /**
   * `strict` (default) throws the first problem other than a truncated final line; `collect`
   * never throws and returns the problems in `problems` (the first 1000; `problemCount` counts all).
   */
  mode?: 'strict' | 'collect';
}

/** The result of {@link parseCast} in `collect` mode. */
export interface CollectedCast extends Partial<Cast> {
  /** The first {@link MAX_KEPT_PROBLEMS} problems, in line order. */
  problems: CastParseError[];
  /** How many problems there were in all. */
  problemCount: number;
}

/** Splits text into lines; the last is marked incomplete when it has no LF after it. */
function* splitLines(text: string): Generator<[string, boolean]> {
  let start = 0;
  for (;;) {
    const nl = text.indexOf('\n', start);
    if (nl === -1) {
      if (start < text.length) yield [text.slice(start), false];
      return;
    }
    yield [text.slice(start, nl), true];
    start = nl + 1;
  }
}

/**
 * Parses a whole recording. In `strict` mode (default) it throws the first problem, except a
 * truncated final line, which is returned as `truncated` with the events before it.
 */
export function parseCast(text: string, options?: { mode?: 'strict' }): Cast;
export function parseCast(text: string, options: { mode: 'collect' }): CollectedCast;
export function parseCast(text: string, options: ParseOptions = {}): Cast | CollectedCast {
  const events: Event[] = [];
  const parser = new CastParser((e) => events.push(e));
  const collect = options.mode === 'collect';
  for (const [line, complete] of splitLines(text)) {
    const problem = parser.line(line, complete);
    if (problem && problem.problem !== 'truncated' && !collect) throw problem;
  }
  const empty = parser.finish();
  if (empty && !collect) throw empty;
  const truncated = parser.truncated;
  if (collect) {
    const out: CollectedCast = {
      problems: parser.problems,
      problemCount: parser.problemCount,
      events,
    };
    if (parser.header) {
      out.header = parser.header;
      out.version = parser.version!;
    }
    if (truncated) out.truncated = truncated;
    return out;
  }
  const cast: Cast = { version: parser.version!, header: parser.header!, events };
  if (truncated) cast.truncated = truncated;
  return cast;
}

/** One item of {@link readCastStream}: the header first, then each event. */
export type CastItem =
  | { kind: 'header'; header: Header; version: 2 | 3 }
  | { kind: 'event'; event: Event }
  | { kind: 'truncated'; error: CastParseError };

/**
 * Reads a recording from a byte stream line by line without holding it in memory. Throws the
 * first problem (a {@link CastParseError}); a truncated final line is yielded as `truncated`.
 */
export async function* readCastStream(source: AsyncIterable<Uint8Array>): AsyncGenerator<CastItem> {
  const pending: Event[] = [];
  const parser = new CastParser((e) => pending.push(e));
  let sentHeader = false;
  const take = function* (line: string, complete: boolean): Generator<CastItem> {
    const problem = parser.line(line, complete);
    if (problem) {
      if (problem.problem === 'truncated') {
        yield* flush();
        yield { kind: 'truncated', error: problem };
        return;
      }
      throw problem;
    }
    yield* flush();
  };
  const flush = function* (): Generator<CastItem> {
    if (!sentHeader && parser.header) {
      sentHeader = true;
      yield { kind: 'header', header: parser.header, version: parser.version! };
    }
    while (pending.length) yield { kind: 'event', event: pending.shift()! };
  };
  const lines = new LineSplitter();
  for await (const chunk of source) {
    for (const line of lines.push(chunk)) yield* take(line.toString('utf8'), true);
  }
  const rest = lines.end();
  if (rest) yield* take(rest.toString('utf8'), false);
  const empty = parser.finish();
  if (empty) throw empty;
}

/** Reads a recording file as a stream of header, events and a possible truncation. */
export function readCastFile(path: string): AsyncGenerator<CastItem> {
  return readCastStream(createReadStream(path));
}
