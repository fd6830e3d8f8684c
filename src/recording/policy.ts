/**
 * Recording policy as data: whether to record, where, what, and what to do when recording fails.
 * `TS_DEBUG_LOG_SSH` is parsed like Go's strconv.ParseBool.
 */
import { ConfigError } from '../errors.js';

/** Tailscale's directory for session recordings. */
export const DEFAULT_RECORDING_DIR = '/var/lib/tailscale/ssh-sessions';

/** The environment variable that turns recording on. */
export const ENABLE_VARIABLE = 'TS_DEBUG_LOG_SSH';

const TRUE = new Set(['1', 't', 'T', 'TRUE', 'true', 'True']);
const FALSE = new Set(['0', 'f', 'F', 'FALSE', 'false', 'False']);

/** Parses a boolean as Go's strconv.ParseBool; undefined or '' is false; anything else throws. */
export function parseBool(value: string | undefined, name = ENABLE_VARIABLE): boolean {
  if (value === undefined || value === '') return false;
  if (TRUE.has(value)) return true;
  if (FALSE.has(value)) return false;
  throw new ConfigError(
    `invalid ${name}=${JSON.stringify(value)}: use 1, t, T, TRUE, true, True, 0, f, F, FALSE, false or False`,
  );
}

/** Whether `TS_DEBUG_LOG_SSH` in `env` turns recording on. Throws a ConfigError on a bad value. */
export function recordingEnabledFromEnv(env: NodeJS.ProcessEnv = process.env): boolean {
  return parseBool(env[ENABLE_VARIABLE]);
}

/**
 * What to do when a recording cannot start: `refuse` the session (Tailscale's default, the client
 * sees `can't start new recording`) or `continue` it unrecorded.
 */
export type StartFailurePolicy = 'refuse' | 'continue';

/**
 * What to do when writing fails mid-session: `continue` unrecorded (default; logged and emitted)
 * or `terminate` the session with a message.
 */
export type WriteFailurePolicy = 'continue' | 'terminate';

/**
 * What the collector's state does to sessions when recordings are copied off the device: `open`
 * (default) never refuses or ends a session because of the collector; `closed` refuses a session
 * whose upload no collector accepts (START_FAILURE_MESSAGE) and ends one whose copy lags more than
 * the limit (REMOTE_LAG_MESSAGE).
 */
export type RemotePolicy = 'open' | 'closed';

/** The message a client sees when its session is refused because recording cannot start. */
export const START_FAILURE_MESSAGE = "can't start new recording";

/** The message a client sees when its session ends because recording failed. */
export const WRITE_FAILURE_MESSAGE = 'recording failed; ending session';

/**
 * The message a client sees when its session ends because its recording's off-device copy lags
 * more than the limit (remote policy `closed`).
 */
export const REMOTE_LAG_MESSAGE = 'recording is not reaching the collector; ending session';

/** Parses a size with an optional K, M or G suffix (powers of 1024). */
export function parseSize(text: string, name = 'size'): number {
  const m = /^([0-9]+)([KMG])?i?B?$/i.exec(text.trim());
  if (!m)
    throw new ConfigError(
      `invalid ${name} ${JSON.stringify(text)}: use bytes with an optional K, M or G`,
    );
  const unit = { K: 1024, M: 1024 ** 2, G: 1024 ** 3 }[(m[2] ?? '').toUpperCase() as 'K'] ?? 1;
  const n = Number(m[1]) * unit;
  if (!Number.isSafeInteger(n) || n <= 0)
    throw new ConfigError(`invalid ${name} ${JSON.stringify(text)}`);
  return n;
}
