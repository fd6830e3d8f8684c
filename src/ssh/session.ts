/**
 * The session layer: answers an ssh2 session's requests, runs the shell or command as the
 * connection's local account (through the launcher) and records what the client is shown,
 * record first, then forward, with backpressure from both the client and the recording.
 */
import type ssh2 from 'ssh2';
import { RecordingStartError } from '../errors.js';
import type { Recorder } from '../recording/recorder.js';
import type { OutputStream, Recording } from '../recording/recording.js';
import { START_FAILURE_MESSAGE, WRITE_FAILURE_MESSAGE } from '../recording/policy.js';
import { exitStatus, signalFromClient, sshSignalName } from './exit.js';
import type { Identity } from './identity.js';
import { launchCommand, sessionEnvironment } from './launcher.js';
import { spawnSession, type SessionProcess } from './process.js';

/** The columns used when a client asks for 0 (or sends no pty size). */
export const DEFAULT_COLS = 80;
/** The rows used when a client asks for 0 (or sends no pty size). */
export const DEFAULT_ROWS = 24;

/** The largest number of columns or rows a client can ask for; larger requests are clamped. */
export const MAX_TERMINAL_SIDE = 1000;

/** Environment names every session accepts from the client, besides `SessionOptions.allowEnv`. */
export const DEFAULT_ALLOWED_ENV = ['LANG', 'LC_*'];

// A client cannot grow a session's environment without bound.
const MAX_ENV_VARS = 64;
const MAX_ENV_BYTES = 64 * 1024;

// How long after a hangup a process that ignores SIGHUP keeps its recording open.
const HANGUP_GRACE_MS = 10_000;

/** A handler for a subsystem the host serves itself (`sftp`, say); it owns the channel. */
export type SubsystemHandler = (channel: ssh2.ServerChannel, identity: Identity) => void;

/** Options for {@link handleSession} and {@link serveSessions}. */
export interface SessionOptions {
  /** Who the connection authenticated as: the local account and its key's restrictions. */
  identity: Identity;
  /** Makes each session's recording, under its policy. */
  recorder: Recorder;
  /** Environment names accepted from the client besides LANG and LC_*; `*` at the end matches a prefix. */
  allowEnv?: string[];
  /** Subsystems served by the host, by name; any other subsystem request is rejected. */
  subsystems?: Record<string, SubsystemHandler>;
  /** Called with each session's recording once its process has started. */
  onRecording?: (recording: Recording) => void;
  /** Where problems are logged. Default: console.error. */
  log?: (message: string) => void;
}

function allowed(name: string, patterns: string[]): boolean {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) return false;
  return patterns.some((p) => (p.endsWith('*') ? name.startsWith(p.slice(0, -1)) : name === p));
}

/** The size a pty-req or window-change asks for, with 0 sides defaulted and each side clamped. */
export function terminalSize(cols: number, rows: number): { cols: number; rows: number } {
  const side = (n: number, fallback: number) =>
    Number.isInteger(n) && n > 0 ? Math.min(n, MAX_TERMINAL_SIDE) : fallback;
  return { cols: side(cols, DEFAULT_COLS), rows: side(rows, DEFAULT_ROWS) };
}

/**
 * Handles one ssh2 session: `pty`, `env`, `shell`, `exec` (with or without a pty),
 * `window-change`, `signal`, `subsystem` (only those in `options.subsystems`); agent and X11
 * forwarding are refused. The process runs as `options.identity.account`, honouring the key's
 * `command=`, `no-pty` and `environment=`. Each session gets its own recording from
 * `options.recorder`; when it cannot start under the `refuse` policy the client is told
 * `can't start new recording` and the session ends with status 1.
 */
export function handleSession(session: ssh2.Session, options: SessionOptions): void {
  const log = options.log ?? ((m: string) => console.error(m));
  const { identity } = options;
  const patterns = [...DEFAULT_ALLOWED_ENV, ...(options.allowEnv ?? [])];
  const env: Record<string, string> = {};
  let envBytes = 0;
  let term: { cols: number; rows: number; term: string } | undefined;
  let started = false;
  let running: RunningSession | undefined;

  session.on('pty', (accept, reject, info) => {
    if (started || identity.keyOptions.noPty) return reject?.();
    term = { ...terminalSize(info.cols, info.rows), term: sanitizeTerm(info.term) };
    accept?.();
  });

  session.on('env', (accept, reject, info) => {
    const key = String(info.key);
    const val = String(info.val);
    const size = key.length + val.length;
    if (
      started ||
      !allowed(key, patterns) ||
      val.includes('\0') ||
      Object.keys(env).length >= MAX_ENV_VARS ||
      envBytes + size > MAX_ENV_BYTES
    ) {
      return reject?.();
    }
    env[key] = val;
    envBytes += size;
    accept?.();
  });

  session.on('window-change', (accept, reject, info) => {
    if (!info.cols || !info.rows) return reject?.();
    const size = terminalSize(info.cols, info.rows);
    if (running) running.resize(size.cols, size.rows);
    else if (term) Object.assign(term, size);
    accept?.();
  });

  session.on('signal', (accept, reject, info) => {
    const signal = signalFromClient(String(info.name));
    if (!signal || !running) {
      if (!signal)
        log(`sshcast: ignored signal ${JSON.stringify(String(info.name))} (not an RFC 4254 name)`);
      return reject?.();
    }
    running.signal(signal);
    accept?.();
  });

  const start = (
    accept: (() => ssh2.ServerChannel) | undefined,
    reject: (() => void) | undefined,
    requested?: string,
  ) => {
    if (started) return reject?.();
    started = true;
    const forced = identity.keyOptions.command;
    const command = forced ?? requested;
    const extraEnv: Record<string, string> = { ...env, ...(identity.keyOptions.environment ?? {}) };
    if (forced !== undefined && requested !== undefined) extraEnv.SSH_ORIGINAL_COMMAND = requested;
    let launch;
    try {
      launch = launchCommand({
        account: identity.account,
        pty: term !== undefined,
        env: {
          ...sessionEnvironment(identity.account, extraEnv),
          ...(term ? { TERM: term.term } : {}),
        },
        ...(command !== undefined ? { command } : {}),
        ...(identity.login ? { login: identity.login } : {}),
      });
    } catch (err) {
      log(`sshcast: ${(err as Error).message}`);
      return refuse(accept, `${(err as Error).message}`, term !== undefined);
    }
    let recording: Recording;
    try {
      recording = options.recorder.start({
        cols: term?.cols ?? 0,
        rows: term?.rows ?? 0,
        ...(command !== undefined ? { command } : {}),
        ...(term ? { term: term.term } : {}),
        shell: identity.account.shell || '/bin/sh',
        localUser: identity.account.name,
      });
    } catch (err) {
      if (!(err instanceof RecordingStartError))
        log(`sshcast: cannot start recording: ${(err as Error).message}`);
      return refuse(accept, START_FAILURE_MESSAGE, term !== undefined);
    }
    const channel = accept?.();
    if (!channel) {
      void recording.finish();
      return;
    }
    try {
      const proc = spawnSession({
        command: launch,
        env: launch.env,
        cwd: launch.cwd ?? '/',
        ...(term ? { pty: term } : {}),
      });
      running = new RunningSession(channel, proc, recording, term !== undefined, log);
      options.onRecording?.(recording);
    } catch (err) {
      log(`sshcast: cannot start the session's process: ${(err as Error).message}`);
      void recording
        .finish(127)
        .then(() => endChannel(channel, 127, 'cannot start the session', term !== undefined));
    }
  };

  session.on('shell', (accept, reject) => start(accept, reject));
  session.on('exec', (accept, reject, info) => start(accept, reject, String(info.command)));

  session.on('subsystem', (accept, reject, info) => {
    const handler = options.subsystems?.[info.name];
    if (started || !handler || identity.keyOptions.command !== undefined) return reject?.();
    started = true;
    const channel = accept?.();
    if (channel) handler(channel, identity);
  });

  session.on('auth-agent', (_accept, reject) => reject?.());
  session.on('x11', (_accept, reject) => reject?.());
}

/**
 * Serves every session of an authenticated connection with {@link handleSession}: the one line
 * to add in ssh2's `ready` handler. When the server's keepalive gives up on the peer, the
 * connection is dropped at once, so its sessions hang up and their recordings end.
 */
export function serveSessions(client: ssh2.Connection, options: SessionOptions): void {
  // ssh2 answers a keepalive timeout with end(), a half-close that a frozen peer never
  // completes, so the connection would never close and its sessions never hang up.
  client.on('error', (err: Error & { level?: string }) => {
    if (err.level !== 'client-timeout') return;
    (options.log ?? ((m: string) => console.error(m)))(
      `sshcast: ${err.message}; dropping the connection`,
    );
    (client as unknown as { _sock?: { destroy(): void } })._sock?.destroy();
  });
  client.on('session', (accept) => {
    const session = accept?.();
    if (session) handleSession(session, options);
  });
}

function sanitizeTerm(name: string): string {
  return /^[A-Za-z0-9._+-]{1,64}$/.test(name) ? name : 'xterm';
}

function refuse(
  accept: (() => ssh2.ServerChannel) | undefined,
  message: string,
  pty: boolean,
): void {
  const channel = accept?.();
  if (channel) endChannel(channel, 1, message, pty);
}

function endChannel(
  channel: ssh2.ServerChannel,
  status: number,
  message: string | undefined,
  pty: boolean,
): void {
  if (message) channel.stderr.write(message + (pty ? '\r\n' : '\n'));
  channel.exit(status);
  channel.end();
}

/** One started session: pumps output through the recording to the client, and input back. */
class RunningSession {
  readonly #channel: ssh2.ServerChannel;
  readonly #proc: SessionProcess;
  readonly #recording: Recording;
  readonly #pty: boolean;
  readonly #log: (m: string) => void;
  readonly #waits = new Set<string>();
  #clientGone = false;
  #inputPaused = false;
  #terminated = false;
  #done = false;

  constructor(
    channel: ssh2.ServerChannel,
    proc: SessionProcess,
    recording: Recording,
    pty: boolean,
    log: (m: string) => void,
  ) {
    this.#channel = channel;
    this.#proc = proc;
    this.#recording = recording;
    this.#pty = pty;
    this.#log = log;

    proc.on('data', (chunk, stream) => this.#output(chunk, stream));
    proc.on('exit', (exit) => void this.#exit(exit));

    channel.on('data', (data: Buffer) => {
      recording.input(data);
      // A process that does not read its input pauses the client, not the server's memory.
      if (!proc.write(data) && !this.#inputPaused) {
        this.#inputPaused = true;
        channel.pause();
        proc.once('input-drain', () => {
          this.#inputPaused = false;
          channel.resume();
        });
      }
    });
    // Only a pipe's stdin ends on the client's EOF: OpenSSH sends EOF at once for
    // `ssh -tt host cmd </dev/null`, and that must not end a pty session.
    channel.on('end', () => proc.endInput());
    channel.on('close', () => this.#gone());
    channel.on('error', () => this.#gone());
    recording.on('failure', (_err, action) => {
      this.#release('recording');
      if (action === 'terminate' && !this.#terminated) {
        this.#terminated = true;
        if (!this.#clientGone) channel.stderr.write(WRITE_FAILURE_MESSAGE + (pty ? '\r\n' : '\n'));
        proc.kill('SIGHUP');
      }
    });
  }

  resize(cols: number, rows: number): void {
    if (!this.#pty || this.#done) return;
    try {
      this.#proc.resize(cols, rows);
    } catch (err) {
      this.#log(`sshcast: resize to ${cols}x${rows} failed: ${(err as Error).message}`);
      return;
    }
    this.#wait('recording', this.#recording.resize(cols, rows));
  }

  signal(signal: NodeJS.Signals): void {
    if (!this.#done) this.#proc.kill(signal);
  }

  #output(chunk: Buffer, stream: OutputStream): void {
    const recorded = this.#recording.output(chunk, stream);
    if (this.#clientGone) return this.#wait('recording', recorded);
    const sent =
      stream === 'stderr' ? this.#channel.stderr.write(chunk) : this.#channel.write(chunk);
    this.#wait('recording', recorded);
    this.#wait(stream, sent);
  }

  // Backpressure: while the recording or a client stream is full, the process is paused.
  #wait(what: string, ok: boolean): void {
    if (ok || this.#waits.has(what)) return;
    if (this.#waits.size === 0) this.#proc.pause();
    this.#waits.add(what);
    if (what === 'recording') this.#recording.once('drain', () => this.#release('recording'));
    else if (what === 'stderr') this.#channel.stderr.once('drain', () => this.#release('stderr'));
    else this.#channel.once('drain', () => this.#release('stdout'));
  }

  #release(what: string): void {
    if (!this.#waits.delete(what)) return;
    if (this.#waits.size === 0) this.#proc.resume();
  }

  #gone(): void {
    if (this.#clientGone) return;
    this.#clientGone = true;
    this.#release('stdout');
    this.#release('stderr');
    if (this.#done) return;
    this.#proc.hangup();
    // A process that ignores SIGHUP outlives its session, as under sshd; its recording ends.
    const timer = setTimeout(() => void this.#exit({ signal: 1 }), HANGUP_GRACE_MS);
    timer.unref();
    this.#proc.once('exit', () => clearTimeout(timer));
  }

  async #exit(exit: { status?: number; signal?: number }): Promise<void> {
    if (this.#done) return;
    this.#done = true;
    const status = exitStatus(exit);
    await this.#recording.finish(status);
    if (this.#clientGone) return;
    const name = exit.signal ? sshSignalName(exit.signal) : undefined;
    try {
      if (name) this.#channel.exit(name, false, '');
      else this.#channel.exit(status);
      this.#channel.end();
    } catch (err) {
      this.#log(`sshcast: ending session: ${(err as Error).message}`);
    }
  }
}
