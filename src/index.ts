export * from './errors.js';
export type { Event, EventCode, Header } from './asciicast/event.js';
export { DEFAULT_SIZE } from './asciicast/event.js';
export { encodeCast, encodeEvent, encodeHeader } from './asciicast/encoder.js';
export { formatTime, secondsToMicros } from './asciicast/time.js';
export { Utf8StreamDecoder } from './asciicast/utf8.js';
export { CastWriter, SIZE_LIMIT_MARKER, type CastWriterOptions } from './asciicast/writer.js';
export {
  CastParser,
  parseCast,
  readCastFile,
  readCastStream,
  type Cast,
  type CastItem,
  type CollectedCast,
  type ParseOptions,
} from './asciicast/reader.js';
export { systemClock, ManualClock, type Clock } from './recording/clock.js';
export { MemorySink, type Sink } from './recording/sink.js';
export { FileSink, type FileOps, type FileSinkOptions } from './recording/file-sink.js';
export { RecordingDirectory, sessionFileName, type CreatedFile } from './recording/directory.js';
export {
  DEFAULT_RECORDING_DIR,
  ENABLE_VARIABLE,
  START_FAILURE_MESSAGE,
  WRITE_FAILURE_MESSAGE,
  parseBool,
  parseSize,
  recordingEnabledFromEnv,
  type StartFailurePolicy,
  type WriteFailurePolicy,
} from './recording/policy.js';
export { Recording, type OutputStream, type RecordingInfo } from './recording/recording.js';
export { Recorder, type RecorderOptions, type SessionMeta } from './recording/recorder.js';
export {
  authenticate,
  describeAuthPolicy,
  DEFAULT_AUTH_TIMEOUT_MS,
  DEFAULT_MAX_AUTH_ATTEMPTS,
  type AuthOptions,
} from './ssh/auth.js';
export {
  KEY_OPTIONS,
  MAX_AUTHORIZED_KEYS_BYTES,
  loadAuthorizedKeys,
  matchFrom,
  parseAuthorizedKeys,
  type AuthorizedKey,
  type LoadResult,
  type OwnershipPolicy,
} from './ssh/authorized-keys.js';
export {
  DEFAULT_LOGIN_GRACE_MS,
  DEFAULT_MAX_CHANNELS,
  DEFAULT_MAX_UNAUTHENTICATED,
  limitChannels,
  limitConnections,
  type ChannelLimit,
  type ConnectionGate,
  type ConnectionLimitOptions,
} from './ssh/limits.js';
export {
  handleSession,
  serveSessions,
  terminalSize,
  DEFAULT_ALLOWED_ENV,
  DEFAULT_COLS,
  DEFAULT_ROWS,
  MAX_TERMINAL_SIDE,
  type SessionOptions,
  type SubsystemHandler,
} from './ssh/session.js';
export { recordChannel } from './ssh/record-channel.js';
export { SSH_SIGNALS, exitStatus, signalFromClient, sshSignalName } from './ssh/exit.js';
export {
  AccountSwitchError,
  launchCommand,
  sessionEnvironment,
  type LaunchCommand,
  type LaunchSpec,
} from './ssh/launcher.js';
export {
  spawnSession,
  type ProcessExit,
  type SessionProcess,
  type SpawnOptions,
} from './ssh/process.js';
export type { Identity, KeyOptions } from './ssh/identity.js';
export { currentAccount, isValidAccountName, lookupAccount, type Account } from './ssh/account.js';
export {
  summarizeCast,
  summarizeCastSync,
  summarizeHandle,
  type CastSummary,
} from './asciicast/summary.js';
export { startWebServer, type WebServer, type WebServerOptions } from './web/server.js';
export { generateEd25519KeyPair, type KeyPair } from './ssh/keys.js';
// Sealing (DESIGN section 7): set-up, verification (of a directory, or of any copy through a
// RecordingSource) and pruning. The Recorder seals by itself in a directory that is set up.
export { initSealing, type InitOptions, type InitResult } from './sealing/setup.js';
export {
  DEFAULT_INTERVAL,
  formatVerificationKey,
  parseVerificationKey,
  type VerificationKey,
} from './sealing/key.js';
export {
  checkLedger,
  judgeRecordings,
  verifyReport,
  type CheckOptions,
  type Finding,
  type LedgerCheck,
  type RecordingSource,
  type RecordingVerdict,
  type VerifyReport,
} from './sealing/verify.js';
export { directorySource, ledgerFor, verifyDirectory } from './sealing/verify-directory.js';
export { pruneRecordings, type PruneOptions, type PruneResult } from './sealing/prune.js';
