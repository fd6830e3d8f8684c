/**
 * Every error sshcast throws or emits is an {@link SshcastError} with a stable `code` a caller can
 * branch on; the original failure, if any, is its `cause`.
 */

/** The codes of {@link SshcastError}: stable, one per kind of failure. */
export type SshcastErrorCode =
  /** A recording does not follow the format ({@link CastParseError}). */
  | 'ERR_CAST_PARSE'
  /** A recording could not be read at all (a missing file, a Recording that records nothing). */
  | 'ERR_CAST_READ'
  /** A bad setting: an environment variable, option or flag ({@link ConfigError}). */
  | 'ERR_CONFIG'
  /** A recording could not start ({@link RecordingStartError}). */
  | 'ERR_RECORDING_START'
  /** A sink failed mid-recording ({@link SinkWriteError}). */
  | 'ERR_SINK_WRITE'
  /** This server cannot run a session as that account (not root, another account). */
  | 'ERR_ACCOUNT_SWITCH'
  /** The account database has no entry for this process's uid. */
  | 'ERR_ACCOUNT_LOOKUP'
  /** No valid key could be generated. */
  | 'ERR_KEY_GENERATION'
  /** A session's process could not be started. */
  | 'ERR_SPAWN'
  /** node-pty no longer has an internal sshcast's workarounds rely on. */
  | 'ERR_PTY_INTERNALS'
  /** The replay page's scripts are missing or import what a browser cannot load. */
  | 'ERR_WEB_ASSETS'
  /** A file the command line or the replay server was asked for cannot be used. */
  | 'ERR_FILE'
  /** A command line that does not parse (the `sshcast` command exits with status 2). */
  | 'ERR_USAGE'
  /**
   * Sealing cannot be set up, started or used: a directory not set up, a key state that does not
   * match its ledger, another process sealing the same directory, a bad key ({@link SealingError}).
   */
  | 'ERR_SEALING'
  /** A method called out of order: a writer started twice, a sink written after close. */
  | 'ERR_INVALID_STATE'
  /** No collector accepted a recording's upload in time (policy `closed`). */
  | 'ERR_UPLOAD_START'
  /** A request of the device's uploader to a collector failed (retried; logged). */
  | 'ERR_UPLOAD'
  /** The collector refused a device's request (answered with its HTTP status). */
  | 'ERR_COLLECT_REQUEST'
  /** The object store (a directory or an S3 bucket) failed a request. */
  | 'ERR_OBJECT_STORE'
  /** The object store has no such object. */
  | 'ERR_OBJECT_NOT_FOUND'
  /** `sshcast verify --against URL`: a collector's read side refused or failed a request. */
  | 'ERR_COLLECTOR_READ'
  /** sshcast/testing: a wait (for output, an exit, recordings, a reply) did not end as asked. */
  | 'ERR_TEST_WAIT'
  /** sshcast/testing: the server under test refused a request, or the connection. */
  | 'ERR_TEST_REFUSED'
  /** sshcast/testing: OpenStack Swift is not installed, or did not start. */
  | 'ERR_TEST_SWIFT';

export class SshcastError extends Error {
  /** A stable machine-readable code such as `ERR_CAST_PARSE`. */
  readonly code: SshcastErrorCode;

  constructor(code: SshcastErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }

  override get name(): string {
    return this.constructor.name;
  }
}

/** What is wrong with a line of a recording. */
export type CastProblem =
  'header' | 'version' | 'json' | 'event' | 'time' | 'blank' | 'surrogate' | 'truncated' | 'empty';

/** A recording that does not follow the format; `line` is 1-based. */
export class CastParseError extends SshcastError {
  readonly line: number;
  readonly problem: CastProblem;
  /** The problem in words, without the `line N: ` that `message` starts with. */
  readonly detail: string;

  constructor(line: number, problem: CastProblem, detail: string) {
    super('ERR_CAST_PARSE', `line ${line}: ${detail}`);
    this.line = line;
    this.problem = problem;
    this.detail = detail;
  }
}

/** A bad setting: an environment variable, option or flag. The message names it. */
export class ConfigError extends SshcastError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_CONFIG', message, options);
  }
}

/** A recording could not be started (directory, permissions, free space, file creation). */
export class RecordingStartError extends SshcastError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_RECORDING_START', message, options);
  }
}

/** Writing to a sink failed mid-recording; `sink` names which one. */
export class SinkWriteError extends SshcastError {
  readonly sink: string;

  constructor(sink: string, cause: unknown) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    super('ERR_SINK_WRITE', `recording sink ${sink} failed: ${reason}`, { cause });
    this.sink = sink;
  }
}

/**
 * Sealing (DESIGN section 7) cannot be set up, started or used: a directory not set up, a state
 * file that does not match its ledger, another process sealing the same directory, a bad key.
 */
export class SealingError extends SshcastError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_SEALING', message, options);
  }
}

/**
 * A ledger append or a move of the sealing key failed: a recording failure under the Recorder's
 * write-failure policy. `sink` is the ledger's path.
 */
export class SealWriteError extends SinkWriteError {
  constructor(ledger: string, cause: unknown) {
    super(ledger, cause);
    const reason = cause instanceof Error ? cause.message : String(cause);
    this.message = `sealing to ${ledger} failed: ${reason}`;
  }
}
