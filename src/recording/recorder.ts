/**
 * A Recorder makes Recordings under one policy: on or off, which directory, input or not, limits,
 * and what to do on failure. It checks and holds the directory once.
 */
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import { CastWriter, type HeaderFields, type RecordingWriter } from './writer.js';
import { ThreadWriter } from './thread/writer.js';
import { RecordingStartError, SealWriteError, type SinkWriteError } from '../errors.js';
import type { Clock } from '../clock.js';
import { systemClock } from '../clock.js';
import { RecordingDirectory, sessionFileName } from './directory.js';
import {
  DEFAULT_MIN_FREE,
  DiskLimits,
  type AccountBudget,
  type FreeSpaceFloor,
  type SpaceAmount,
  type SpaceInfo,
} from './disk-limits.js';
import { FileSink, type FileOps, type WrittenFile } from './file-sink.js';
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
import { escapingLogger, type Logger } from '../log.js';
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
  /**
   * The free space recordings leave on their file system (file recordings only): below `soft`
   * the account that wrote most is cut and starts no recording, below `hard` every recording is
   * cut and none starts. A single amount is the soft floor, the hard one half of it; false turns
   * the floors off. Default {@link DEFAULT_MIN_FREE}: 5% of the file system, and 2.5%.
   */
  minFree?: FreeSpaceFloor | SpaceAmount | false;
  /**
   * Bytes of recordings each account (the header's `localUser`) may write per window; past it
   * its recordings are cut and it starts none until its window ends. Default none.
   */
  accountBudget?: AccountBudget;
  /** Default `refuse`. */
  onStartFailure?: StartFailurePolicy;
  /** Default `continue`. */
  onWriteFailure?: WriteFailurePolicy;
  /** fsync each file when it is finished. Default false. */
  fsync?: boolean;
  /** The clock; injectable for tests. */
  clock?: Clock;
  /**
   * Encode, seal and write file recordings on a worker thread (one per process), so that the
   * server's thread only stamps and copies what clients are shown: for a host with cores to
   * spare. Default false: on a 2-core machine the thread cost more than it saved (see
   * docs/performance.md). Not with `fileOps`. A disk limit then cuts a recording as the thread
   * is handed its output, counting what the thread has not yet written as the most it can be.
   */
  thread?: boolean;
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
  /** A recording was cut by a disk limit; `reason` is its `m` event's label. */
  cut: [recording: Recording, reason: string];
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
  readonly #limits: DiskLimits;
  /** The open file recordings, for the bytes they queued and have not written. */
  readonly #fileSinks = new Set<WrittenFile>();
  /** The directory's sealing: undefined until looked for, null when it is not set up. */
  #sealing: RecorderSealing | null | undefined;
  #uploader: Uploader | undefined;
  readonly #byName = new Map<string, Recording>();

  constructor(options: RecorderOptions = {}) {
    super();
    this.#options = options;
    this.enabled = options.enabled ?? recordingEnabledFromEnv();
    this.dir = options.dir ?? DEFAULT_RECORDING_DIR;
    this.#log = escapingLogger(options.log);
    const minFree = options.minFree ?? DEFAULT_MIN_FREE;
    this.#limits = new DiskLimits({
      minFree: minFree === false || typeof minFree === 'object' ? minFree : { soft: minFree },
      budget: options.accountBudget,
      space: options.sink ? undefined : () => this.#space(),
    });
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
    const header: HeaderFields = {
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
    let created: string | undefined;
    let writer: RecordingWriter | undefined;
    let sink: Sink | undefined;
    let file: WrittenFile | undefined;
    const account = meta.localUser ?? '';
    // Assigned before any event line can be admitted (the header is not).
    let recording: Recording | undefined;
    let sealed: ReturnType<RecorderSealing['track']> | undefined;
    const admit = (n: number): string | undefined => {
      const cut = this.#limits.admit(account, n);
      if (cut !== undefined && recording) {
        this.#log(`sshcast: recording ${recording.file} ${cut.replace(/^recording /, '')}`);
        this.emit('cut', recording, cut);
      }
      return cut;
    };
    const clock = o.clock ?? systemClock;
    const maxBytes = o.maxBytes !== undefined ? { maxBytes: o.maxBytes } : {};
    try {
      const problem = this.#limits.startProblem(account);
      if (problem !== undefined)
        throw new RecordingStartError(`cannot start recording: ${problem}`);
      const threaded = !o.sink && o.thread === true && !o.fileOps;
      const made = o.sink ? undefined : this.#dirHandle().create(sessionFileName(clock.wall()));
      created = made?.name;
      const threadWriter =
        made && threaded
          ? ThreadWriter.create(made.fd, made.path, {
              clock,
              ...maxBytes,
              ...(o.fsync !== undefined ? { fsync: o.fsync } : {}),
              admit,
            })
          : undefined;
      if (threadWriter) {
        writer = file = threadWriter;
        sealed = this.#sealing?.track(created!, threadWriter, { hashed: true });
        if (sealed) threadWriter.sealWith(sealed.hasher);
        threadWriter.start(header);
      } else {
        if (made) {
          const fileSink = new FileSink(made.fd, made.path, {
            ...(o.fsync !== undefined ? { fsync: o.fsync } : {}),
            ...(o.fileOps ? { fs: o.fileOps } : {}),
          });
          sink = file = fileSink;
          // The file sink keeps no line once it is written: the hasher may then take its slab.
          sealed = this.#sealing?.track(created!, fileSink, { slabs: true });
        } else sink = o.sink!(meta);
        const castWriter = new CastWriter(sink!, {
          clock,
          ...maxBytes,
          admit,
          ...(sealed ? { onLine: sealed.onLine, slabs: sealed.hasher.slabs } : {}),
        });
        writer = castWriter;
        // A file sink writes the header synchronously: a full disk fails here, at start.
        castWriter.start(header);
      }
      sealed?.open();
    } catch (err) {
      if (sealed) this.#sealing?.abandon(sealed);
      if (writer) void writer.close().catch(() => undefined);
      else if (sink) void sink.close().catch(() => undefined);
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
    recording = new Recording(writer, {
      recordInput: o.recordInput ?? false,
      onWriteFailure: o.onWriteFailure ?? 'continue',
    });
    if (sealed) this.#sealing?.watch(sealed, recording, o.onWriteFailure ?? 'continue');
    if (created !== undefined && file && this.#uploader) this.#ship(recording, created, file);
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
    if (file) this.#fileSinks.add(file);
    recording.once('close', () => {
      this.#open.delete(recording);
      if (file) this.#fileSinks.delete(file);
    });
    this.emit('start', recording);
    return recording;
  }

  // What statfs says, less what open recordings queued and have not handed to the file system.
  #space(): SpaceInfo {
    const { size, free } = this.#dirHandle().space();
    let queued = 0;
    for (const sink of this.#fileSinks) queued += sink.queuedBytes;
    return { size, free: free - queued };
  }

  // Ships the recording's file as it grows; with the `closed` policy the session waits until a
  // collector accepted it, and is refused (the file removed) when none does.
  #ship(recording: Recording, name: string, sink: WrittenFile): void {
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
    await this.#sealing?.stop();
    this.#sealing = undefined;
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
