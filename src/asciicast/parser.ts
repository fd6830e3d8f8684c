/**
 * The asciicast line parser: v2 (and v3, which asciinema 3 writes by default) into the shared
 * event model, one line at a time. Problems are reported as {@link CastParseError}s with 1-based
 * line numbers, never as a bare SyntaxError. No I/O and no Node API: the replay page runs it too.
 */
import { CastParseError, type CastProblem } from '../errors.js';
import type { Event, EventCode, Header } from './event.js';
import { secondsToMicros } from './time.js';

const CODES = new Set<string>(['o', 'i', 'r', 'm', 'x']);
const RESIZE = /^[1-9][0-9]*x[1-9][0-9]*$/;

/** How many problems a {@link CastParser} (and collect mode) keeps; it counts them all. */
export const MAX_KEPT_PROBLEMS = 1000;

/** Parses one recording line by line; feed it lines, then call `finish()`. */
export class CastParser {
  #lineNo = 0;
  #version: 2 | 3 | undefined;
  #header: Header | undefined;
  #lastTime = 0;
  #count = 0;
  #truncated: CastParseError | undefined;
  /**
   * The first {@link MAX_KEPT_PROBLEMS} problems found; `problemCount` counts them all. Kept
   * bounded: a file of millions of bad lines took gigabytes when every problem was kept.
   */
  readonly problems: CastParseError[] = [];

  /** How many problems were found, including those not kept in `problems`. */
  get problemCount(): number {
    return this.#count;
  }

  /** The truncated final line, if there was one. */
  get truncated(): CastParseError | undefined {
    return this.#truncated;
  }

  constructor(private readonly onEvent: (event: Event) => void) {}

  get header(): Header | undefined {
    return this.#header;
  }

  get version(): 2 | 3 | undefined {
    return this.#version;
  }

  /**
   * Takes one line without its LF. `complete` is false for a final line with no LF after it.
   * Returns the problem found, if any (it is also added to `problems`).
   */
  line(text: string, complete = true): CastParseError | undefined {
    const n = ++this.#lineNo;
    const fail = (problem: CastProblem, message: string): CastParseError => {
      const err = parseError(n, problem, message);
      this.#keep(err);
      return err;
    };
    if (text.endsWith('\r')) text = text.slice(0, -1);
    if (text.trim() === '') {
      if (this.#version === 3) return undefined;
      return fail('blank', 'blank line');
    }
    if (this.#version === 3 && text.startsWith('#')) return undefined;
    let value: unknown;
    const limit = Error.stackTraceLimit;
    try {
      // The SyntaxError is dropped: capturing its stack was most of the cost of a bad line.
      Error.stackTraceLimit = 0;
      value = JSON.parse(text);
    } catch {
      Error.stackTraceLimit = limit;
      if (!complete) return fail('truncated', 'truncated final line (the recording was cut short)');
      return fail(this.#header ? 'json' : 'header', 'not valid JSON');
    } finally {
      Error.stackTraceLimit = limit;
    }
    if (!this.#header) {
      const problem = this.#parseHeader(value, fail);
      if (!problem && !complete) return fail('truncated', 'no newline at the end of the file');
      return problem;
    }
    const problem = this.#parseEvent(value, fail);
    if (!problem && !complete) return fail('truncated', 'no newline at the end of the file');
    return problem;
  }

  #parseHeader(
    value: unknown,
    fail: (p: CastProblem, m: string) => CastParseError,
  ): CastParseError | undefined {
    if (!isObject(value)) return fail('header', 'the first line must be a JSON object header');
    if (value.version !== 2 && value.version !== 3) {
      return fail('version', `unsupported version ${JSON.stringify(value.version) ?? 'missing'}`);
    }
    if (!isWellFormedDeep(value)) return fail('surrogate', 'lone surrogate in the header');
    const header: Header = { version: 2, width: 0, height: 0 };
    if (value.version === 2) {
      if (!isSize(value.width) || !isSize(value.height)) {
        return fail('header', 'width and height must be positive integers');
      }
      header.width = value.width;
      header.height = value.height;
    } else {
      const term = value.term;
      if (!isObject(term) || !isSize(term.cols) || !isSize(term.rows)) {
        return fail('header', 'term.cols and term.rows must be positive integers');
      }
      header.width = term.cols;
      header.height = term.rows;
      if (typeof term.type === 'string') header.env = { TERM: term.type };
    }
    if (value.timestamp !== undefined && value.timestamp !== null) {
      if (typeof value.timestamp !== 'number' || !Number.isFinite(value.timestamp)) {
        return fail('header', 'timestamp must be a number');
      }
      header.timestamp = value.timestamp;
    }
    if (typeof value.idle_time_limit === 'number') header.idle_time_limit = value.idle_time_limit;
    for (const key of ['command', 'title', 'localUser'] as const) {
      const v = value[key];
      if (v === undefined || v === null) continue;
      if (typeof v !== 'string') return fail('header', `${key} must be a string`);
      header[key] = v;
    }
    if (value.env !== undefined && value.env !== null) {
      if (!isObject(value.env)) return fail('header', 'env must be an object');
      const env: { TERM?: string; SHELL?: string } = { ...header.env };
      for (const key of ['TERM', 'SHELL'] as const) {
        const v = value.env[key];
        if (typeof v === 'string') env[key] = v;
      }
      header.env = env;
    }
    this.#version = value.version;
    this.#header = header;
    return undefined;
  }

  #parseEvent(
    value: unknown,
    fail: (p: CastProblem, m: string) => CastParseError,
  ): CastParseError | undefined {
    if (!Array.isArray(value) || value.length !== 3) {
      return fail('event', 'an event must be an array [time, code, data]');
    }
    const [time, code, data] = value as unknown[];
    if (typeof time !== 'number' || !Number.isFinite(time) || time < 0) {
      return fail('event', 'event time must be a non-negative number');
    }
    if (typeof code !== 'string' || !CODES.has(code)) {
      return fail('event', `unknown event code ${JSON.stringify(code)}`);
    }
    if (typeof data !== 'string') return fail('event', 'event data must be a string');
    if (!data.isWellFormed()) return fail('surrogate', 'lone surrogate in event data');
    if (code === 'r' && !RESIZE.test(data)) return fail('event', 'resize data must be COLSxROWS');
    let micros = secondsToMicros(time);
    if (this.#version === 3) micros += this.#lastTime;
    else if (micros < this.#lastTime) return fail('time', 'time goes backwards');
    this.#lastTime = micros;
    this.onEvent({ time: micros, code: code as EventCode, data } as Event);
    return undefined;
  }

  #keep(err: CastParseError): void {
    this.#count++;
    if (err.problem === 'truncated') this.#truncated = err;
    if (this.problems.length < MAX_KEPT_PROBLEMS) this.problems.push(err);
  }

  /** Call after the last line; reports an empty input. */
  finish(): CastParseError | undefined {
    if (this.#lineNo === 0 || (!this.#header && this.#count === 0)) {
      const err = parseError(Math.max(1, this.#lineNo), 'empty', 'empty recording');
      this.#keep(err);
      return err;
    }
    return undefined;
  }
}

// A parse error describes the file, not the code: without a stack trace it costs a tenth
// (validate of 3 million bad lines: 39 s with stacks).
function parseError(line: number, problem: CastProblem, message: string): CastParseError {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return new CastParseError(line, problem, message);
  } finally {
    Error.stackTraceLimit = limit;
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isSize(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v > 0;
}

// Iterative: a header nested 100,000 deep must be a parse problem, not a stack overflow.
function isWellFormedDeep(root: unknown): boolean {
  const stack: unknown[] = [root];
  while (stack.length > 0) {
    const v = stack.pop();
    if (typeof v === 'string') {
      if (!v.isWellFormed()) return false;
    } else if (Array.isArray(v)) {
      for (const x of v) stack.push(x);
    } else if (isObject(v)) {
      for (const [k, x] of Object.entries(v)) {
        if (!k.isWellFormed()) return false;
        stack.push(x);
      }
    }
  }
  return true;
}
