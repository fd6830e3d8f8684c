/**
 * What a test client saw: stdout and stderr as text, and waiting on them by event, never by time.
 * Shared by the fake channel and the real client of startTestServer.
 */
import { Utf8StreamDecoder } from '../recording/utf8.js';
import type { Cast } from '../asciicast/reader.js';
import { exitStatus, type Event } from '../asciicast/event.js';
import { DEFAULT_SIZE } from '../asciicast/terminal.js';
import { signalNumber } from '../ssh/exit.js';
import { renderScreen, type Screen } from './screen.js';
import { describeExpected, outputTail } from './show.js';
import { SshcastError } from '../errors.js';

/** Options for `waitForOutput`. */
export interface WaitOptions {
  /**
   * Give up after this many milliseconds (a safety net; the wait ends on output). Default: just
   * before the running test's own timeout when `sshcast/testing/vitest` is imported, else
   * {@link DEFAULT_WAIT_MS} (4000, under the 5 s a vitest or jest test gets by default), so a wait
   * that fails says so itself, with the output it saw, before the test runner gives up.
   */
  timeout?: number;
  /** Which stream to search. Default `stdout` (a pty session sends everything there). */
  stream?: 'stdout' | 'stderr';
}

/** How a session ended, as the client saw it. */
export interface ExitInfo {
  /** The exit status, or null when the session ended by a signal or sent no status. */
  code: number | null;
  /** The signal name (without `SIG`) when the session ended by a signal. */
  signal?: string;
}

/** The status an exit comes to: the code, or 128 + n for signal n. */
function exitStatusOf(exit: ExitInfo | undefined): number | undefined {
  if (!exit) return undefined;
  if (exit.code !== null) return exit.code;
  const n = exit.signal ? signalNumber(exit.signal) : undefined;
  return n === undefined ? undefined : exitStatus({ signal: n });
}

/**
 * The default safety-net timeout of waits, in milliseconds: below vitest's and jest's default
 * test timeout (5 s), so a failed wait reports sshcast's message, not the runner's timeout.
 */
export const DEFAULT_WAIT_MS = 4_000;

let testDeadline: () => number | undefined = () => undefined;

/**
 * @internal Lets a test runner's integration (`sshcast/testing/vitest`) say when the running test
 * times out (milliseconds since the epoch), so that waits end just before it.
 */
export function setTestDeadline(deadline: () => number | undefined): void {
  testDeadline = deadline;
}

/** @internal How long a wait waits when not told: until just before the test's deadline, if known. */
export function defaultWaitMs(): number {
  const deadline = testDeadline();
  if (deadline === undefined) return DEFAULT_WAIT_MS;
  return Math.max(deadline - Date.now() - 250, 50);
}

/**
 * A wait's failure (`ERR_TEST_WAIT`) whose stack is the one `origin` captured where the test
 * called the wait, not the timer or event that ended it: the first frame is the test's own line.
 */
function failure(message: string, origin: CallSite): SshcastError {
  const err = new SshcastError('ERR_TEST_WAIT', message);
  const frames = (origin.stack ?? '').split('\n').slice(1).join('\n');
  err.stack = `${err.name}: ${message}${frames ? `\n${frames}` : ''}`;
  return err;
}

/** Where a wait was called: a stack captured now, without the frames of `above` and below. */
interface CallSite {
  stack?: string;
}

function callerStack(above: (...args: never[]) => unknown): CallSite {
  const origin: CallSite = {};
  Error.captureStackTrace(origin, above);
  return origin;
}

interface Waiter {
  check(): boolean;
}

/** A client's view of a session's output, with event-driven waits (behind every test channel). */
export class TerminalOutput {
  #stdout = '';
  #stderr = '';
  readonly #decoders = { stdout: new Utf8StreamDecoder(), stderr: new Utf8StreamDecoder() };
  readonly #cursor = { stdout: 0, stderr: 0 };
  readonly #waiters = new Set<Waiter>();
  #ended: string | undefined;
  readonly #initial: { cols: number; rows: number };
  #cols: number;
  #rows: number;
  readonly #events: Event[] = [];
  #exit: ExitInfo | undefined;
  #closed = false;
  readonly #closeWaiters: Array<() => void> = [];
  readonly #start = process.hrtime.bigint();

  constructor(cols = DEFAULT_SIZE.cols, rows = DEFAULT_SIZE.rows) {
    this.#initial = { cols, rows };
    this.#cols = cols;
    this.#rows = rows;
  }

  get stdout(): string {
    return this.#stdout;
  }

  get stderr(): string {
    return this.#stderr;
  }

  #now(): number {
    return Number((process.hrtime.bigint() - this.#start) / 1000n);
  }

  /** Takes a chunk the client received. */
  push(chunk: Buffer | string, stream: 'stdout' | 'stderr' = 'stdout'): void {
    const text = typeof chunk === 'string' ? chunk : this.#decoders[stream].write(chunk);
    if (stream === 'stdout') {
      this.#stdout += text;
      if (text) this.#events.push({ time: this.#now(), code: 'o', data: text });
    } else this.#stderr += text;
    this.#wake();
  }

  /** Notes a window size the client asked for, for `screen()`. */
  resize(cols: number, rows: number): void {
    this.#cols = cols;
    this.#rows = rows;
    this.#events.push({ time: this.#now(), code: 'r', data: `${cols}x${rows}` });
  }

  /** No more output will come: pending waits fail with `reason`. */
  end(reason: string): void {
    if (this.#ended !== undefined) return;
    for (const s of ['stdout', 'stderr'] as const) {
      const tail = this.#decoders[s].end();
      if (tail) this.push(tail, s);
    }
    this.#ended = reason;
    this.#wake();
  }

  #wake(): void {
    for (const w of [...this.#waiters]) {
      if (w.check()) this.#waiters.delete(w);
    }
  }

  /**
   * Waits until the output not yet consumed by an earlier wait contains the string or matches the
   * RegExp, then consumes it up to the end of the match and returns the matched text.
   */
  waitFor(
    expected: string | RegExp,
    options: WaitOptions = {},
    origin: CallSite = callerStack(this.waitFor),
  ): Promise<string> {
    const stream = options.stream ?? 'stdout';
    const timeoutMs = options.timeout ?? defaultWaitMs();
    const re =
      typeof expected === 'string'
        ? undefined
        : new RegExp(expected.source, expected.flags.replace(/[gy]/g, ''));
    return new Promise<string>((resolve, reject) => {
      const find = (): string | undefined => {
        const text = stream === 'stdout' ? this.#stdout : this.#stderr;
        const from = this.#cursor[stream];
        const rest = text.slice(from);
        let index: number;
        let match: string;
        if (re) {
          const m = re.exec(rest);
          if (!m) return undefined;
          index = m.index;
          match = m[0];
        } else {
          index = rest.indexOf(expected as string);
          if (index === -1) return undefined;
          match = expected as string;
        }
        this.#cursor[stream] = from + index + match.length;
        return match;
      };
      const describe = (why: string) => {
        const text = stream === 'stdout' ? this.#stdout : this.#stderr;
        return failure(
          `waitForOutput(${describeExpected(expected)}): ${why}\n${stream} not yet consumed (the end, escapes shown):\n` +
            outputTail(text.slice(this.#cursor[stream])),
          origin,
        );
      };
      const waiter: Waiter = {
        check: () => {
          const match = find();
          if (match !== undefined) {
            clearTimeout(timer);
            resolve(match);
            return true;
          }
          if (this.#ended !== undefined) {
            clearTimeout(timer);
            reject(describe(this.#ended));
            return true;
          }
          return false;
        },
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(waiter);
        reject(describe(`no match within ${timeoutMs} ms`));
      }, timeoutMs);
      if (!waiter.check()) this.#waiters.add(waiter);
    });
  }

  /** Notes the exit status or signal the client received (the first one counts). */
  setExit(info: ExitInfo): void {
    this.#exit ??= info;
  }

  /** The exit status or signal received so far. */
  get exit(): ExitInfo | undefined {
    return this.#exit;
  }

  /** Whether the channel has closed. */
  get closed(): boolean {
    return this.#closed;
  }

  /** The channel closed: output ends, exit waits resolve. */
  markClosed(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.end('the channel closed');
    for (const w of this.#closeWaiters.splice(0)) w();
  }

  /** Resolves once the channel has closed, with the exit status or signal received before. */
  waitForClose(
    timeoutMs = defaultWaitMs(),
    origin: CallSite = callerStack(this.waitForClose),
  ): Promise<ExitInfo> {
    if (this.#closed) return Promise.resolve(this.#exit ?? { code: null });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const sent = this.#exit
          ? ` (exit ${JSON.stringify(this.#exit)} arrived, but no CLOSE)`
          : ' (no exit status arrived)';
        reject(
          failure(
            `waitForExit: the channel did not close within ${timeoutMs} ms${sent}\nstdout (the end, escapes shown):\n${outputTail(this.#stdout, 10)}`,
            origin,
          ),
        );
      }, timeoutMs);
      this.#closeWaiters.push(() => {
        clearTimeout(timer);
        resolve(this.#exit ?? { code: null });
      });
    });
  }

  /**
   * The client's stdout as a recording (with resizes, and an `x` event once an exit arrived), so
   * the matchers and `renderScreen` work on what the client saw.
   */
  toCast(): Cast {
    const { cols, rows } = this.#initial;
    const events = [...this.#events];
    const status = exitStatusOf(this.#exit);
    if (status !== undefined)
      events.push({ time: events.at(-1)?.time ?? 0, code: 'x', data: String(status) });
    return { version: 2, header: { version: 2, width: cols, height: rows }, events };
  }

  /** The size last asked for. */
  get size(): { cols: number; rows: number } {
    return { cols: this.#cols, rows: this.#rows };
  }

  /** Renders what the client's terminal shows now. */
  screen(): Promise<Screen> {
    return renderScreen(this.toCast());
  }
}

/**
 * What a test channel reads from its {@link TerminalOutput}: the members of
 * `TestChannel` the fake channel and the real client's channel answer alike.
 */
export abstract class OutputChannel {
  protected readonly output: TerminalOutput;

  constructor(cols: number, rows: number) {
    this.output = new TerminalOutput(cols, rows);
  }

  /** Everything received on stdout so far, decoded as UTF-8. */
  get stdout(): string {
    return this.output.stdout;
  }

  /** Everything received on stderr so far. */
  get stderr(): string {
    return this.output.stderr;
  }

  /** The exit status or signal received so far, if any. */
  get exitInfo(): ExitInfo | undefined {
    return this.output.exit;
  }

  /** Whether the channel has closed. */
  get closed(): boolean {
    return this.output.closed;
  }

  /** Waits for output by event: see `TestChannel.waitForOutput`. */
  waitForOutput(expected: string | RegExp, options?: WaitOptions): Promise<string> {
    return this.output.waitFor(expected, options, callerStack(this.waitForOutput));
  }

  /** Resolves when the channel has closed, with the exit status or signal the client got before. */
  waitForExit(options: { timeout?: number } = {}): Promise<ExitInfo> {
    return this.output.waitForClose(options.timeout, callerStack(this.waitForExit));
  }

  /** Renders what the client's terminal shows now. */
  screen(): Promise<Screen> {
    return this.output.screen();
  }

  /** What the client saw, as a recording. */
  toCast(): Cast {
    return this.output.toCast();
  }
}
