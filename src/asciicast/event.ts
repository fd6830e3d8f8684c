/**
 * The asciicast event model shared by the encoder, the writer and the reader. Times are integer
 * microseconds from the start of the recording.
 */

/** The header: the first line of an asciicast v2 file, keys in this order. */
export interface Header {
  version: 2;
  /** Terminal columns at start; never 0 (a missing or 0x0 size is written as 80x24). */
  width: number;
  /** Terminal rows at start; never 0. */
  height: number;
  /** Integer Unix seconds at start. */
  timestamp?: number;
  /** The exec command string; absent for interactive shells. */
  command?: string;
  /** A title, as `asciinema rec --title` writes it. */
  title?: string;
  /** Only `TERM` and `SHELL`. */
  env?: { TERM?: string; SHELL?: string };
  /** The local device account the shell runs as (Tailscale's key name). */
  localUser?: string;
  /** Present only when read from a file that has it (asciinema writes it). */
  idle_time_limit?: number;
}

/** An event code: output, input, resize, marker, exit. */
export type EventCode = 'o' | 'i' | 'r' | 'm' | 'x';

/** One event. `time` is integer microseconds since the start of the recording. */
export type Event =
  | { time: number; code: 'o'; data: string }
  | { time: number; code: 'i'; data: string }
  | { time: number; code: 'r'; data: string }
  | { time: number; code: 'm'; data: string }
  | { time: number; code: 'x'; data: string };

/** How a process ended: `status` for a normal exit, or the number of the signal that killed it. */
export interface ProcessExit {
  status?: number;
  signal?: number;
}

/**
 * The exit status an `x` event records for how a process ended: the status itself, or 128 + n
 * for signal n (as a shell reports it, and as asciinema 3 writes it).
 */
export function exitStatus(exit: ProcessExit): number {
  return exit.signal ? 128 + exit.signal : (exit.status ?? 0);
}
