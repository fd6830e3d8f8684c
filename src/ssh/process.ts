/**
 * A session's running process, behind one small interface whether it has a pty (node-pty) or
 * pipes (child_process): output chunks as Buffers with pause/resume for backpressure, input,
 * resize, signals, hangup, and one `exit` once every byte of output has been delivered.
 */
import { spawn as spawnChild, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import pty from 'node-pty';
import type { OutputStream } from '../recording/recording.js';
import type { LaunchCommand } from './launcher.js';

/** How a process ended: `status` for a normal exit, or the number of the signal that killed it. */
export interface ProcessExit {
  status?: number;
  signal?: number;
}

/** The events of a {@link SessionProcess}. */
export interface SessionProcessEvents {
  /** A chunk of output, in order; `stream` is always `stdout` for a pty. */
  data: [chunk: Buffer, stream: OutputStream];
  /** The process ended and all of its output was emitted. Emitted once. */
  exit: [exit: ProcessExit];
  /** Input can be written again after write() returned false. */
  'input-drain': [];
}

/** A running session process. */
export interface SessionProcess extends EventEmitter<SessionProcessEvents> {
  readonly pid: number;
  /** Stop emitting output until resume() (backpressure). */
  pause(): void;
  resume(): void;
  /** Send input to the process. Returns false when the caller should wait for `'input-drain'`. */
  write(data: Buffer): boolean;
  /** The client sent EOF: ends stdin for pipes, ignored for a pty. */
  endInput(): void;
  /** Resize the terminal (pty only). */
  resize(cols: number, rows: number): void;
  /**
   * Send a signal by name (`SIGINT`) to the session's process group, as sshd's `killpg` does, so
   * the commands a non-interactive shell runs get it too; to the process alone if it left it.
   */
  kill(signal: NodeJS.Signals): void;
  /** The client is gone: SIGHUP the process (and hang up its terminal); output is discarded. */
  hangup(): void;
}

/** Options for starting a session process. */
export interface SpawnOptions {
  command: LaunchCommand;
  env: Record<string, string>;
  cwd: string;
  /** A terminal of this size and TERM, or pipes when undefined. */
  pty?: { cols: number; rows: number; term: string };
}

/** Starts a session process. Throws if it cannot be spawned. */
export function spawnSession(options: SpawnOptions): SessionProcess {
  return options.pty ? new PtyProcess(options, options.pty) : new PipeProcess(options);
}

// After the process is gone and our slave handle is closed, a terminal some leftover process
// still holds never reports EIO: stop reading once it has been quiet this long.
const QUIET_MS = 100;

interface PtyInternals {
  _fd: number;
  _socket: { destroy: (...args: unknown[]) => unknown; once: (e: string, f: () => void) => void };
  ptsName?: string;
  _pty?: string;
}

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
 * Sends `signal` to the session's process group (sshd's killpg), or to the process alone if it
 * left it. A launcher that `supervises` forwards what it can catch; SIGKILL goes straight to its
 * child's group.
 */
function signalSession(pid: number, signal: NodeJS.Signals, supervises?: boolean): void {
  if (supervises && signal === 'SIGKILL') {
    let child: number | undefined;
    try {
      child = Number(fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').split(' ')[0]);
    } catch {
      child = undefined;
    }
    if (child && (sendSignal(-child, signal) || sendSignal(child, signal))) return;
  }
  if (!sendSignal(-pid, signal)) sendSignal(pid, signal);
}

class PtyProcess extends EventEmitter<SessionProcessEvents> implements SessionProcess {
  readonly pid: number;
  readonly #term: pty.IPty;
  readonly #input: PtyInput;
  readonly #supervises: boolean | undefined;
  #releaseTerminal: (() => void) | undefined;
  #slave: number | undefined;
  #paused = false;
  #childGone = false;
  #hungUp = false;
  #quiet: NodeJS.Timeout | undefined;
  #destroySocket: () => void;

  constructor(options: SpawnOptions, size: { cols: number; rows: number; term: string }) {
    super();
    this.#term = pty.spawn(options.command.file, options.command.args, {
      name: size.term,
      cols: size.cols,
      rows: size.rows,
      cwd: options.cwd,
      env: options.env,
      encoding: null,
    } as pty.IPtyForkOptions);
    this.pid = this.#term.pid;
    const internals = this.#term as unknown as PtyInternals;
    this.#input = new PtyInput(internals._fd, () => this.emit('input-drain'));
    // node-pty loses the last output of a process that exits at once (node-pty #85, #726): on
    // EIO, or 200 ms after the exit, it destroys its socket whatever is still unread. Holding our
    // own handle on the slave means no EIO while the process lives; node-pty's timer, which is
    // its only sign that the child exited, then closes that handle instead, and the master
    // reads to the end of the data before it reports EIO.
    const name = internals.ptsName ?? internals._pty;
    try {
      if (name) this.#slave = fs.openSync(name, fs.constants.O_RDWR | fs.constants.O_NOCTTY);
    } catch {
      this.#slave = undefined;
    }
    // The launcher's hook: the terminal is given to the account and its login recorded in utmp;
    // released just before node-pty closes the master.
    this.#supervises = options.command.supervises;
    if (name) this.#releaseTerminal = options.command.terminal?.({ fd: internals._fd, path: name });
    const socket = internals._socket;
    const rawDestroy = socket.destroy.bind(socket);
    const destroy = (...args: unknown[]) => {
      const release = this.#releaseTerminal;
      this.#releaseTerminal = undefined;
      release?.();
      return rawDestroy(...args);
    };
    // Input is dropped once the process is gone and before the master is closed, so that no
    // retried write can reach a descriptor number that has been reused.
    this.#destroySocket = () => {
      clearTimeout(this.#quiet);
      this.#input.dispose();
      destroy();
    };
    socket.destroy = (...args: unknown[]) => {
      // Stream internals destroy with the error (EIO at the end of the data): let that through.
      this.#input.dispose();
      if (args[0] !== undefined) return destroy(...args);
      this.#childGone = true;
      this.#closeSlave();
      this.#armQuiet();
      return socket;
    };
    this.#term.onData((data) => {
      const chunk = data as unknown as Buffer;
      if (this.#hungUp) return;
      this.#armQuiet();
      this.emit('data', Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk), 'stdout');
    });
    this.#term.onExit(({ exitCode, signal }) => {
      this.#input.dispose();
      this.#closeSlave();
      clearTimeout(this.#quiet);
      this.emit('exit', signal ? { signal } : { status: exitCode });
    });
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
    clearTimeout(this.#quiet);
    if (this.#paused) return;
    this.#quiet = setTimeout(() => this.#destroySocket(), QUIET_MS);
  }

  pause(): void {
    this.#paused = true;
    clearTimeout(this.#quiet);
    this.#term.pause();
  }

  resume(): void {
    this.#paused = false;
    this.#term.resume();
    this.#armQuiet();
  }

  write(data: Buffer): boolean {
    if (this.#hungUp) return true;
    return this.#input.write(data);
  }

  endInput(): void {}

  resize(cols: number, rows: number): void {
    this.#term.resize(cols, rows);
  }

  kill(signal: NodeJS.Signals): void {
    signalSession(this.pid, signal, this.#supervises);
  }

  hangup(): void {
    if (this.#hungUp) return;
    this.#hungUp = true;
    this.#input.dispose();
    this.#childGone = true;
    this.#closeSlave();
    // Closing the master hangs the terminal up: the kernel sends SIGHUP to the session leader
    // and the foreground job, as when sshd loses a client. The explicit SIGHUP covers a
    // process that moved itself out of the terminal's session.
    this.#destroySocket();
    this.kill('SIGHUP');
  }
}

class PipeProcess extends EventEmitter<SessionProcessEvents> implements SessionProcess {
  readonly pid: number;
  readonly #child: ChildProcess;
  readonly #supervises: boolean | undefined;
  #hungUp = false;

  constructor(options: SpawnOptions) {
    super();
    this.#supervises = options.command.supervises;
    // detached: the command leads its own session and process group, as under sshd, so a
    // hangup reaches the whole group and the server's terminal signals never do.
    this.#child = spawnChild(options.command.file, options.command.args, {
      cwd: options.cwd,
      env: options.env,
      stdio: ['pipe', 'pipe', 'pipe'],
      detached: true,
    });
    if (this.#child.pid === undefined) throw new Error(`cannot start ${options.command.file}`);
    this.pid = this.#child.pid;
    const { stdout, stderr, stdin } = this.#child;
    stdin!.on('error', () => {});
    stdin!.on('drain', () => this.emit('input-drain'));
    stdout!.on('data', (c: Buffer) => this.#hungUp || this.emit('data', c, 'stdout'));
    stderr!.on('data', (c: Buffer) => this.#hungUp || this.emit('data', c, 'stderr'));
    this.#child.on('error', () => {});
    // 'close' comes after the exit and after both pipes ended: every byte has been emitted.
    this.#child.on('close', (code, signal) => {
      const n = signal ? os.constants.signals[signal] : undefined;
      this.emit('exit', n !== undefined ? { signal: n } : { status: code ?? 0 });
    });
  }

  pause(): void {
    this.#child.stdout!.pause();
    this.#child.stderr!.pause();
  }

  resume(): void {
    this.#child.stdout!.resume();
    this.#child.stderr!.resume();
  }

  write(data: Buffer): boolean {
    const stdin = this.#child.stdin!;
    return stdin.writable ? stdin.write(data) : true;
  }

  endInput(): void {
    this.#child.stdin!.end();
  }

  resize(): void {}

  kill(signal: NodeJS.Signals): void {
    signalSession(this.pid, signal, this.#supervises);
  }

  hangup(): void {
    if (this.#hungUp) return;
    this.#hungUp = true;
    this.kill('SIGHUP');
    this.#child.stdin!.destroy();
    // A leftover process holding the pipes must not keep the session open.
    const drop = () => {
      this.#child.stdout!.destroy();
      this.#child.stderr!.destroy();
    };
    if (this.#child.exitCode !== null || this.#child.signalCode !== null) drop();
    else this.#child.once('exit', drop);
    // Keep draining so a writer blocked on a full pipe sees the hangup rather than hanging.
    this.resume();
  }
}

// Input held for a terminal whose process is not reading, before the client is paused.
const INPUT_HIGH_WATER = 64 * 1024;
const MAX_RETRY_MS = 100;

/**
 * Writes input to the pty master. node-pty's own writer retries EAGAIN with setImmediate, which
 * spins a CPU for as long as a raw-mode process leaves its input unread (measured: 76% of a core),
 * and queues without bound. This one backs off with a timer and reports when to stop reading.
 */
class PtyInput {
  readonly #fd: number;
  readonly #onDrain: () => void;
  readonly #queue: Buffer[] = [];
  #pending = 0;
  #writing = false;
  #blocked = false;
  #retry = 1;
  #timer: NodeJS.Timeout | undefined;
  #disposed = false;

  constructor(fd: number, onDrain: () => void) {
    this.#fd = fd;
    this.#onDrain = onDrain;
  }

  write(data: Buffer): boolean {
    if (this.#disposed || data.length === 0) return true;
    this.#queue.push(data);
    this.#pending += data.length;
    if (!this.#writing && !this.#timer) this.#flush();
    if (this.#pending > INPUT_HIGH_WATER) this.#blocked = true;
    return !this.#blocked;
  }

  #flush(): void {
    const head = this.#queue[0];
    if (this.#disposed || !head) return;
    this.#writing = true;
    fs.write(this.#fd, head, 0, head.length, null, (err, written) => {
      this.#writing = false;
      if (this.#disposed) return;
      if (err) {
        if (err.code !== 'EAGAIN') return this.dispose();
        this.#timer = setTimeout(() => {
          this.#timer = undefined;
          this.#flush();
        }, this.#retry);
        this.#retry = Math.min(this.#retry * 2, MAX_RETRY_MS);
        return;
      }
      this.#retry = 1;
      this.#pending -= written;
      if (written >= head.length) this.#queue.shift();
      else this.#queue[0] = head.subarray(written);
      if (this.#blocked && this.#pending <= INPUT_HIGH_WATER / 2) {
        this.#blocked = false;
        this.#onDrain();
      }
      this.#flush();
    });
  }

  dispose(): void {
    this.#disposed = true;
    clearTimeout(this.#timer);
    this.#queue.length = 0;
    this.#pending = 0;
    if (this.#blocked) {
      this.#blocked = false;
      this.#onDrain();
    }
  }
}
