/**
 * vitest matchers for recordings. Import this module once (in a test file or a setup file) to
 * register them. It also makes every wait of `sshcast/testing` end, unless told otherwise, just
 * before the running test's own timeout, so that a wait that fails reports itself:
 *
 * @example
 * import 'sshcast/testing/vitest';
 * expect(cast).toContainOutput('hello');
 * await expect(cast).toHaveScreenText(/\$ $/);   // renders, so it is awaited
 * expect('session.cast').toBeValidCast();
 * expect(recording).toHaveExitCode(0);
 */
import { afterEach, beforeEach, expect } from 'vitest';
import type { CastSource } from './cast.js';
import {
  checkExitCode,
  checkOutput,
  checkScreen,
  checkValid,
  type AssertionOutcome,
} from './matchers.js';
import type { RenderOptions } from './screen.js';
import { setTestDeadline } from './terminal-output.js';

// Waits end just before the running test would time out, so their own message is what fails it.
let deadline: number | undefined;
beforeEach((ctx) => {
  const ms = ctx.task.timeout;
  deadline = Number.isFinite(ms) && ms > 0 ? Date.now() + ms : undefined;
});
afterEach(() => {
  deadline = undefined;
});
setTestDeadline(() => deadline);

function result(outcome: AssertionOutcome, isNot: boolean) {
  return { pass: outcome.pass, message: () => outcome.message(isNot) };
}

expect.extend({
  toContainOutput(received: CastSource, expected: string | RegExp) {
    return result(checkOutput(received, expected), this.isNot);
  },
  async toHaveScreenText(received: CastSource, expected: string | RegExp, options?: RenderOptions) {
    return result(await checkScreen(received, expected, options), this.isNot);
  },
  toBeValidCast(received: CastSource) {
    return result(checkValid(received), this.isNot);
  },
  toHaveExitCode(received: CastSource, code: number) {
    return result(checkExitCode(received, code), this.isNot);
  },
});

/**
 * The matchers sshcast adds. Each takes a recording in any form `loadCast` accepts: a path, its
 * text, a Cast, a MemorySink or a Recording.
 */
export interface CastMatchers<R = unknown> {
  /** The output (all `o` data, escapes included) contains the string or matches the RegExp. */
  toContainOutput(expected: string | RegExp): R;
  /** The file is valid asciicast with every line complete; a failure lists each problem with its line number. */
  toBeValidCast(): R;
  /** The recording ends with an `x` event of this status. */
  toHaveExitCode(code: number): R;
}

declare module 'vitest' {
  interface Assertion<T> extends CastMatchers<void> {
    /**
     * The rendered screen (escape sequences applied, trailing spaces trimmed) contains the string
     * or matches the RegExp, at the end or at `options.at` seconds. It renders asynchronously:
     * `await expect(cast).toHaveScreenText('$ ')`.
     */
    toHaveScreenText(expected: string | RegExp, options?: RenderOptions): Promise<void>;
  }
  interface AsymmetricMatchersContaining extends CastMatchers<unknown> {}
}
