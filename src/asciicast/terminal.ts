/**
 * Terminal sizes as sshcast writes and reads them: the 80x24 that stands in for a missing or 0
 * size, and the bound on a side, applied to what a client may ask for (a session's pty) and to
 * what a reader allocates for a file (rendering, replay), whatever the file claims.
 */

/** The terminal size used when a pty size is missing or 0x0. */
export const DEFAULT_SIZE: Readonly<{ cols: number; rows: number }> = Object.freeze({
  cols: 80,
  rows: 24,
});

/**
 * The largest number of columns or rows: larger requests and larger sizes in a file are clamped
 * to it (a player allocates cols × rows cells; 5000×5000 took 340 MiB in @xterm/headless).
 */
export const MAX_TERMINAL_SIDE = 1000;

/** A side clamped to 1..{@link MAX_TERMINAL_SIDE}; `fallback` for 0, a negative or not a number. */
export function clampSide(n: number | undefined, fallback: number): number {
  if (n === undefined || !Number.isFinite(n) || n < 1) return fallback;
  return Math.min(Math.floor(n), MAX_TERMINAL_SIDE);
}

/** A requested size with each 0 side defaulted (80 columns, 24 rows) and each side clamped. */
export function terminalSize(cols: number, rows: number): { cols: number; rows: number } {
  return { cols: clampSide(cols, DEFAULT_SIZE.cols), rows: clampSide(rows, DEFAULT_SIZE.rows) };
}
