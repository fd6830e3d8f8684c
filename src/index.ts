/**
 * `sshcast`: what a host of an ssh2 server uses to record its sessions (docs/api.md lists each
 * export with its contract). Internals are reached by path from the package's own modules and
 * tests, never from here.
 */
export {
  SshcastError,
  CastParseError,
  ConfigError,
  RecordingStartError,
  SinkWriteError,
  SealingError,
  SealWriteError,
  type SshcastErrorCode,
  type CastProblem,
} from './errors.js';
export { escapingLogger, type Logger } from './log.js';

// Serving sessions: authentication and PAM, limits, the session handler, hanging up.
export {
  authenticate,
  describeAuthPolicy,
  DEFAULT_AUTH_TIMEOUT_MS,
  DEFAULT_MAX_AUTH_ATTEMPTS,
  type AuthOptions,
} from './ssh/auth.js';
export { KEY_OPTIONS } from './ssh/authorized-keys.js';
export {
  limitChannels,
  limitConnections,
  parseMaxStartups,
  DEFAULT_LOGIN_GRACE_MS,
  DEFAULT_MAX_CHANNELS,
  DEFAULT_MAX_STARTUPS,
  DEFAULT_MAX_UNAUTHENTICATED,
  DEFAULT_PER_SOURCE_MAX_STARTUPS,
  type ChannelLimit,
  type ConnectionGate,
  type ConnectionLimitOptions,
  type MaxStartups,
} from './ssh/limits.js';
export { serveSessions } from './ssh/serve.js';
export {
  handleSession,
  DEFAULT_ALLOWED_ENV,
  type SessionOptions,
  type SubsystemHandler,
} from './ssh/session.js';
export { recordChannel } from './ssh/record-channel.js';
export {
  checkLogin,
  describeLoginPolicy,
  refuseChannels,
  type LoginInfo,
  type LoginVerdict,
} from './ssh/login.js';
export { DEFAULT_PAM_SERVICE, pamUnavailable, type PamOptions } from './ssh/pam.js';
export { hangUp, type HangUpOptions } from './ssh/connection.js';
export type { Identity, KeyOptions } from './ssh/identity.js';
export type { Account } from './ssh/account.js';
export { generateEd25519KeyPair, type KeyPair } from './ssh/keys.js';

// Recording: the recorder and its policy, one recording, sinks.
export {
  Recorder,
  type RecorderEvents,
  type RecorderOptions,
  type RemoteOptions,
  type SessionMeta,
} from './recording/recorder.js';
export {
  Recording,
  type OutputStream,
  type RecordingEvents,
  type RecordingInfo,
} from './recording/recording.js';
export {
  DEFAULT_RECORDING_DIR,
  ENABLE_VARIABLE,
  START_FAILURE_MESSAGE,
  WRITE_FAILURE_MESSAGE,
  REMOTE_LAG_MESSAGE,
  parseSize,
  recordingEnabledFromEnv,
  type RemotePolicy,
  type StartFailurePolicy,
  type WriteFailurePolicy,
} from './recording/policy.js';
export { SIZE_LIMIT_MARKER } from './recording/writer.js';
export {
  DEFAULT_BUDGET_WINDOW_MS,
  DEFAULT_MIN_FREE,
  describeDiskLimits,
  parseAccountBudget,
  parseMinFree,
  type AccountBudget,
  type FreeSpaceFloor,
  type SpaceAmount,
} from './recording/disk-limits.js';
export type { Sink } from './recording/sink.js';
export type { Clock } from './clock.js';

// Off-device copies: the device's uploader to `sshcast collect`.
export {
  Uploader,
  UploadStartError,
  type UploaderEvents,
  type UploaderOptions,
  type UploadProgress,
} from './remote/uploader.js';

// The format: reading and writing asciicast.
export {
  exitStatus,
  type Event,
  type EventCode,
  type Header,
  type ProcessExit,
} from './asciicast/event.js';
export { DEFAULT_SIZE, MAX_TERMINAL_SIDE, terminalSize } from './asciicast/terminal.js';
export { encodeCast, encodeEvent, encodeHeader } from './asciicast/encoder.js';
export {
  parseCast,
  readCastFile,
  readCastStream,
  type Cast,
  type CastItem,
  type CollectedCast,
  type ParseOptions,
} from './asciicast/reader.js';
export { summarizeCast, type CastSummary } from './asciicast/summary.js';

// Replay and live view.
export { startWebServer, type WebServer, type WebServerOptions } from './web/server.js';
export type { LiveOptions } from './web/live-streams.js';
export type { LiveCandidate, LivenessRule } from './live/liveness.js';

// Sealing (DESIGN section 7, docs/sealing.md): the Recorder seals by itself in a directory set up
// with `sshcast seal init`; `sshcast verify` and `sshcast prune` do the rest.
export type { SealingStatus } from './recording/sealing.js';
export { formatInterval } from './sealing/key.js';
