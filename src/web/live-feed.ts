/**
 * One recording's live feed, shared by all its viewers: one follower of the file (live/follow.ts)
 * and one bounded emulator that keeps its present screen. A viewer who joins gets a reset that
 * paints that screen (asciinema-player's eventsource format: `{"cols","rows","time","init"}`),
 * then every event appended after it, as Server-Sent Events, then the `done` event when the
 * recording ends or its writer is gone. The emulator and the broadcast move in step, batch by
 * batch, so a joining viewer's screen is exactly what the events before it made. Events are sent
 * as the exact bytes of their lines; the bytes of one batch are assembled once for every viewer,
 * and what a viewer cannot take at once is its own problem (see live-streams.ts), never the feed's.
 */
import { followCast, type FollowedEvent, type FollowItem } from '../live/follow.js';
import { BoundedTerminal } from '../render/terminal.js';
import type { FollowedFile } from './files.js';

/** One viewer's connection, as the feed sees it. */
export interface LiveViewer {
  /** Sends bytes of the event stream (never blocks; the connection applies its own limit). */
  send(bytes: Buffer): void;
  /** The stream is over (its `done` was sent, or the feed stopped): close the connection. */
  end(why: string): void;
}

/** Options for {@link LiveFeed}. */
export interface LiveFeedOptions {
  /** Whether the recording's writer is still there (the liveness rule, asked about this file). */
  writerAlive: () => Promise<boolean>;
  /** The follower's fallback poll, ms. */
  pollMs?: number;
  /** An SSE comment this often keeps idle connections open and finds dead ones. Default 15 s. */
  heartbeatMs?: number;
  /** Called once the feed is over (ended or closed) and holds nothing. */
  onClosed?: () => void;
}

const CODES_SENT = new Set(['o', 'm']);
const HEARTBEAT = Buffer.from(':\n\n');

/** Why a feed's stream ended, as the `done` event's data and the log say it. */
export type FeedEnd = 'exit' | 'writer-gone' | 'damaged' | 'stopped' | 'error';

export class LiveFeed {
  readonly #file: FollowedFile;
  readonly #options: LiveFeedOptions;
  readonly #viewers = new Set<LiveViewer>();
  readonly #joining: LiveViewer[] = [];
  readonly #abort = new AbortController();
  #screen: BoundedTerminal | undefined;
  #version: 2 | 3 = 2;
  /** The time of the last event (µs) and when it was read (wall-clock ms). */
  #lastTime = 0;
  #lastAt = Date.now();
  #caughtUp = false;
  #busy = false;
  #done: { why: FeedEnd; exit?: string } | undefined;
  /** The status of the `x` event, once read. */
  #lastExit: string | undefined;
  #heartbeat: NodeJS.Timeout | undefined;
  readonly #finished: Promise<void>;

  constructor(file: FollowedFile, options: LiveFeedOptions) {
    this.#file = file;
    this.#options = options;
    this.#heartbeat = setInterval(() => this.#sendAll(HEARTBEAT), options.heartbeatMs ?? 15_000);
    this.#heartbeat.unref();
    this.#finished = this.#run();
  }

  /** How many viewers it has, and is about to have. */
  get viewers(): number {
    return this.#viewers.size + this.#joining.length;
  }

  /** Whether its stream is over. */
  get ended(): boolean {
    return this.#done !== undefined;
  }

  /** Adds a viewer: it gets the present screen as soon as the feed has it, then what follows. */
  join(viewer: LiveViewer): void {
    this.#joining.push(viewer);
    if (this.#caughtUp && !this.#busy) this.#admit();
  }

  /** Removes a viewer (its connection closed). */
  leave(viewer: LiveViewer): void {
    this.#viewers.delete(viewer);
    const i = this.#joining.indexOf(viewer);
    if (i !== -1) this.#joining.splice(i, 1);
  }

  /** Stops following; every viewer's connection is ended. Resolves once the file is closed. */
  async close(): Promise<void> {
    this.#abort.abort();
    await this.#finished;
  }

  async #run(): Promise<void> {
    try {
      const items = followCast(this.#file.fh, {
        writerAlive: this.#options.writerAlive,
        watchPath: this.#file.watchPath,
        pollMs: this.#options.pollMs,
        signal: this.#abort.signal,
      });
      for await (const item of items) await this.#take(item);
    } catch {
      this.#finish('error');
    } finally {
      this.#finish('stopped');
      for (const v of this.#joining.splice(0)) v.end('stopped');
      clearInterval(this.#heartbeat);
      this.#screen?.dispose();
      await this.#file.fh.close().catch(() => {});
      this.#options.onClosed?.();
    }
  }

  async #take(item: FollowItem): Promise<void> {
    switch (item.kind) {
      case 'header':
        this.#version = item.version;
        this.#screen = new BoundedTerminal({ cols: item.header.width, rows: item.header.height });
        return;
      case 'caught-up':
        // What was read so far was written since the file's last change, or earlier.
        this.#lastAt = Math.min(Date.now(), (await this.#file.fh.stat()).mtimeMs);
        this.#caughtUp = true;
        this.#admit();
        return;
      case 'events': {
        this.#busy = true;
        try {
          await this.#play(item.events);
          if (this.#caughtUp) this.#lastAt = Date.now();
        } finally {
          this.#busy = false;
        }
        if (this.#caughtUp) this.#admit();
        return;
      }
      case 'end': {
        const exit = item.why === 'exit' ? this.#lastExit : undefined;
        this.#caughtUp = true;
        this.#admit();
        this.#finish(item.why, exit);
        return;
      }
    }
  }

  /**
   * Sends a batch to the viewers and applies it to the screen, in step. A resize goes out as a
   * reset that repaints the screen at its new size: asciinema-player's eventsource driver (3.18)
   * hands an `r` event's "COLSxROWS" to its terminal unparsed, so the event alone resizes nothing.
   * Resizes in a row make one reset.
   */
  async #play(events: FollowedEvent[]): Promise<void> {
    const screen = this.#screen!;
    const send = this.#caughtUp && this.#viewers.size > 0;
    if (this.#caughtUp) this.#lastAt = Date.now();
    let run: FollowedEvent[] = [];
    let resized = false;
    const flush = async (): Promise<void> => {
      if (resized) {
        resized = false;
        if (send) this.#sendAll(this.#reset());
      }
      if (run.length === 0) return;
      const events = run;
      run = [];
      if (send) this.#broadcast(events);
      const output = events.filter((e) => e.event.code === 'o').map((e) => e.event.data);
      if (output.length > 0) await screen.write(output.join(''));
    };
    for (const e of events) {
      this.#lastTime = e.event.time;
      if (e.event.code === 'r') {
        await flush();
        const [cols, rows] = e.event.data.split('x').map(Number);
        screen.resize(cols!, rows!);
        resized = true;
      } else {
        if (resized) await flush();
        if (e.event.code === 'x') this.#lastExit = e.event.data;
        run.push(e);
      }
    }
    await flush();
  }

  #broadcast(events: FollowedEvent[]): void {
    const parts: Buffer[] = [];
    for (const { event, line } of events) {
      if (!CODES_SENT.has(event.code)) continue;
      // v2 lines go as they are; a CR inside one (JSON allows it between tokens) would split
      // the SSE message, so such a line, and v3's interval times, are written anew.
      const bytes =
        this.#version === 2 && !line.includes(13)
          ? line
          : Buffer.from(JSON.stringify([event.time / 1e6, event.code, event.data]));
      parts.push(DATA, bytes, END);
    }
    if (parts.length > 0) this.#sendAll(Buffer.concat(parts));
  }

  #sendAll(frame: Buffer): void {
    for (const v of [...this.#viewers]) v.send(frame);
  }

  /** Lets the joining viewers in: each gets the present screen. */
  #admit(): void {
    if (this.#joining.length === 0) return;
    const reset = this.#reset();
    for (const v of this.#joining.splice(0)) {
      v.send(reset);
      if (this.#done) this.#sendDone(v);
      else this.#viewers.add(v);
    }
  }

  #reset(): Buffer {
    const screen = this.#screen;
    const idle = Math.max(0, Date.now() - this.#lastAt) / 1000;
    const time = Math.round((this.#lastTime / 1e6 + idle) * 1000) / 1000;
    const reset = screen
      ? { cols: screen.cols, rows: screen.rows, time, init: screen.serialize() }
      : { cols: 80, rows: 24, time };
    return Buffer.concat([DATA, Buffer.from(JSON.stringify(reset)), END]);
  }

  #finish(why: FeedEnd, exit?: string): void {
    if (this.#done) return;
    this.#done = exit === undefined ? { why } : { why, exit };
    for (const v of [...this.#viewers]) this.#sendDone(v);
    this.#viewers.clear();
  }

  #sendDone(v: LiveViewer): void {
    const done = this.#done!;
    // A server that stops has not seen the recording end: its viewers may come back to it.
    if (done.why !== 'stopped')
      v.send(Buffer.from(`event: done\ndata: ${JSON.stringify(done)}\n\n`));
    v.end(done.why);
  }
}

const DATA = Buffer.from('data: ');
const END = Buffer.from('\n\n');
