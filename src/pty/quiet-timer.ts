/**
 * A timer for "nothing was read for this long". It fires only after one more pass of the event
 * loop's I/O with nothing read: a loop that was busy runs its timers before its I/O, and output
 * already waiting would otherwise count as quiet. Re-arm it on every read.
 */
export class QuietTimer {
  readonly #ms: number;
  readonly #fire: () => void;
  #timeout: NodeJS.Timeout | undefined;
  #immediate: NodeJS.Immediate | undefined;

  constructor(ms: number, fire: () => void) {
    this.#ms = ms;
    this.#fire = fire;
  }

  /** Whether it is counting. */
  get armed(): boolean {
    return this.#timeout !== undefined || this.#immediate !== undefined;
  }

  /** Starts counting again from now. */
  arm(): void {
    this.cancel();
    this.#timeout = setTimeout(() => {
      this.#timeout = undefined;
      this.#immediate = setImmediate(() => {
        this.#immediate = undefined;
        this.#fire();
      });
    }, this.#ms);
  }

  cancel(): void {
    clearTimeout(this.#timeout);
    clearImmediate(this.#immediate);
    this.#timeout = undefined;
    this.#immediate = undefined;
  }
}
