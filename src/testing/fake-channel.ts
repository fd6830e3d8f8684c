/**
 * The client's side of a fake session's channel: what a test drives and inspects.
 */
import { FakeServerChannel } from './fake-server-channel.js';
import type { TestChannel } from './test-channel.js';
import { OutputChannel, type ExitInfo } from './terminal-output.js';

/** @internal What the client side asks of its session (a {@link FakeSession}). */
export interface SessionEnd {
  _request(event: string, wantReply: boolean, info?: object): Promise<boolean | undefined>;
  _clientEof(): void;
  _clientClose(channel: FakeServerChannel | undefined): void;
}

/**
 * The client's side of a fake session's channel: what a test drives and inspects. It sees
 * exactly what the handler wrote, in order; `pauseOutput()` stops acknowledging writes, as a
 * client whose window is full, so a handler's backpressure can be tested.
 */
export class FakeChannel extends OutputChannel implements TestChannel {
  /** The server side, as the handler got it from `accept()`. */
  readonly server: FakeServerChannel;
  readonly #session: SessionEnd;
  #paused = false;
  readonly #held: Array<() => void> = [];

  /** @internal */
  constructor(session: SessionEnd, subtype: string, cols: number, rows: number) {
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
