/**
 * One `sshcast rec` session: the pty's output goes to stdout and into the recording (record and
 * show at once, with backpressure from both), this terminal's keys and size go to the pty, and
 * the signals that would end `rec` are passed on. Resolves with the command's exit status.
 */
import { exitStatus } from '../asciicast/event.js';
import type { PtyProcess } from '../pty/pty.js';
import { Utf8StreamDecoder } from '../recording/utf8.js';
import type { CastWriter } from '../recording/writer.js';
import { stdoutErrors } from './common.js';

/** What `rec` records besides the output. */
export interface RecSessionOptions {
  /** Record keystrokes as `i` events. */
  recordInput: boolean;
  /** Follow this terminal's size (resize the pty, record `r` events). */
  followResize: boolean;
}

// Chunks read in one turn of the event loop (libuv reads a busy pty several times per turn)
// become one `o` event, unless they pile up past this.
const MAX_PENDING_TEXT = 256 * 1024;

const FORWARDED_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

export class RecSession {
  readonly #proc: PtyProcess;
  readonly #writer: CastWriter;
  readonly #options: RecSessionOptions;
  readonly #decoder = new Utf8StreamDecoder();
  readonly #inputDecoder = new Utf8StreamDecoder();
  readonly #blocked = new Set<'stdout' | 'sink'>();
  readonly #stdin = process.stdin;
  readonly #interactive = process.stdin.isTTY === true;
  #pendingText = '';
  #flushScheduled = false;
  #stdoutGone = false;

  constructor(proc: PtyProcess, writer: CastWriter, options: RecSessionOptions) {
    this.#proc = proc;
    this.#writer = writer;
    this.#options = options;
  }

  /** Runs the session to the command's end; resolves with its exit status. */
  run(): Promise<number> {
    this.#watchStdout();
    this.#proc.on('data', (chunk) => this.#forward(chunk));
    this.#startKeyboard();
    if (this.#options.followResize) process.stdout.on('resize', this.#onResize);
    for (const s of FORWARDED_SIGNALS) process.on(s, this.#onSignal);
    process.once('exit', this.#restore);
    return new Promise((resolve) => {
      this.#proc.once('exit', (exit) => {
        this.#pendingText += this.#decoder.end();
        this.#flushOutput();
        const status = exitStatus(exit);
        this.#writer.exit(status);
        this.#restore();
        process.off('exit', this.#restore);
        process.stdout.off('resize', this.#onResize);
        for (const s of FORWARDED_SIGNALS) process.off(s, this.#onSignal);
        resolve(status);
      });
    });
  }

  // A reader of our stdout that goes away (`sshcast rec … | head`) must not end the recording.
  #watchStdout(): void {
    stdoutErrors.ignore = true;
    process.stdout.on('error', () => {
      this.#stdoutGone = true;
      if (this.#blocked.has('stdout')) process.stdout.emit('drain');
    });
  }

  #forward(chunk: Buffer): void {
    if (!this.#stdoutGone && !process.stdout.write(chunk)) this.#block('stdout', process.stdout);
    this.#pendingText += this.#decoder.write(chunk);
    if (this.#pendingText.length >= MAX_PENDING_TEXT) this.#flushOutput();
    else if (!this.#flushScheduled && this.#pendingText !== '') {
      this.#flushScheduled = true;
      setImmediate(() => this.#flushOutput());
    }
  }

  #flushOutput(): void {
    this.#flushScheduled = false;
    if (this.#pendingText === '') return;
    const text = this.#pendingText;
    this.#pendingText = '';
    if (!this.#writer.output(text)) this.#block('sink', this.#writer);
  }

  // Backpressure: while stdout or the recording is full, the pty is not read.
  #block(what: 'stdout' | 'sink', emitter: NodeJS.EventEmitter): void {
    if (this.#blocked.has(what)) return;
    if (this.#blocked.size === 0) this.#proc.pause();
    this.#blocked.add(what);
    emitter.once('drain', () => {
      this.#blocked.delete(what);
      if (this.#blocked.size === 0) this.#proc.resume();
    });
  }

  // Keystrokes, when there is a keyboard; a command that does not read them pauses stdin.
  #startKeyboard(): void {
    if (!this.#interactive) return;
    this.#stdin.setRawMode(true);
    this.#stdin.on('data', this.#onInput);
    this.#proc.on('input-drain', () => this.#stdin.resume());
    this.#stdin.resume();
  }

  readonly #onInput = (data: Buffer): void => {
    if (!this.#proc.write(data)) this.#stdin.pause();
    if (!this.#options.recordInput) return;
    this.#flushOutput();
    const text = this.#inputDecoder.write(data);
    if (text) this.#writer.event('i', text);
  };

  readonly #onResize = (): void => {
    const { columns: cols, rows } = process.stdout;
    if (!(cols > 0 && rows > 0)) return;
    try {
      this.#proc.resize(cols, rows);
    } catch {
      return; // the command is gone
    }
    this.#flushOutput();
    this.#writer.resize(cols, rows);
  };

  readonly #onSignal = (signal: NodeJS.Signals): void => this.#proc.kill(signal);

  readonly #restore = (): void => {
    if (!this.#interactive) return;
    this.#stdin.off('data', this.#onInput);
    try {
      this.#stdin.setRawMode(false);
    } catch {
      // stdin is gone
    }
    this.#stdin.pause();
  };
}
