/**
 * A session's running process, behind one small interface whether it has a pty (node-pty) or
 * pipes (child_process): output chunks as Buffers with pause/resume for backpressure, input,
 * resize, signals, hangup, and one `exit` once every byte of output has been delivered.
 */
import { spawn as spawnChild, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import type { ProcessExit } from '../asciicast/event.js';
import { PtyProcess, signalGroup, type PtyOptions } from '../pty/pty.js';
import type { LaunchCommand } from './launcher.js';
import { SshcastError } from '../errors.js';

/** Which output of the process a chunk came from (a pty has only `stdout`). */
export type ProcessStream = 'stdout' | 'stderr';

/** The events of a {@link SessionProcess}. */
export interface SessionProcessEvents {
  /** A chunk of output, in order; `stream` is always `stdout` for a pty. */
  data: [chunk: Buffer, stream: ProcessStream];
  /** The process ended and all of its output was emitted. Emitted once. */
  exit: [exit: ProcessExit];
  /** Input can be written again after write() returned false. */
  'input-drain': [];
}

export type { ProcessExit };

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
  if (!options.pty) return new PipeProcess(options);
  const { command } = options;
  return new SessionPty(
    {
      file: command.file,
      args: command.args,
      env: options.env,
      cwd: options.cwd,
      ...options.pty,
      // The launcher's hook: the terminal given to the account, the login recorded in utmp.
      ...(command.terminal ? { onTerminal: command.terminal } : {}),
    },
    command.supervises,
  );
}

/**
 * Sends `signal` to the session's process group (see {@link signalGroup}). A launcher that
 * `supervises` forwards what it can catch to its child's group; SIGKILL, which it cannot catch,
 * goes to that group directly.
 */
function signalSession(pid: number, signal: NodeJS.Signals, supervises?: boolean): void {
  if (supervises && signal === 'SIGKILL') {
    let child: number | undefined;
    try {
      child = Number(fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').split(' ')[0]);
    } catch {
      child = undefined;
    }
    if (child && signalGroup(child, signal)) return;
  }
  signalGroup(pid, signal);
}

class SessionPty extends PtyProcess implements SessionProcess {
  readonly #supervises: boolean | undefined;

  constructor(options: PtyOptions, supervises: boolean | undefined) {
    super(options);
    this.#supervises = supervises;
  }

  override kill(signal: NodeJS.Signals): void {
    signalSession(this.pid, signal, this.#supervises);
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
    if (this.#child.pid === undefined)
      throw new SshcastError('ERR_SPAWN', `cannot start ${options.command.file}`);
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
