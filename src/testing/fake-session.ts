/**
 * A fake ssh2 session and channel, to drive a session handler with no sockets. They behave as
 * ssh2 1.17's server objects do where a handler can tell: which requests carry `accept`/`reject`
 * (undefined when the client wants no reply), replies ignored once a channel exists, requests
 * rejected after the client's EOF, `exit()` throwing on a signal name ssh2 cannot send, `end()`
 * sending EOF and CLOSE, `'close'` only after the readable side ended, writes dropped after CLOSE.
 */
import { EventEmitter } from 'node:events';
import { Duplex, Writable } from 'node:stream';
import type { PseudoTtyInfo, ServerChannel, Session } from 'ssh2';
import { OutputChannel, type ExitInfo, type WaitOptions } from './terminal-output.js';
import type { Screen } from './screen.js';
import type { Cast } from '../asciicast/reader.js';
import { DEFAULT_SIZE } from '../asciicast/terminal.js';
// ssh2 accepts in exit-signal exactly RFC 4254's names, the list the session layer uses.
import { SSH_SIGNALS } from '../ssh/exit.js';

/** The window ssh2 advertises; also its channels' highWaterMark. */
const MAX_WINDOW = 2 * 1024 * 1024;

/**
 * What a test does with a session from the client's side, the same for the fake channel and the
 * real client of {@link startTestServer}.
 */
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

/** Options for {@link FakeSession.shell} and {@link FakeSession.exec}. */
export interface FakeStartOptions {
  /** Request a pty first. `shell()` does by default (80x24); `exec()` does not. */
  pty?: PtyOptions | boolean;
  /** `env` requests sent before the shell or command (without reply, as OpenSSH sends them). */
  env?: Record<string, string>;
}

/** Options for {@link fakeSession}. */
export interface FakeSessionOptions {
  /** Milliseconds to wait for the handler to answer a request before failing. Default 5000. */
  replyTimeout?: number;
}

type Reply = boolean | undefined;

interface Internal {
  ending: boolean;
  channel: FakeServerChannel | undefined;
}

/**
 * The channel a handler gets from `accept()` of a shell, exec or subsystem request: a Duplex like
 * ssh2's server Channel (stdin = stdout = itself, a `stderr` Writable, `exit()`, `eof()`,
 * `close()`), wired to a {@link FakeChannel} on the client's side.
 */
export class FakeServerChannel extends Duplex {
  readonly server = true as const;
  readonly type = 'session' as const;
  subtype: string | undefined;
  readonly stdin: this;
  readonly stdout: this;
  readonly stderr: Writable;
  /** The state of each direction, as ssh2 keeps it. */
  readonly incoming = { state: 'open' as 'open' | 'eof' | 'closed' };
  readonly outgoing = { state: 'open' as 'open' | 'eof' | 'closing' | 'closed' };
  readonly #client: FakeChannel;

  /** @internal */
  constructor(client: FakeChannel, subtype: string) {
    super({ highWaterMark: MAX_WINDOW, allowHalfOpen: true, emitClose: false });
    this.#client = client;
    this.subtype = subtype;
    this.stdin = this.stdout = this;
    const self = this;
    this.stderr = new Writable({
      highWaterMark: MAX_WINDOW,
      write(chunk: Buffer, _enc, cb) {
        if (self.outgoing.state !== 'open') return;
        self.#client._deliver(chunk, 'stderr', cb);
      },
    });
    const onFinish = () => {
      this.eof();
      this.close();
      (this as { writable: boolean }).writable = false;
    };
    this.once('finish', onFinish);
    const onEnd = () => {
      (this as { readable: boolean }).readable = false;
    };
    this.on('end', onEnd).on('close', onEnd);
  }

  override _read(): void {}

  override _write(
    chunk: Buffer,
    _encoding: BufferEncoding,
    cb: (err?: Error | null) => void,
  ): void {
    // As ssh2 does: after EOF or CLOSE the data goes nowhere and the callback never comes.
    if (this.outgoing.state !== 'open') return;
    this.#client._deliver(chunk, 'stdout', cb);
  }

  /** Sends EOF to the client. */
  eof(): void {
    if (this.outgoing.state !== 'open') return;
    this.outgoing.state = 'eof';
    this.#client._receiveEof();
  }

  /** Sends CLOSE to the client, which answers with its own CLOSE (on the next turn, like a network). */
  close(): void {
    if (this.outgoing.state !== 'open' && this.outgoing.state !== 'eof') return;
    this.outgoing.state = 'closing';
    this.#client._receiveClose();
  }

  /** Sends the exit status, or an exit signal (throws for a name ssh2 cannot send, as ssh2 does). */
  exit(statusOrSignal: number | string, coreDumped?: boolean, message?: string): void {
    let info: ExitInfo;
    if (typeof statusOrSignal === 'number') info = { code: statusOrSignal };
    else {
      if (typeof statusOrSignal !== 'string' || !statusOrSignal)
        throw new Error(`Invalid signal: ${statusOrSignal}`);
      let name = statusOrSignal.toUpperCase();
      if (name.startsWith('SIG')) name = name.slice(3);
      if (!SSH_SIGNALS.includes(name)) throw new Error(`Invalid signal: ${statusOrSignal}`);
      info = { code: null, signal: name };
      void coreDumped;
      void message;
    }
    if (this.writable && this.outgoing.state === 'open') this.#client._receiveExit(info);
  }

  /** Client-only in ssh2: throws, as ssh2 does on a server channel. */
  setWindow(_rows: number, _cols: number, _height: number, _width: number): void {
    throw new Error('Client-only method called in server mode');
  }

  /** Client-only in ssh2: throws, as ssh2 does on a server channel. */
  signal(_name: string): void {
    throw new Error('Client-only method called in server mode');
  }

  /** @internal The client's CLOSE arrived (ssh2's onCHANNEL_CLOSE for a server channel). */
  _onClientClose(): void {
    if (this.incoming.state === 'closed') return;
    this.incoming.state = 'closed';
    if (this.readable) this.push(null);
    if (this.stderr.writable) this.stderr.end();
    if (this.outgoing.state === 'open' || this.outgoing.state === 'eof') this.close();
    if (this.outgoing.state === 'closing') this.outgoing.state = 'closed';
    const ws = this.writableEnded || this.writableFinished;
    if (!ws) this.end();
    if (!this.readable || this.destroyed || this.readableEnded) this.emit('close');
    else this.once('end', () => this.emit('close'));
  }

  /** @internal The client's EOF arrived. */
  _onClientEof(): void {
    if (this.incoming.state !== 'open') return;
    this.incoming.state = 'eof';
    if (this.readable) this.push(null);
  }
}

/**
 * The client's side of a fake session's channel: what a test drives and inspects. It sees
 * exactly what the handler wrote, in order; `pauseOutput()` stops acknowledging writes, as a
 * client whose window is full, so a handler's backpressure can be tested.
 */
export class FakeChannel extends OutputChannel implements TestChannel {
  /** The server side, as the handler got it from `accept()`. */
  readonly server: FakeServerChannel;
  readonly #session: FakeSession;
  #paused = false;
  readonly #held: Array<() => void> = [];

  /** @internal */
  constructor(session: FakeSession, subtype: string, cols: number, rows: number) {
    super(cols, rows);
    this.#session = session;
    this.server = new FakeServerChannel(this, subtype);
  }

  /** @internal Data from the handler. */
  _deliver(chunk: Buffer | string, stream: 'stdout' | 'stderr', cb: () => void): void {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    const take = () => {
      this.output.push(buf, stream);
      cb();
    };
    if (this.#paused) this.#held.push(take);
    else take();
  }

  /** @internal */
  _receiveExit(info: ExitInfo): void {
    this.output.setExit(info);
  }

  /** @internal */
  _receiveEof(): void {
    this.output.end('the server sent EOF');
  }

  /** @internal The server's CLOSE: the client answers with its own, a turn later. */
  _receiveClose(): void {
    if (this.closed) return;
    this.output.markClosed();
    setImmediate(() => this.#session._clientClose(this.server));
  }

  /** Stops acknowledging the handler's writes (its `write()` calls start returning false). */
  pauseOutput(): void {
    this.#paused = true;
  }

  /** Acknowledges the writes held since `pauseOutput()`, and later ones at once. */
  resumeOutput(): void {
    this.#paused = false;
    for (const take of this.#held.splice(0)) take();
  }

  type(data: string | Buffer): void {
    if (this.closed || this.server.incoming.state !== 'open') return;
    this.server.push(typeof data === 'string' ? Buffer.from(data) : data);
  }

  resize(cols: number, rows: number): void {
    this.output.resize(cols, rows);
    void this.#session._request('window-change', false, { cols, rows, width: 0, height: 0 });
  }

  signal(name: string): void {
    void this.#session._request('signal', false, { name });
  }

  eof(): void {
    this.#session._clientEof();
  }

  close(): void {
    if (this.closed) return;
    this.output.markClosed();
    this.#session._clientClose(this.server);
  }
}

/**
 * A fake ssh2 session: hand `session` to a handler written for ssh2's `'session'` event, then
 * play the client: request a pty, env, a shell or a command, type, resize, and read the output.
 * No sockets, no keys; each step is awaited, nothing sleeps.
 *
 * @example
 * const s = fakeSession();
 * myHandler(s.session);                        // what ssh2 would call with accept()
 * const ch = await s.shell({ pty: { cols: 80, rows: 24 } });
 * ch.type('echo hi\n');
 * await ch.waitForOutput(/hi/);
 * ch.resize(100, 30);
 * ch.eof();
 * expect(await ch.waitForExit()).toEqual({ code: 0 });
 */
export class FakeSession {
  /** The object a handler receives: an ssh2 Session as far as a handler can tell. */
  readonly session: Session;
  readonly #emitter: EventEmitter & { type: string; subtype: string | undefined; server: true };
  readonly #internal: Internal = { ending: false, channel: undefined };
  readonly #timeout: number;
  #client: FakeChannel | undefined;

  constructor(options: FakeSessionOptions = {}) {
    this.#timeout = options.replyTimeout ?? 5000;
    const emitter = Object.assign(new EventEmitter(), {
      type: 'session',
      subtype: undefined as string | undefined,
      server: true as const,
    });
    this.#emitter = emitter;
    this.session = emitter as unknown as Session;
  }

  /** The channel once a shell, exec or subsystem was accepted. */
  get channel(): FakeChannel | undefined {
    return this.#client;
  }

  /** Sends a pty request (OpenSSH asks for a reply). Resolves true if accepted, false if rejected. */
  pty(options: PtyOptions = {}): Promise<Reply> {
    const info: PseudoTtyInfo = {
      term: options.term ?? 'xterm-256color',
      cols: options.cols ?? DEFAULT_SIZE.cols,
      rows: options.rows ?? DEFAULT_SIZE.rows,
      width: 0,
      height: 0,
      modes: {},
    };
    return this._request('pty', true, info);
  }

  /** Sends an env request; without a reply by default, as OpenSSH sends it. */
  env(key: string, value: string, wantReply = false): Promise<Reply> {
    return this._request('env', wantReply, { key, val: value });
  }

  /** Requests a shell, after a pty (80x24 unless `pty` says otherwise or is false) and env. */
  async shell(options: FakeStartOptions = {}): Promise<FakeChannel> {
    return this.#start('shell', undefined, options, true);
  }

  /** Requests a command, after env and (only if `pty` is given) a pty. */
  async exec(command: string, options: FakeStartOptions = {}): Promise<FakeChannel> {
    return this.#start('exec', { command }, options, false);
  }

  /** Requests a subsystem; rejects with an error if the handler refuses it. */
  async subsystem(name: string): Promise<FakeChannel> {
    return this.#start('subsystem', { name }, { pty: false }, false);
  }

  async #start(
    kind: 'shell' | 'exec' | 'subsystem',
    info: object | undefined,
    options: FakeStartOptions,
    ptyByDefault: boolean,
  ): Promise<FakeChannel> {
    if (this.#client)
      throw new Error('fakeSession: this session already has a channel; use another fakeSession()');
    for (const [k, v] of Object.entries(options.env ?? {})) await this.env(k, v);
    const ptyOpt = options.pty ?? ptyByDefault;
    let size = { ...DEFAULT_SIZE };
    if (ptyOpt) {
      const p = ptyOpt === true ? {} : ptyOpt;
      size = { cols: p.cols ?? DEFAULT_SIZE.cols, rows: p.rows ?? DEFAULT_SIZE.rows };
      const ok = await this.pty(p);
      if (!ok) throw new Error('fakeSession: the handler rejected the pty request');
    }
    const channel = new FakeChannel(
      this,
      kind === 'subsystem' ? `subsystem:${(info as { name: string }).name}` : kind,
      size.cols,
      size.rows,
    );
    const ok = await this._request(kind, true, info, channel);
    if (!ok) throw new Error(`fakeSession: the handler rejected the ${kind} request`);
    return channel;
  }

  /**
   * @internal Emits one channel request as ssh2's server does. Resolves with the reply: true,
   * false, or undefined when no reply was asked for.
   */
  _request(
    event: string,
    wantReply: boolean,
    info?: object,
    channel?: FakeChannel,
  ): Promise<Reply> {
    const s = this.#internal;
    const opensChannel = event === 'shell' || event === 'exec' || event === 'subsystem';
    return new Promise<Reply>((resolve, reject) => {
      let replied = false;
      let timer: NodeJS.Timeout | undefined;
      const done = (value: Reply) => {
        if (timer) clearTimeout(timer);
        resolve(value);
      };
      let accept: (() => unknown) | undefined;
      let rejectFn: (() => void) | undefined;
      if (wantReply && !opensChannel) {
        accept = () => {
          if (replied || s.ending || s.channel) return;
          replied = true;
          done(true);
        };
      }
      if (wantReply) {
        rejectFn = () => {
          if (replied || s.ending || s.channel) return;
          replied = true;
          done(false);
        };
      }
      if (opensChannel) {
        accept = () => {
          if (replied || s.ending || s.channel) return undefined;
          replied = true;
          this.#client = channel!;
          s.channel = channel!.server;
          this.#emitter.subtype = channel!.server.subtype;
          done(true);
          return channel!.server as unknown as ServerChannel;
        };
      }
      if (s.ending) {
        rejectFn?.();
        if (!wantReply) done(undefined);
        return;
      }
      if (this.#emitter.listenerCount(event) === 0) {
        rejectFn?.();
        if (!wantReply) done(undefined);
        return;
      }
      if (wantReply) {
        timer = setTimeout(
          () =>
            reject(
              new Error(
                `fakeSession: the handler neither accepted nor rejected the ${event} request within ${this.#timeout} ms`,
              ),
            ),
          this.#timeout,
        );
      }
      const args = info === undefined ? [accept, rejectFn] : [accept, rejectFn, info];
      this.#emitter.emit(event, ...args);
      if (!wantReply) done(undefined);
    });
  }

  /** @internal The client's EOF. */
  _clientEof(): void {
    if (!this.#internal.ending) {
      this.#internal.ending = true;
      this.#emitter.emit('eof');
      this.#emitter.emit('end');
    }
    this.#internal.channel?._onClientEof();
  }

  /** @internal The client's CLOSE. */
  _clientClose(channel: FakeServerChannel | undefined): void {
    this.#internal.ending = true;
    this.#emitter.emit('close');
    channel?._onClientClose();
  }

  /** Closes the session from the client's side (the channel too, if there is one). */
  close(): void {
    if (this.#client) this.#client.close();
    else this._clientClose(undefined);
  }
}

/**
 * Makes a {@link FakeSession}: drive an ssh2 session handler with no sockets.
 *
 * @example
 * const s = fakeSession();
 * server.handleSession(s.session);
 * const ch = await s.exec('echo hi');
 * await ch.waitForOutput('hi');
 * expect((await ch.waitForExit()).code).toBe(0);
 */
export function fakeSession(options: FakeSessionOptions = {}): FakeSession {
  return new FakeSession(options);
}
