/**
 * A process in a pseudo-terminal, through node-pty, with its workarounds in one place: no output
 * is lost when the process exits at once, input is written with a bound, and a hangup closes the
 * terminal. The session layer (`src/ssh/process.ts`) and `sshcast rec` both run ptys through it.
 *
 * The tail-loss fix (node-pty #85, #726): node-pty destroys its socket 200 ms after the child
 * exits, or on EIO, whatever is still unread, which bites when reading is paused for
 * backpressure; and output still in the kernel when the last slave descriptor closes is lost
 * (measured: 15 of 120 fast exits short by up to 6 KB). So we hold our own handle on the slave,
 * and node-pty's timer no longer tears anything down. When the child exits (heard at once from
 * node-pty's native exit callback, else at that timer) we write a random sentinel through our
 * slave handle and read until it comes out of the master: everything the child wrote before it
 * has then been read. Only then is our handle closed, and the master ends with EIO.
 */
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import pty from 'node-pty';
import type { ProcessExit } from '../asciicast/event.js';
import { Drain } from './drain.js';
import { PtyInput } from './input.js';
import { QuietTimer } from './quiet-timer.js';
import { ptyInternals, spawnWithExitHook } from './internals.js';

/** How to start a process in a pty. */
export interface PtyOptions {
  file: string;
  args: string[];
  env: Record<string, string | undefined>;
  cwd: string;
  cols: number;
  rows: number;
  /** The TERM the terminal claims to be. */
  term: string;
  /** How long the drain after the exit waits for output held back (^S). Default 5000 ms. */
  drainTimeoutMs?: number;
  /**
   * Called once the terminal exists (the session launcher gives it to the account and records
   * the login in utmp); what it returns is called just before the master is closed, on every
   * path (the end of the output, a hangup, a terminal some leftover process holds).
   */
  onTerminal?: (terminal: PtyTerminal) => (() => void) | undefined;
}

/** A terminal as {@link PtyOptions.onTerminal} gets it: the master's descriptor, the slave's path. */
export interface PtyTerminal {
  fd: number;
  path: string;
}

/** The events of a {@link PtyProcess}. */
export interface PtyProcessEvents {
  /** A chunk of output, in order (a pty has one output stream). */
  data: [chunk: Buffer, stream: 'stdout'];
  /** The process ended and all of its output was emitted. Emitted once. */
  exit: [exit: ProcessExit];
  /** Input can be written again after write() returned false. */
  'input-drain': [];
}

// After the process is gone and our slave handle is closed, a terminal some leftover process
// still holds never reports EIO: stop reading once it has been quiet this long.
const QUIET_MS = 100;

/** Sends `signal` to a process (a negative `pid`: its group); false when it could not (gone). */
function sendSignal(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(pid, signal);
    return true;
  } catch {
    return false;
  }
}

/**
 * Sends a signal to process `pid`'s process group, as sshd's `killpg` does, so the commands a
 * non-interactive shell runs get it too; to the process alone if it left its group. False when
 * neither could be signalled (gone).
 */
export function signalGroup(pid: number, signal: NodeJS.Signals): boolean {
  return sendSignal(-pid, signal) || sendSignal(pid, signal);
}

export class PtyProcess extends EventEmitter<PtyProcessEvents> {
  readonly pid: number;
  readonly #term: pty.IPty;
  readonly #input: PtyInput;
  #slave: number | undefined;
  #paused = false;
  #childGone = false;
  #hungUp = false;
  readonly #quiet = new QuietTimer(QUIET_MS, () => this.#destroySocket());
  #destroySocket: () => void;
  #drain: Drain | undefined;
  readonly #drainTimeoutMs: number | undefined;

  /** Starts the process; throws if it cannot be spawned. */
  constructor(options: PtyOptions) {
    super();
    this.#drainTimeoutMs = options.drainTimeoutMs;
    this.#term = spawnWithExitHook(
      () =>
        pty.spawn(options.file, options.args, {
          name: options.term,
          cols: options.cols,
          rows: options.rows,
          cwd: options.cwd,
          env: options.env,
          encoding: null,
        } as pty.IPtyForkOptions),
      () => this.#childExited(),
    );
    this.pid = this.#term.pid;
    const internals = ptyInternals(this.#term);
    this.#input = new PtyInput(internals.masterFd, () => this.emit('input-drain'));
    const { O_RDWR, O_NOCTTY, O_NONBLOCK } = fs.constants;
    try {
      // Non-blocking: the sentinel's write must never hold a thread-pool thread.
      this.#slave = fs.openSync(internals.slavePath, O_RDWR | O_NOCTTY | O_NONBLOCK);
    } catch {
      this.#slave = undefined;
    }
    let release = options.onTerminal?.({ fd: internals.masterFd, path: internals.slavePath });
    const socket = internals.socket;
    const rawDestroy = socket.destroy.bind(socket);
    // Every path that closes the master comes through here, so the release runs first, once.
    const destroy = (...args: unknown[]) => {
      const done = release;
      release = undefined;
      done?.();
      return rawDestroy(...args);
    };
    // Input is dropped once the process is gone and before the master is closed, so that no
    // retried write can reach a descriptor number that has been reused.
    this.#destroySocket = () => {
      this.#quiet.cancel();
      this.#drain?.dispose();
      this.#input.dispose();
      destroy();
    };
    socket.destroy = (...args: unknown[]) => {
      // The stream itself destroys with the error (EIO), or after the end of the data (EOF):
      // let that through. Only node-pty's timer destroys a socket that may still hold output.
      if (args[0] !== undefined || socket.readableEnded) {
        this.#input.dispose();
        return destroy(...args);
      }
      this.#childExited();
      return socket;
    };
    this.#term.onData((data) => {
      if (this.#hungUp) return;
      const chunk = Buffer.isBuffer(data) ? data : Buffer.from(data as unknown as Uint8Array);
      if (this.#drain) return this.#drain.take(chunk);
      this.#armQuiet();
      this.#emitData(chunk);
    });
    this.#term.onExit(({ exitCode, signal }) => {
      this.#drain?.end();
      this.#input.dispose();
      this.#closeSlave();
      this.#quiet.cancel();
      this.emit('exit', signal ? { signal } : { status: exitCode });
    });
  }

  #emitData(chunk: Buffer): void {
    if (chunk.length > 0 && !this.#hungUp) this.emit('data', chunk, 'stdout');
  }

  // The child is gone: drain what it wrote (see the module comment), then let the master end.
  #childExited(): void {
    if (this.#drain || this.#childGone) return;
    this.#input.dispose();
    const slave = this.#slave;
    if (slave === undefined) return this.#drained();
    this.#drain = new Drain(
      slave,
      (chunk) => this.#emitData(chunk),
      () => this.#drained(),
      this.#drainTimeoutMs,
    );
    if (!this.#paused) this.#drain.arm();
  }

  #drained(): void {
    this.#drain = undefined;
    this.#childGone = true;
    this.#closeSlave();
    this.#armQuiet();
  }

  #closeSlave(): void {
    if (this.#slave === undefined) return;
    const fd = this.#slave;
    this.#slave = undefined;
    try {
      fs.closeSync(fd);
    } catch {
      /* already closed */
    }
  }

  #armQuiet(): void {
    if (!this.#childGone) return;
    if (this.#paused) this.#quiet.cancel();
    else this.#quiet.arm();
  }

  /** Stops emitting output until resume() (backpressure). */
  pause(): void {
    this.#paused = true;
    this.#quiet.cancel();
    this.#drain?.disarm();
    this.#term.pause();
  }

  resume(): void {
    this.#paused = false;
    this.#term.resume();
    this.#drain?.arm();
    this.#armQuiet();
  }

  /** Sends input. Returns false when the caller should wait for `'input-drain'`. */
  write(data: Buffer): boolean {
    if (this.#hungUp) return true;
    return this.#input.write(data);
  }

  /** The other end's EOF: a terminal has no end of input (^D is the shell's business). */
  endInput(): void {}

  /** Resizes the terminal (throws for a 0 side, as node-pty does). */
  resize(cols: number, rows: number): void {
    this.#term.resize(cols, rows);
  }

  /** Sends a signal to the process group (see {@link signalGroup}). */
  kill(signal: NodeJS.Signals): void {
    signalGroup(this.pid, signal);
  }

  /** The other end is gone: hangs the terminal up and SIGHUPs the process; output is discarded. */
  hangup(): void {
    if (this.#hungUp) return;
    this.#hungUp = true;
    this.#input.dispose();
    this.#drain?.dispose();
    this.#childGone = true;
    this.#closeSlave();
    // Closing the master hangs the terminal up: the kernel sends SIGHUP to the session leader
    // and the foreground job, as when sshd loses a client. The explicit SIGHUP covers a
    // process that moved itself out of the terminal's session.
    this.#destroySocket();
    this.kill('SIGHUP');
  }
}
