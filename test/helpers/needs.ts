/**
 * What a test needs from the machine (root, a mountable tmpfs, …). Without it the test is skipped
 * visibly, with the reason in the report; under CI (`CI=true`) it fails instead, so a CI machine
 * that lost a capability cannot pass by running less.
 */
import type { TestContext } from 'vitest';

/** Why this process cannot do what only root can (chown, a terminal's group), or undefined. */
export const notRoot: string | undefined =
  process.getuid?.() === 0 ? undefined : 'needs root (run as root, as CI does)';

/** Stops `ctx`'s test when `problem` is set: a visible skip, or a failure under CI. */
export function needs(ctx: TestContext, problem: string | undefined): void {
  if (!problem) return;
  if (process.env.CI) throw new Error(`CI must be able to run this test: ${problem}`);
  ctx.skip(`not run here: ${problem}`);
}
