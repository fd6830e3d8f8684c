/**
 * `sshcast/testing`: helpers for testing SSH servers built on sshcast and the recordings they make.
 * The vitest matchers are registered by importing `sshcast/testing/vitest`.
 */
export {
  loadCast,
  isCastText,
  type CastMarker,
  type CastResize,
  type CastSource,
  type LoadedCast,
} from './cast.js';
export { renderScreen, MAX_SCREEN_SIDE, type RenderOptions, type Screen } from './screen.js';
export { memoryRecorder, MemoryRecorder, type MemoryRecorderOptions } from './memory.js';
export {
  checkExitCode,
  checkOutput,
  checkScreen,
  checkValid,
  type AssertionOutcome,
} from './matchers.js';
export {
  fakeSession,
  FakeSession,
  FakeChannel,
  FakeServerChannel,
  type FakeSessionOptions,
  type FakeStartOptions,
  type PtyOptions,
  type TestChannel,
} from './fake-session.js';
export {
  startTestServer,
  TestClient,
  TestClientChannel,
  type ExecResult,
  type TestExecOptions,
  type TestPtyOptions,
  type TestServer,
  type TestServerOptions,
  type TestSessionContext,
} from './test-server.js';
export { DEFAULT_WAIT_MS, type ExitInfo, type WaitOptions } from './terminal-output.js';
export { visible } from './show.js';
export { startSwift, requireSwift, type SwiftInfo, type SwiftServer } from './swift.js';
export { MemorySink } from '../recording/sink.js';
export { ManualClock } from '../recording/clock.js';
