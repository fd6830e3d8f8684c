/**
 * Recording into memory for tests: a Recorder that is always on and writes each recording to a
 * MemorySink, with the same header and events a file would get.
 */

import { Recorder, type RecorderOptions } from '../recording/recorder.js';
import type { Recording } from '../recording/recording.js';
import { MemorySink } from '../recording/sink.js';
import { loadCast, memorySinkOf, registerMemoryRecording, type LoadedCast } from './cast.js';
import { RecordingWatch } from './recording-watch.js';
import { defaultWaitMs } from './terminal-output.js';
import { SshcastError } from '../errors.js';

/** Options for {@link memoryRecorder}: a Recorder's, without those that pick where files go. */
export type MemoryRecorderOptions = Omit<
  RecorderOptions,
  'enabled' | 'dir' | 'sink' | 'fileOps' | 'minFreeBytes' | 'seal' | 'sealOps'
>;

/** A Recorder that records into memory; see {@link memoryRecorder}. */
export class MemoryRecorder extends Recorder {
  readonly #sinks: MemorySink[];
  readonly #recordings: Recording[] = [];
  readonly #watch: RecordingWatch;

  constructor(options: MemoryRecorderOptions = {}) {
    const sinks: MemorySink[] = [];
    super({
      ...options,
      enabled: true,
      sink: () => {
        const sink = new MemorySink();
        sinks.push(sink);
        return sink;
      },
    });
    this.#sinks = sinks;
    this.on('start', (recording) => {
      this.#recordings.push(recording);
      registerMemoryRecording(recording, sinks.at(-1)!);
    });
    this.#watch = new RecordingWatch(this);
  }

  /** Every sink made so far, one per recording, oldest first. */
  get sinks(): readonly MemorySink[] {
    return this.#sinks;
  }

  /** Every recording started so far, oldest first. */
  get recordings(): readonly Recording[] {
    return this.#recordings;
  }

  /** The MemorySink a recording of this recorder writes to. */
  sinkOf(recording: Recording): MemorySink | undefined {
    return memorySinkOf(recording);
  }

  /** Each recording so far, loaded as it stands (a live one has no `x` event yet). */
  casts(): LoadedCast[] {
    return this.#sinks.map((s) => loadCast(s));
  }

  /**
   * Resolves with every recording, loaded, once at least `count` have started and every started
   * one has finished (a handler that records with `recordChannel` finishes when the channel
   * closes, just after the client saw it close). Rejects after `timeout` ms (default: that of
   * every wait, before the test runner's own timeout).
   */
  async waitForRecordings(count = 1, options: { timeout?: number } = {}): Promise<LoadedCast[]> {
    await this.#watch.wait(count, options.timeout ?? defaultWaitMs());
    return this.casts();
  }

  /** The most recent recording, loaded; throws when none has started. */
  lastCast(): LoadedCast {
    const sink = this.#sinks.at(-1);
    if (!sink)
      throw new SshcastError('ERR_INVALID_STATE', 'memoryRecorder: no recording has started');
    return loadCast(sink);
  }
}

/**
 * A Recorder that is always enabled and records each session into a {@link MemorySink} instead of
 * a file: same header, same events, no directory, no `TS_DEBUG_LOG_SSH`. Pass `clock: new
 * ManualClock()` for exact event times.
 *
 * @example
 * const recorder = memoryRecorder();
 * const rec = recorder.start({ cols: 80, rows: 24, localUser: 'alice' });
 * rec.output('hello\r\n');
 * await rec.finish(0);
 * expect(recorder.lastCast().output).toBe('hello\r\n');
 * expect(rec).toHaveExitCode(0); // with 'sshcast/testing/vitest'
 */
export function memoryRecorder(options: MemoryRecorderOptions = {}): MemoryRecorder {
  return new MemoryRecorder(options);
}
