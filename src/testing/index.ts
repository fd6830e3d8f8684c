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
  type CastView,
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
  type FakeSessionOptions,
  type FakeStartOptions,
} from './fake-session.js';
export { FakeChannel } from './fake-channel.js';
export { FakeServerChannel } from './fake-server-channel.js';
export type { PtyOptions, TestChannel } from './test-channel.js';
export {
  startTestServer,
  type TestServer,
  type TestServerOptions,
  type TestSessionContext,
} from './test-server.js';
export {
  TestClient,
  TestClientChannel,
  type ExecResult,
  type TestExecOptions,
  type TestPtyOptions,
} from './test-client.js';
export { DEFAULT_WAIT_MS, type ExitInfo, type WaitOptions } from './terminal-output.js';
export { visible } from './show.js';
export { MemorySink } from '../recording/sink.js';
export { ManualClock } from '../clock.js';
