/**
 * Every error sshcast throws or emits is an {@link SshcastError} with a stable `code` a caller can
 * branch on; the original failure, if any, is its `cause`.
 */
export class SshcastError extends Error {
  /** A stable machine-readable code such as `ERR_CAST_PARSE`. */
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
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
