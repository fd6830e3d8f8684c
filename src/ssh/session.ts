/**
 * The session layer's requests: answers an ssh2 session's pty, env, window-change, signal, shell,
 * exec and subsystem requests, and starts the shell or command as the connection's local account
 * (through the launcher) with its own recording; running-session.ts pumps it from there.
 */
import type ssh2 from 'ssh2';
import { RecordingStartError } from '../errors.js';
import type { Recorder } from '../recording/recorder.js';
import type { Recording } from '../recording/recording.js';
import { START_FAILURE_MESSAGE } from '../recording/policy.js';
import { terminalSize } from '../asciicast/terminal.js';
import { signalFromClient } from './exit.js';
import type { Identity } from './identity.js';
import { launchCommand, sessionEnvironment } from './launcher.js';
import { spawnSession } from './process.js';
import { RunningSession } from './running-session.js';
import { escapingLogger, type Logger } from '../log.js';

/** Environment names every session accepts from the client, besides `SessionOptions.allowEnv`. */
export const DEFAULT_ALLOWED_ENV = ['LANG', 'LC_*'];

// A client cannot grow a session's environment without bound.
const MAX_ENV_VARS = 64;
const MAX_ENV_BYTES = 64 * 1024;

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
  /** Where problems are logged, one line each. Default: stderr ({@link defaultLog}). */
  log?: Logger;
}

function allowed(name: string, patterns: string[]): boolean {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) return false;
  return patterns.some((p) => (p.endsWith('*') ? name.startsWith(p.slice(0, -1)) : name === p));
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
  new SessionRequests(session, options);
}

type Accept<T = void> = (() => T) | undefined;
type Reject = (() => void) | undefined;

/** One session's requests, until its shell, command or subsystem starts. */
class SessionRequests {
  readonly #options: SessionOptions;
  readonly #identity: Identity;
  readonly #log: Logger;
  readonly #patterns: string[];
  readonly #env: Record<string, string> = {};
  #envBytes = 0;
  #term: { cols: number; rows: number; term: string } | undefined;
  #started = false;
  #running: RunningSession | undefined;

  constructor(session: ssh2.Session, options: SessionOptions) {
    this.#options = options;
    this.#identity = options.identity;
    this.#log = escapingLogger(options.log);
    this.#patterns = [...DEFAULT_ALLOWED_ENV, ...(options.allowEnv ?? [])];
    session.on('pty', (accept, reject, info) => this.#pty(accept, reject, info));
    session.on('env', (accept, reject, info) => this.#envRequest(accept, reject, info));
    session.on('window-change', (accept, reject, info) => this.#windowChange(accept, reject, info));
    session.on('signal', (accept, reject, info) => this.#signal(accept, reject, String(info.name)));
    session.on('shell', (accept, reject) => this.#start(accept, reject));
    session.on('exec', (accept, reject, info) => this.#start(accept, reject, String(info.command)));
    session.on('subsystem', (accept, reject, info) => this.#subsystem(accept, reject, info.name));
    session.on('auth-agent', (_accept, reject) => reject?.());
    session.on('x11', (_accept, reject) => reject?.());
  }

  #pty(accept: Accept, reject: Reject, info: ssh2.PseudoTtyInfo): void {
    if (this.#started || this.#identity.keyOptions.noPty) return reject?.();
    this.#term = { ...terminalSize(info.cols, info.rows), term: sanitizeTerm(info.term) };
    accept?.();
  }

  #envRequest(accept: Accept, reject: Reject, info: ssh2.SetEnvInfo): void {
    const key = String(info.key);
    const val = String(info.val);
    const size = key.length + val.length;
    if (
      this.#started ||
      !allowed(key, this.#patterns) ||
      val.includes('\0') ||
      Object.keys(this.#env).length >= MAX_ENV_VARS ||
      this.#envBytes + size > MAX_ENV_BYTES
    ) {
      return reject?.();
    }
    this.#env[key] = val;
    this.#envBytes += size;
    accept?.();
  }

  #windowChange(accept: Accept, reject: Reject, info: ssh2.WindowChangeInfo): void {
    if (!info.cols || !info.rows) return reject?.();
    const size = terminalSize(info.cols, info.rows);
    if (this.#running) this.#running.resize(size.cols, size.rows);
    else if (this.#term) Object.assign(this.#term, size);
    accept?.();
  }

  #signal(accept: Accept, reject: Reject, name: string): void {
    const signal = signalFromClient(name);
    if (!signal || !this.#running) {
      if (!signal) this.#log(`sshcast: ignored signal "${name}" (not an RFC 4254 name)`);
      return reject?.();
    }
    this.#running.signal(signal);
    accept?.();
  }

  #start(accept: Accept<ssh2.ServerChannel>, reject: Reject, requested?: string): void {
    if (this.#started) return reject?.();
    this.#started = true;
    const identity = this.#identity;
    const term = this.#term;
    const log = this.#log;
    const forced = identity.keyOptions.command;
    const command = forced ?? requested;
    const extraEnv: Record<string, string> = {
      ...this.#env,
      ...(identity.keyOptions.environment ?? {}),
    };
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
      recording = this.#options.recorder.start({
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
    // A recorder that must have a collector's copy (remote policy `closed`) says when it has
    // one. The channel is accepted first: ssh2 drops a late accept once the client has sent EOF,
    // which OpenSSH does at once for `ssh host cmd </dev/null`. Until then its input waits.
    const accepted = recording.accepted;
    if (!accepted) return this.#run(channel, launch, recording);
    let closed = false;
    channel.once('close', () => (closed = true));
    const size = term && { cols: term.cols, rows: term.rows };
    accepted.then(
      () => {
        if (closed) return void recording.finish();
        // The window changed while the session waited: the process starts at the new size, and
        // the recording says so after the header's.
        const now = this.#term;
        if (size && now && (now.cols !== size.cols || now.rows !== size.rows))
          recording.resize(now.cols, now.rows);
        return this.#run(channel, launch, recording);
      },
      () => {
        void recording.finish();
        if (!closed) endChannel(channel, 1, START_FAILURE_MESSAGE, term !== undefined);
      },
    );
  }

  #run(
    channel: ssh2.ServerChannel,
    launch: ReturnType<typeof launchCommand>,
    recording: Recording,
  ): void {
    const identity = this.#identity;
    const term = this.#term;
    const log = this.#log;
    try {
      const proc = spawnSession({
        command: launch,
        env: launch.env,
        cwd: launch.cwd ?? '/',
        ...(term ? { pty: term } : {}),
      });
      this.#running = new RunningSession(channel, proc, recording, term !== undefined, log);
      this.#options.onRecording?.(recording);
    } catch (err) {
      log(`sshcast: cannot start the session's process: ${(err as Error).message}`);
      void recording
        .finish(127)
        .then(() => endChannel(channel, 127, 'cannot start the session', term !== undefined));
    }
  }

  #subsystem(accept: Accept<ssh2.ServerChannel>, reject: Reject, name: string): void {
    const handler = this.#options.subsystems?.[name];
    if (this.#started || !handler || this.#identity.keyOptions.command !== undefined)
      return reject?.();
    this.#started = true;
    const channel = accept?.();
    if (channel) handler(channel, this.#identity);
  }
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
