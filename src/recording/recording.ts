/**
 * A Recording is one session's recording: it decodes the bytes a client is shown as a UTF-8
 * stream (one decoder per output stream), stamps them with a monotonic clock and writes them as
 * asciicast v2 lines. A Recording that is not active (recording off, or failed to start under the
 * `continue` policy) accepts every call and records nothing, so call sites never branch.
 */
import { EventEmitter } from 'node:events';
import type { RecordingWriter } from './writer.js';
import { Utf8StreamDecoder } from './utf8.js';
import type { SinkWriteError } from '../errors.js';
import type { WriteFailurePolicy } from './policy.js';

/** What a recording knows about itself, to compare a copy elsewhere with it. */
export interface RecordingInfo {
  /** The file's path, or the sink's name for other sinks; undefined when not recording. */
  file: string | undefined;
  /** Wall-clock start in milliseconds since the epoch. */
  startTime: number;
  /** Bytes and lines written so far, header included. */
  bytes: number;
  lines: number;
}

/** Which output stream a chunk came from; each has its own UTF-8 decoder. */
export type OutputStream = 'stdout' | 'stderr';

export interface RecordingEvents {
  /** The sink can take more after a `false` from a write. */
  drain: [];
  /** Writing failed; `action` is what the policy says the session should do. */
  failure: [error: SinkWriteError, action: WriteFailurePolicy];
  /** The recording is finished and closed. */
  close: [];
  /**
   * The recorder's policy ends the session (a `closed` remote whose copy lags too far): the host
   * tells the client `message` and hangs up. The recording goes on until the session ends.
   */
  'end-session': [message: string];
}

export class Recording extends EventEmitter<RecordingEvents> {
  readonly #writer: RecordingWriter | undefined;
  readonly #recordInput: boolean;
  readonly #decoders = new Map<string, Utf8StreamDecoder>();
  #finished: Promise<void> | undefined;
  #accepted: Promise<void> | undefined;

  /** @internal Use Recorder.start(), or Recording.inactive(). */
  constructor(
    writer: RecordingWriter | undefined,
    options: { recordInput?: boolean; onWriteFailure?: WriteFailurePolicy } = {},
  ) {
    super();
    this.#writer = writer;
    this.#recordInput = options.recordInput ?? false;
    const policy = options.onWriteFailure ?? 'continue';
    writer?.on('drain', () => this.emit('drain'));
    writer?.on('error', (err: SinkWriteError) => this.emit('failure', err, policy));
  }

  /** A recording that records nothing. */
  static inactive(): Recording {
    return new Recording(undefined);
  }

  /** Whether this recording writes anything (false when off, after a failure, or finished). */
  get active(): boolean {
    return this.#writer !== undefined && !this.#writer.failed && !this.#finished;
  }

  /**
   * For a recorder whose remote policy is `closed`: resolves when a collector accepted this
   * recording's upload, rejects (with an UploadStartError) when none did; the session must not
   * start before, and is refused with START_FAILURE_MESSAGE on a rejection. Undefined otherwise:
   * the session starts at once.
   */
  get accepted(): Promise<void> | undefined {
    return this.#accepted;
  }

  /** @internal Set by the Recorder when the session must wait for a collector. */
  waitFor(accepted: Promise<void>): void {
    this.#accepted = accepted;
  }

  /** @internal The Recorder's policy ends the session with `message`. */
  endSession(message: string): void {
    if (!this.#finished) this.emit('end-session', message);
  }

  /** @internal Whether the recording thread writes this recording. */
  get threaded(): boolean {
    return this.#writer?.threaded ?? false;
  }

  /** Whether input (`i` events) is recorded. */
  get recordsInput(): boolean {
    return this.#recordInput;
  }

  /** The file's path, or undefined when not recording. */
  get file(): string | undefined {
    return this.#writer?.sinkName;
  }

  /** Identity and progress of the recording. */
  info(): RecordingInfo {
    return {
      file: this.#writer?.sinkName,
      startTime: this.#writer?.startTime ?? 0,
      bytes: this.#writer?.bytes ?? 0,
      lines: this.#writer?.lines ?? 0,
    };
  }

  #decoder(key: string): Utf8StreamDecoder {
    let d = this.#decoders.get(key);
    if (!d) this.#decoders.set(key, (d = new Utf8StreamDecoder()));
    return d;
  }

  #decode(key: string, chunk: Uint8Array | string): string {
    return typeof chunk === 'string' ? chunk : this.#decoder(key).write(chunk);
  }

  /** Records what the client is shown. Returns false when the caller should wait for `'drain'`. */
  output(chunk: Uint8Array | string, stream: OutputStream = 'stdout'): boolean {
    if (!this.#writer || this.#finished) return true;
    if (typeof chunk === 'string') return this.#writer.output(chunk);
    return this.#writer.outputUtf8(this.#decoder(stream).complete(chunk));
  }

  /** Records keystrokes, only when input recording was enabled. */
  input(chunk: Uint8Array | string): boolean {
    if (!this.#writer || !this.#recordInput || this.#finished) return true;
    const text = this.#decode('input', chunk);
    return text === '' ? true : this.#writer.event('i', text);
  }

  /** Records a window size change as applied. */
  resize(cols: number, rows: number): boolean {
    if (!this.#writer || this.#finished) return true;
    return this.#writer.resize(cols, rows);
  }

  /** Adds a marker. */
  marker(label: string): boolean {
    if (!this.#writer || this.#finished) return true;
    return this.#writer.marker(label);
  }

  /**
   * Ends the recording: flushes any held-back partial character, writes the `x` event with the
   * exit status (pass undefined when there is none) and closes the sink. Safe to call twice.
   */
  finish(status?: number): Promise<void> {
    this.#finished ??= (async () => {
      const w = this.#writer;
      if (!w) return;
      for (const [key, d] of this.#decoders) {
        const tail = d.end();
        if (tail && key !== 'input') w.output(tail);
      }
      if (status !== undefined) w.exit(status);
      await w.close();
      this.emit('close');
    })();
    return this.#finished;
  }
}
