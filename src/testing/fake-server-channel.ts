/**
 * The server side of a fake session's channel: what a handler gets from `accept()`, a Duplex that
 * behaves as ssh2 1.17's server Channel does where a handler can tell (writes dropped after EOF
 * or CLOSE, `exit()` throwing on a signal name ssh2 cannot send, `'close'` only after the
 * readable side ended).
 */
import { Duplex, Writable } from 'node:stream';
// ssh2 accepts in exit-signal exactly RFC 4254's names, the list the session layer uses.
import { SSH_SIGNALS } from '../ssh/exit.js';
import type { ExitInfo } from './terminal-output.js';

/** The window ssh2 advertises; also its channels' highWaterMark. */
const MAX_WINDOW = 2 * 1024 * 1024;

/**
 * What ssh2's server channel throws here, reproduced as it is (a plain Error, ssh2's message):
 * the handler under test sees what it would see from ssh2, not an SshcastError.
 */
function ssh2Error(message: string): Error {
  return new Error(message);
}

/** @internal What the server side tells the client side (a {@link FakeChannel}). */
export interface ClientEnd {
  _deliver(chunk: Buffer | string, stream: 'stdout' | 'stderr', cb: () => void): void;
  _receiveExit(info: ExitInfo): void;
  _receiveEof(): void;
  _receiveClose(): void;
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
  readonly #client: ClientEnd;

  /** @internal */
  constructor(client: ClientEnd, subtype: string) {
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
        throw ssh2Error(`Invalid signal: ${statusOrSignal}`);
      let name = statusOrSignal.toUpperCase();
      if (name.startsWith('SIG')) name = name.slice(3);
      if (!SSH_SIGNALS.includes(name)) throw ssh2Error(`Invalid signal: ${statusOrSignal}`);
      info = { code: null, signal: name };
      void coreDumped;
      void message;
    }
    if (this.writable && this.outgoing.state === 'open') this.#client._receiveExit(info);
  }

  /** Client-only in ssh2: throws, as ssh2 does on a server channel. */
  setWindow(_rows: number, _cols: number, _height: number, _width: number): void {
    throw ssh2Error('Client-only method called in server mode');
  }

  /** Client-only in ssh2: throws, as ssh2 does on a server channel. */
  signal(_name: string): void {
    throw ssh2Error('Client-only method called in server mode');
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
