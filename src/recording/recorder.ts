/**
 * A Recorder makes Recordings under one policy: on or off, which directory, input or not, limits,
 * and what to do on failure. It checks and holds the directory once.
 */
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import { CastWriter } from './writer.js';
import { RecordingStartError, type SinkWriteError } from '../errors.js';
import type { Clock } from './clock.js';
import { systemClock } from './clock.js';
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
import { defaultLog, type Logger } from '../log.js';
import { Uploader, type UploaderOptions } from '../remote/uploader.js';
import { REMOTE_LAG_MESSAGE, type RemotePolicy } from './policy.js';

/**
 * Where and how recordings are copied off the device while they are written (DESIGN section 8):
 * the collectors (`sshcast collect`), this device's name and token there, the policy, and the
 * uploader's knobs. The recording directory is the spool; the upload state is kept in its
 * `.sshcast/`, and uploads a previous run left unfinished are finished.
 */
export interface RemoteOptions extends Omit<UploaderOptions, 'dir' | 'log' | 'now'> {
  /** Default `open`. */
  policy?: RemotePolicy;
  /** `closed`: how long a session waits for a collector to accept its upload. Default 10 s. */
  acceptTimeoutMs?: number;
  /** How long `Recorder.close()` waits for the uploads to be acknowledged. Default 5 s. */
  closeTimeoutMs?: number;
}

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
  /** Copy every recording (and the ledger) to collectors while it is written. Default none. */
  remote?: RemoteOptions;
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
  #uploader: Uploader | undefined;
  readonly #byName = new Map<string, Recording>();

  constructor(options: RecorderOptions = {}) {
    super();
    this.#options = options;
    this.enabled = options.enabled ?? recordingEnabledFromEnv();
    this.dir = options.dir ?? DEFAULT_RECORDING_DIR;
    this.#log = options.log ?? defaultLog;
  }

  /**
   * Checks that recordings can be made: opens and checks the directory and creates (then
   * removes) a probe file. Throws a RecordingStartError naming the problem.
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
    // The uploader opens once the directory passed its checks; it then finishes what a previous
    // run left unshipped.
    if (this.#options.remote && !this.#uploader && !this.#options.sink) this.#openUploader();
    return this.#directory;
  }

  #openUploader(): void {
    const { policy, acceptTimeoutMs: _a, closeTimeoutMs: _c, ...o } = this.#options.remote!;
    const uploader = Uploader.create({ ...o, dir: this.dir, log: this.#log });
    const closed = policy === 'closed';
    uploader.on('lagging', (name, lagMs) => {
      const recording = this.#byName.get(name);
      const why = `sshcast: ${name}: its copy lags ${Math.round(lagMs / 1000)} s behind`;
      this.#log(`${why}; ${closed && recording ? 'ending session' : 'the session goes on'}`);
      if (closed) recording?.endSession(REMOTE_LAG_MESSAGE);
    });
    uploader.on('caught-up', (name) => this.#log(`sshcast: ${name}: its copy caught up`));
    this.#uploader = uploader;
  }

  /**
   * The uploader of the `remote` option (undefined without one, or before the first recording or
   * `check()`): its progress per recording, `flush()`, and its `lagging` and `shipped` events.
   */
  get remote(): Uploader | undefined {
    return this.#uploader;
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
    try {
      if (o.sink) sink = o.sink(meta);
      else [sink, created] = this.#createFileSink();
      writer = new CastWriter(sink, {
        clock: o.clock ?? systemClock,
        ...(o.maxBytes !== undefined ? { maxBytes: o.maxBytes } : {}),
      });
      // A file sink writes the header synchronously: a full disk fails here, at start.
      writer.start(header);
    } catch (err) {
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
    if (created !== undefined && this.#uploader) this.#ship(recording, created, sink as FileSink);
    recording.on('failure', (err) => {
      this.#log(
        `sshcast: ${err.message}; ${o.onWriteFailure === 'terminate' ? 'ending session' : 'session continues unrecorded'}`,
      );
      this.emit('write-failure', err, recording);
    });
    this.#open.add(recording);
    recording.once('close', () => this.#open.delete(recording));
    this.emit('start', recording);
    return recording;
  }

  // Ships the recording's file as it grows; with the `closed` policy the session waits until a
  // collector accepted it, and is refused (the file removed) when none does.
  #ship(recording: Recording, name: string, sink: FileSink): void {
    const uploader = this.#uploader!;
    const remote = this.#options.remote!;
    this.#byName.set(name, recording);
    const saved = uploader.opened(name);
    saved.catch((err: unknown) => this.#log(`sshcast: ${name}: ${(err as Error).message}`));
    uploader.grew(name, sink.bytesWritten);
    sink.onWritten = (bytes) => uploader.grew(name, bytes);
    recording.once('close', () => {
      this.#byName.delete(name);
      uploader.closed(name, sink.bytesWritten);
    });
    if (remote.policy !== 'closed') return;
    const accepted = Promise.all([
      saved,
      uploader.accepted(name, remote.acceptTimeoutMs ?? 10_000),
    ]);
    recording.waitFor(
      accepted.then(
        () => undefined,
        async (err: unknown) => {
          const error = new RecordingStartError(
            `cannot start recording: ${(err as Error).message}`,
            { cause: err },
          );
          this.#log(`sshcast: ${error.message}; session refused`);
          this.emit('start-failure', error, true);
          this.#byName.delete(name);
          await uploader.forget(name);
          await recording.finish();
          this.#directory?.remove(name);
          throw error;
        },
      ),
    );
  }

  #createFileSink(): [Sink, string] {
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

  /**
   * Finishes every open recording (without an exit status) and releases the directory. With a
   * remote, waits (up to its `closeTimeoutMs`) for the uploads to be acknowledged, then stops
   * the uploader; what is left is shipped by the next Recorder on this directory.
   */
  async close(): Promise<void> {
    await Promise.all([...this.#open].map((r) => r.finish()));
    const uploader = this.#uploader;
    if (uploader) {
      this.#uploader = undefined;
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        uploader.flush(),
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, this.#options.remote?.closeTimeoutMs ?? 5000);
        }),
      ]);
      clearTimeout(timer);
      await uploader.close();
    }
    this.#directory?.close();
    this.#directory = undefined;
  }
}
