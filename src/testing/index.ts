/**
 * `sshcast/testing`: helpers for testing SSH servers built on sshcast and the recordings they make.
 * The vitest matchers are in `sshcast/testing/vitest`.
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
export { visible } from './show.js';
export { MemorySink } from '../recording/sink.js';
export { ManualClock } from '../recording/clock.js';
