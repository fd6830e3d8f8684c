/**
 * The streaming asciicast writer: turns events into complete lines and hands each line, as its
 * exact final bytes, to one sink in one `write()`. Times come from an injectable monotonic clock
 * and never go backwards. An optional size cap ends the recording with a marker but lets the
 * final exit event through.
 */
import { EventEmitter } from 'node:events';
import {
  encodeEvent,
  encodeEventBytes,
  encodeHeader,
  lineBuffer,
  type LineSlabs,
} from '../asciicast/encoder.js';
import type { Event, EventCode, Header } from '../asciicast/event.js';
import { systemClock, type Clock } from '../clock.js';
import type { Sink } from './sink.js';
import { SinkWriteError, SshcastError } from '../errors.js';

function notStarted(): SshcastError {
  return new SshcastError('ERR_INVALID_STATE', 'CastWriter: start() first');
}

/** The marker written once when `maxBytes` is reached. */
export const SIZE_LIMIT_MARKER = 'recording size limit reached';

/** Options for {@link CastWriter}. */
export interface CastWriterOptions {
  /** Where event times come from. Default: the system clock. */
  clock?: Clock;
  /**
   * A cap on the recording's size in bytes. Past it, one `m` event says so and nothing more is
   * written but the final `x`. Default: no cap.
   */
  maxBytes?: number;
  /**
   * Sees every line, header included, as the exact bytes the sink gets, before the sink does.
   * The one place a later layer (hashing, copies) hooks in.
   */
  onLine?: (line: Buffer) => void;
  /**
   * @internal The slabs its lines are cut from (a sealed recording's own, which the hasher hands
   * to its worker once the sink has written them: the sink must keep no line after its write).
   * Default: the slabs every writer shares.
   */
  slabs?: LineSlabs;
  /**
   * Asked before each event line but the final `x`, with its size: undefined lets it through;
   * a text cuts the recording there, as `maxBytes` does, with that text as the `m` event's label.
   */
  admit?: (bytes: number) => string | undefined;
}

/** What a writer's `start()` takes: the header but its version, and with a default timestamp. */
export type HeaderFields = Omit<Header, 'version'> & { version?: 2 };

/** The header line, its timestamp `startWall` (milliseconds) unless the header has one. */
export function headerLine(header: HeaderFields, startWall: number, slabs?: LineSlabs): Buffer {
  return lineBuffer(
    encodeHeader({
      ...header,
      version: 2,
      timestamp: header.timestamp ?? Math.floor(startWall / 1000),
    }),
    slabs,
  );
}

/**
 * What a Recording asks of its writer: a {@link CastWriter} here, or one that hands the events to
 * the recording thread (thread/writer.ts).
 */
export interface RecordingWriter {
  /** Whether the recording thread encodes and writes (thread/writer.ts). */
  readonly threaded: boolean;
  readonly bytes: number;
  readonly lines: number;
  readonly startTime: number;
  readonly failed: boolean;
  readonly sinkName: string;
  output(data: string): boolean;
  outputUtf8(data: Uint8Array): boolean;
  event(code: EventCode, data: string): boolean;
  resize(cols: number, rows: number): boolean;
  marker(label: string): boolean;
  exit(status: number): boolean;
  close(): Promise<void>;
  on(event: 'drain', listener: () => void): this;
  on(event: 'error', listener: (err: SinkWriteError) => void): this;
}

/**
 * The events a {@link RecordingWriter} writes through its `event()`: the one place their codes
 * and data are spelled, for the writer here and the recording thread's.
 */
export abstract class EventKinds extends EventEmitter {
  abstract event(code: EventCode, data: string): boolean;

  /** Output the client was shown. */
  output(data: string): boolean {
    return data === '' ? true : this.event('o', data);
  }

  /** A window size change. */
  resize(cols: number, rows: number): boolean {
    return this.event('r', `${cols}x${rows}`);
  }

  /** A marker with a label. */
  marker(label: string): boolean {
    return this.event('m', label);
  }

  /** The last event: the exit status (128 + n for signal n). Later events are dropped. */
  exit(status: number): boolean {
    return this.event('x', String(status));
  }
}

/**
 * Writes one recording. `start()` writes the header; event methods return false when the caller
 * should wait for `'drain'`. A sink failure is emitted once as `'error'` (a SinkWriteError); after
 * it the writer accepts and drops events, so a session can go on unrecorded.
 */
export class CastWriter extends EventKinds implements RecordingWriter {
  readonly threaded = false;
  readonly #sink: Sink;
  readonly #clock: Clock;
  readonly #maxBytes: number;
  readonly #onLine: ((line: Buffer) => void) | undefined;
  readonly #admit: ((bytes: number) => string | undefined) | undefined;
  readonly #slabs: LineSlabs | undefined;
  #origin = 0;
  #last = 0;
  #state: 'new' | 'live' | 'capped' | 'failed' | 'closed' = 'new';
  #bytes = 0;
  #lines = 0;
  #exited = false;
  #startWall = 0;

  constructor(sink: Sink, options: CastWriterOptions = {}) {
    super();
    this.#sink = sink;
    this.#clock = options.clock ?? systemClock;
    this.#maxBytes = options.maxBytes ?? Infinity;
    this.#onLine = options.onLine;
    this.#admit = options.admit;
    this.#slabs = options.slabs;
    sink.on('drain', () => this.emit('drain'));
    sink.on('error', (err) => {
      if (this.#state === 'failed') return;
      this.#state = 'failed';
      this.emit('error', err instanceof SinkWriteError ? err : new SinkWriteError(sink.name, err));
    });
  }

  /** Bytes handed to the sink so far. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Lines handed to the sink so far, header included. */
  get lines(): number {
    return this.#lines;
  }

  /** Wall-clock start in milliseconds since the epoch (0 before `start()`). */
  get startTime(): number {
    return this.#startWall;
  }

  /** Whether the size cap was reached or the recording was cut by `admit`. */
  get capped(): boolean {
    return this.#state === 'capped';
  }

  /** Whether the sink failed; events are dropped from then on. */
  get failed(): boolean {
    return this.#state === 'failed';
  }

  /** The sink's name (a file path for file recordings). */
  get sinkName(): string {
    return this.#sink.name;
  }

  /** Writes the header; `timestamp` defaults to the clock's wall time. Call once. */
  start(header: HeaderFields): boolean {
    if (this.#state !== 'new')
      throw new SshcastError('ERR_INVALID_STATE', 'CastWriter.start() called twice');
    this.#origin = this.#clock.monotonic();
    this.#startWall = this.#clock.wall();
    this.#state = 'live';
    return this.#emitLine(headerLine(header, this.#startWall, this.#slabs));
  }

  /**
   * @internal Goes on from a header (`lines` lines, `bytes` bytes) that another writer wrote to
   * the sink's file, with times on the clock's scale (origin 0): the recording thread's writer.
   */
  resume(bytes: number, lines: number): void {
    if (this.#state !== 'new')
      throw new SshcastError('ERR_INVALID_STATE', 'CastWriter.resume() after start');
    this.#state = 'live';
    this.#bytes = bytes;
    this.#lines = lines;
  }

  /** Microseconds since start, never less than the last event's. */
  now(): number {
    const t = this.#clock.monotonic() - this.#origin;
    if (t > this.#last) this.#last = t;
    return this.#last;
  }

  /** Writes one event stamped now. Returns false when the caller should wait for `'drain'`. */
  event(code: EventCode, data: string): boolean {
    return this.write({ time: this.now(), code, data } as Event);
  }

  /** Writes one event with its own time (clamped so times never go backwards). */
  write(event: Event): boolean {
    if (this.#state === 'new') throw notStarted();
    if (this.#state !== 'live' && !(this.#state === 'capped' && event.code === 'x')) return true;
    if (this.#exited) return true;
    const time = Math.max(event.time, this.#last);
    this.#last = time;
    const line = lineBuffer(
      encodeEvent(time === event.time ? event : ({ ...event, time } as Event)),
      this.#slabs,
    );
    if (event.code === 'x') this.#exited = true;
    return this.#emitCapped(line, time);
  }

  #emitCapped(line: Buffer, time: number): boolean {
    if (!this.#exited) {
      const cut =
        this.#bytes + line.length > this.#maxBytes ? SIZE_LIMIT_MARKER : this.#admit?.(line.length);
      if (cut !== undefined) {
        this.#state = 'capped';
        return this.#emitLine(lineBuffer(encodeEvent({ time, code: 'm', data: cut }), this.#slabs));
      }
    }
    return this.#emitLine(line);
  }

  /**
   * @internal Cuts the recording now, as `admit` would have: one `m` event labelled `label` at
   * the last event's time, then only the final `x`.
   */
  cut(label: string): boolean {
    if (this.#state !== 'live' || this.#exited) return true;
    this.#state = 'capped';
    return this.#emitLine(
      lineBuffer(encodeEvent({ time: this.#last, code: 'm', data: label }), this.#slabs),
    );
  }

  /**
   * Output the client was shown, as UTF-8 bytes of complete characters (from
   * Utf8StreamDecoder.complete()); writes the same line as `output()` of the decoded text, faster.
   */
  outputUtf8(data: Uint8Array): boolean {
    if (this.#state === 'new') throw notStarted();
    if (this.#state !== 'live' || this.#exited || data.length === 0) return true;
    const time = this.now();
    return this.#emitCapped(encodeEventBytes(time, 'o', data, this.#slabs), time);
  }

  #emitLine(buf: Buffer): boolean {
    if (this.#state === 'failed' || this.#state === 'closed') return true;
    this.#bytes += buf.length;
    this.#lines++;
    this.#onLine?.(buf);
    return this.#sink.write(buf);
  }

  /** Ends the recording and closes the sink; resolves when the sink has everything. */
  async close(): Promise<void> {
    if (this.#state !== 'failed') this.#state = 'closed';
    await this.#sink.close();
  }
}
