/**
 * A fake ssh2 session, to drive a session handler with no sockets. It behaves as ssh2 1.17's
 * server session does where a handler can tell: which requests carry `accept`/`reject`
 * (undefined when the client wants no reply), replies ignored once a channel exists, requests
 * rejected after the client's EOF.
 */
import { EventEmitter } from 'node:events';
import type { PseudoTtyInfo, ServerChannel, Session } from 'ssh2';
import { DEFAULT_SIZE } from '../asciicast/terminal.js';
import { FakeChannel } from './fake-channel.js';
import type { FakeServerChannel } from './fake-server-channel.js';
import type { PtyOptions } from './test-channel.js';
import { SshcastError } from '../errors.js';
import { defaultWaitMs } from './terminal-output.js';

/** Options for {@link FakeSession.shell} and {@link FakeSession.exec}. */
export interface FakeStartOptions {
  /** Request a pty first. `shell()` does by default (80x24); `exec()` does not. */
  pty?: PtyOptions | boolean;
  /** `env` requests sent before the shell or command (without reply, as OpenSSH sends them). */
  env?: Record<string, string>;
}

/** Options for {@link fakeSession}. */
export interface FakeSessionOptions {
  /**
   * Milliseconds to wait for the handler to answer a request before failing. Default
   * that of every wait (`WaitOptions.timeout`): before the test runner's own timeout.
   */
  replyTimeout?: number;
}

type Reply = boolean | undefined;

interface Internal {
  ending: boolean;
  channel: FakeServerChannel | undefined;
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
    this.#timeout = options.replyTimeout ?? defaultWaitMs();
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
      throw new SshcastError(
        'ERR_INVALID_STATE',
        'fakeSession: this session already has a channel; use another fakeSession()',
      );
    for (const [k, v] of Object.entries(options.env ?? {})) await this.env(k, v);
    const ptyOpt = options.pty ?? ptyByDefault;
    let size = { ...DEFAULT_SIZE };
    if (ptyOpt) {
      const p = ptyOpt === true ? {} : ptyOpt;
      size = { cols: p.cols ?? DEFAULT_SIZE.cols, rows: p.rows ?? DEFAULT_SIZE.rows };
      const ok = await this.pty(p);
      if (!ok)
        throw new SshcastError(
          'ERR_TEST_REFUSED',
          'fakeSession: the handler rejected the pty request',
        );
    }
    const channel = new FakeChannel(
      this,
      kind === 'subsystem' ? `subsystem:${(info as { name: string }).name}` : kind,
      size.cols,
      size.rows,
    );
    const ok = await this._request(kind, true, info, channel);
    if (!ok)
      throw new SshcastError(
        'ERR_TEST_REFUSED',
        `fakeSession: the handler rejected the ${kind} request`,
      );
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
              new SshcastError(
                'ERR_TEST_WAIT',
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
