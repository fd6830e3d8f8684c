/** asciinema-player, loaded by the page as a classic script (its bundle defines a global). */

/** What the page uses of a player. */
export interface PlayerApi {
  dispose(): void;
  getCurrentTime(): number;
  play(): Promise<unknown>;
  pause(): Promise<unknown>;
  seek(location: number | { marker: number }): Promise<unknown>;
  addEventListener(name: string, handler: (event?: unknown) => void): void;
}

declare const AsciinemaPlayer: {
  create(src: unknown, el: HTMLElement, opts: Record<string, unknown>): PlayerApi;
};

/** Creates a player in `el` (`AsciinemaPlayer.create`). */
export function createPlayer(
  src: unknown,
  el: HTMLElement,
  opts: Record<string, unknown>,
): PlayerApi {
  return AsciinemaPlayer.create(src, el, opts);
}

/** A player logger that is quiet but for errors, which go to `fail`. */
export function playerLogger(fail: (message: string) => void): Record<string, unknown> {
  return {
    log() {},
    debug() {},
    info() {},
    warn() {},
    error(...args: unknown[]) {
      fail(`The player failed: ${args.map(String).join(' ')}`);
    },
  };
}
