/**
 * A Recorder makes Recordings under one policy: on or off, which directory, input or not, limits,
 * and what to do on failure. It checks and holds the directory once.
 */
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import { CastWriter } from './writer.js';
import { RecordingStartError, SealWriteError, type SinkWriteError } from '../errors.js';
import type { Clock } from '../clock.js';
import { systemClock } from '../clock.js';
import { RecordingDirectory, sessionFileName } from './directory.js';
import { FileSink, type FileOps } from './file-sink.js';
import {
  DEFAULT_RECORDING_DIR,
  recordingEnabledFromEnv,
  type StartFailurePolicy,
  type WriteFailurePolicy,
} from './policy.js';
import { Recording } from './recording.js';
import type { Sink } from './sink.js';
import { RecorderSealing, type SealingStatus } from './sealing.js';
import type { SealFileOps } from '../sealing/store.js';
import { defaultLog, type Logger } from '../log.js';

/** What a recording's header says about the session. */
export interface SessionMeta {
  /** Terminal size; 0 or missing becomes 80x24. */
  cols?: number;
  rows?: number;
  /** The exec command; absent for a shell. */
  command?: string;
  /** TERM and SHELL for the header's env. */
  term?: string;
  shell?: string;
  /** The local account the session runs as. */
  localUser?: string;
  /** An optional title. */
  title?: string;
}

/** Options for {@link Recorder}. Every field has a safe default. */
export interface RecorderOptions {
  /** Record or not. Default: `TS_DEBUG_LOG_SSH` (a bad value throws a ConfigError). */
  enabled?: boolean;
  /** Where files go. Default `/var/lib/tailscale/ssh-sessions`. */
  dir?: string;
  /** Record keystrokes as `i` events. Default false. */
  recordInput?: boolean;
  /** Per-recording size cap in bytes. Default none. */
  maxBytes?: number;
  /** Below this many free bytes a new recording cannot start. Default none. */
  minFreeBytes?: number;
  /** Default `refuse`. */
  onStartFailure?: StartFailurePolicy;
  /** Default `continue`. */
  onWriteFailure?: WriteFailurePolicy;
  /** fsync each file when it is finished. Default false. */
  fsync?: boolean;
  /** The clock; injectable for tests. */
  clock?: Clock;
  /** Write to these sinks instead of files (for example a MemorySink). */
  sink?: (meta: SessionMeta) => Sink;
  /** @internal File system calls for file sinks; injectable to test faults. */
  fileOps?: FileOps;
  /** Where problems are logged, one line each. Default: stderr ({@link defaultLog}). */
  log?: Logger;
  /**
   * Seal file recordings (DESIGN section 7, docs/sealing.md) when the directory has been set up
   * with `sshcast seal init`. Default true; false records without sealing.
   */
  seal?: boolean;
  /** @internal File system calls for the sealing ledger and key state; injectable to test faults. */
  sealOps?: SealFileOps;
}

export interface RecorderEvents {
  /** A recording started. */
  start: [recording: Recording];
  /** A recording could not start; `refused` says whether the session is refused. */
  'start-failure': [error: RecordingStartError, refused: boolean];
  /** A recording failed mid-session. */
  'write-failure': [error: SinkWriteError, recording: Recording];
}

export class Recorder extends EventEmitter<RecorderEvents> {
  /** Whether this recorder records. */
  readonly enabled: boolean;
  /** The directory recordings go to. */
  readonly dir: string;
  readonly #options: RecorderOptions;
  #directory: RecordingDirectory | undefined;
  readonly #log: Logger;
  readonly #open = new Set<Recording>();
  /** The directory's sealing: undefined until looked for, null when it is not set up. */
  #sealing: RecorderSealing | null | undefined;

  constructor(options: RecorderOptions = {}) {
    super();
    this.#options = options;
    this.enabled = options.enabled ?? recordingEnabledFromEnv();
    this.dir = options.dir ?? DEFAULT_RECORDING_DIR;
    this.#log = options.log ?? defaultLog;
  }

  /**
   * Checks that recordings can be made: opens and checks the directory and creates (then
   * removes) a probe file; in a directory set up for sealing, starts sealing it. Throws a
   * RecordingStartError naming the problem, or a SealingError when the directory is set up for
   * sealing but cannot be sealed (another process seals it, a key state that does not match).
   */
  check(): void {
    if (!this.enabled || this.#options.sink) return;
    const dir = this.#dirHandle();
    const probe = dir.create(`.sshcast-probe-${process.pid}-${Date.now()}`);
    fs.closeSync(probe.fd);
    fs.unlinkSync(probe.path);
  }

  #dirHandle(): RecordingDirectory {
    // A directory deleted while the server runs (an admin's rm -rf) would refuse every later
    // session: make it again, with every check. One merely renamed or replaced is kept.
    if (this.#directory?.removed) {
      this.#log(`sshcast: recording directory ${this.dir} was removed; creating it again`);
      this.#directory.close();
      this.#directory = undefined;
    }
    this.#directory ??= RecordingDirectory.open(this.dir);
    if (this.#sealing === undefined && this.#options.seal !== false) {
      const log = this.#log;
      this.#sealing =
        RecorderSealing.open(this.dir, {
          log,
          ...(this.#options.clock ? { clock: this.#options.clock } : {}),
          ...(this.#options.sealOps ? { ops: this.#options.sealOps } : {}),
        }) ?? null;
    }
    return this.#directory;
  }

  /**
   * The directory's sealing when it is on: known after check() or the first recording, undefined
   * before, and for a directory not set up or a Recorder given `seal: false`.
   */
  get sealing(): SealingStatus | undefined {
    return this.#sealing ?? undefined;
  }

  /**
   * Starts a recording for one session. Returns an inactive Recording when recording is off, or
   * when it cannot start and the policy is `continue`; throws a RecordingStartError when it cannot
   * start and the policy is `refuse` (the session should then be refused with START_FAILURE_MESSAGE).
   */
  start(meta: SessionMeta): Recording {
    if (!this.enabled) return Recording.inactive();
    const o = this.#options;
    const header: Parameters<CastWriter['start']>[0] = {
      width: meta.cols ?? 0,
      height: meta.rows ?? 0,
    };
    if (meta.command !== undefined) header.command = meta.command;
    if (meta.title !== undefined) header.title = meta.title;
    if (meta.term !== undefined || meta.shell !== undefined) {
      header.env = {};
      if (meta.term !== undefined) header.env.TERM = meta.term;
      if (meta.shell !== undefined) header.env.SHELL = meta.shell;
    }
    if (meta.localUser !== undefined) header.localUser = meta.localUser;
    let sink: Sink | undefined;
    let created: string | undefined;
    let writer: CastWriter;
    let sealed: ReturnType<RecorderSealing['track']> | undefined;
    try {
      if (o.sink) sink = o.sink(meta);
      else {
        let file: FileSink;
        [file, created] = this.#createFileSink();
        sink = file;
        sealed = this.#sealing?.track(created, file);
      }
      writer = new CastWriter(sink, {
        clock: o.clock ?? systemClock,
        ...(o.maxBytes !== undefined ? { maxBytes: o.maxBytes } : {}),
        ...(sealed ? { onLine: sealed.onLine } : {}),
      });
      // A file sink writes the header synchronously: a full disk fails here, at start.
      writer.start(header);
      sealed?.open();
    } catch (err) {
      if (sealed) this.#sealing?.abandon(sealed);
      if (sink) void sink.close().catch(() => undefined);
      if (created !== undefined) this.#directory?.remove(created);
      const error =
        err instanceof RecordingStartError
          ? err
          : new RecordingStartError(`cannot start recording: ${(err as Error).message}`, {
              cause: err,
            });
      const refused = (o.onStartFailure ?? 'refuse') === 'refuse';
      this.#log(
        `sshcast: ${error.message}${refused ? '; session refused' : '; session not recorded'}`,
      );
      this.emit('start-failure', error, refused);
      if (refused) throw error;
      return Recording.inactive();
    }
    const recording = new Recording(writer, {
      recordInput: o.recordInput ?? false,
      onWriteFailure: o.onWriteFailure ?? 'continue',
    });
    if (sealed) this.#sealing?.watch(sealed, recording, o.onWriteFailure ?? 'continue');
    recording.on('failure', (err) => {
      const goesOn =
        err instanceof SealWriteError
          ? 'session continues, its recording unsealed'
          : 'session continues unrecorded';
      this.#log(
        `sshcast: ${err.message}; ${o.onWriteFailure === 'terminate' ? 'ending session' : goesOn}`,
      );
      this.emit('write-failure', err, recording);
    });
    this.#open.add(recording);
    recording.once('close', () => this.#open.delete(recording));
    this.emit('start', recording);
    return recording;
  }

  #createFileSink(): [FileSink, string] {
    const dir = this.#dirHandle();
    const o = this.#options;
    if (o.minFreeBytes !== undefined) {
      const free = dir.freeBytes();
      if (free < o.minFreeBytes) {
        throw new RecordingStartError(
          `only ${free} bytes free in ${this.dir}, below the minimum of ${o.minFreeBytes}`,
        );
      }
    }
    const file = dir.create(sessionFileName((o.clock ?? systemClock).wall()));
    const sink = new FileSink(file.fd, file.path, {
      ...(o.fsync !== undefined ? { fsync: o.fsync } : {}),
      ...(o.fileOps ? { fs: o.fileOps } : {}),
    });
    return [sink, file.name];
  }

  /** Recordings started and not yet finished. */
  get openRecordings(): ReadonlySet<Recording> {
    return this.#open;
  }

  /** Finishes every open recording (without an exit status) and releases the directory. */
  async close(): Promise<void> {
    await Promise.all([...this.#open].map((r) => r.finish()));
    await this.#sealing?.stop();
    this.#sealing = undefined;
    this.#directory?.close();
    this.#directory = undefined;
  }
}
