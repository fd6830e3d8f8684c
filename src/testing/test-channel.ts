/**
 * What a test does with a session from the client's side, the same for the fake channel of
 * `fakeSession()` and the real client of `startTestServer()`.
 */
import type { Cast } from '../asciicast/reader.js';
import type { Screen } from '../render/terminal.js';
import type { ExitInfo, WaitOptions } from './terminal-output.js';

/** A session as its client drives it. */
export interface TestChannel {
  /** Everything received on stdout so far, decoded as UTF-8. */
  readonly stdout: string;
  /** Everything received on stderr so far. */
  readonly stderr: string;
  /** Sends keystrokes (or stdin data). */
  type(data: string | Buffer): void;
  /** Sends a window-change request. */
  resize(cols: number, rows: number): void;
  /** Sends a signal request (`INT`, `TERM`, …, without `SIG`). */
  signal(name: string): void;
  /** Sends EOF: the end of stdin. */
  eof(): void;
  /** Closes the channel from the client's side. */
  close(): void;
  /**
   * Waits for output by event, not by time: resolves with the matched text once the output not
   * consumed by an earlier wait contains the string or matches the RegExp; rejects, showing the
   * output's end, if the channel ends first or `timeout` ms pass.
   */
  waitForOutput(expected: string | RegExp, options?: WaitOptions): Promise<string>;
  /** Resolves when the channel has closed, with the exit status or signal the client got before. */
  waitForExit(options?: { timeout?: number }): Promise<ExitInfo>;
  /** Renders what the client's terminal shows now. */
  screen(): Promise<Screen>;
  /**
   * What the client saw as a recording: its stdout, its resizes, and an `x` event once the exit
   * status arrived. The matchers accept the channel itself: `expect(ch).toContainOutput('hi')`.
   */
  toCast(): Cast;
}

/** A pty request as a test sends it; missing fields get OpenSSH-like defaults. */
export interface PtyOptions {
  cols?: number;
  rows?: number;
  /** Default `xterm-256color`. */
  term?: string;
}
