/**
 * Named points on the collector's write path where a test can inject a fault (a crash, a stall):
 * the hook is awaited at each. Production code passes none.
 */

/** Every point, in the order a write reaches them. */
export const FAULT_POINTS = [
  'lease:put',
  'lease:checked',
  'lease:generation',
  'segment:received',
  'segment:ready',
  'segment:put',
  'segment:checked',
  'length:put',
  'finish:start',
  'finish:composed',
  'finish:done',
  'finish:cleaned',
] as const;

export type FaultPoint = (typeof FAULT_POINTS)[number];

/** Called at each fault point; may throw, stall, or kill the process. */
export type FaultHook = (point: FaultPoint) => void | Promise<void>;
