/**
 * The live views of `sshcast web`: a ticket for a recording's stream (asked for with the token),
 * then the stream itself, Server-Sent Events on the ticket. One {@link LiveFeed} per recording,
 * shared by its viewers and kept a little after the last one leaves, so a reconnect is cheap.
 *
 * Memory is bounded whatever the viewers do: the feed reads the file only as fast as its
 * emulator paints it, and a viewer whose connection holds more than `maxBufferedBytes` not yet
 * taken by the network is cut off. Its EventSource reconnects on its own, with the same ticket,
 * and gets the present screen: a viewer that fell behind skips ahead. The number of live viewers
 * is bounded (`maxViewers`); a viewer can send nothing to the session (the stream is one-way, and
 * this server has no way to the session at all: it reads files).
 */
import type http from 'node:http';
import type { Audit } from './audit.js';
import { FileRefused, type RecordingFiles } from './files.js';
import { LiveFeed, type LiveViewer } from './live-feed.js';
import { SECURITY_HEADERS, sendJson, sendText } from './respond.js';
import { Tickets } from './tickets.js';

/** Options for the live views of {@link startWebServer}. */
export interface LiveOptions {
  /** The most live viewers at once, over all recordings. Default 32. */
  maxViewers?: number;
  /** Bytes a viewer's connection may hold unsent before the viewer is cut off. Default 256 KiB. */
  maxBufferedBytes?: number;
  /** How long a feed outlives its last viewer, ms. Default 10 s. */
  lingerMs?: number;
  /** The follower's fallback poll and liveness check, ms. Default 1000. */
  pollMs?: number;
  /** An SSE comment this often on every stream, ms. Default 15 s. */
  heartbeatMs?: number;
  /** How long a ticket waits for its first use, and for a reconnect, ms. Default 30 s each. */
  ticketMs?: number;
}

interface Entry {
  feed: LiveFeed;
  linger: NodeJS.Timeout | undefined;
}

/** The live views of one server. */
export class LiveStreams {
  readonly #files: RecordingFiles;
  readonly #audit: Audit;
  readonly #options: Required<Omit<LiveOptions, 'ticketMs'>>;
  readonly #tickets: Tickets;
  readonly #feeds = new Map<string, Entry>();
  /** Feeds being opened: two first viewers at once share one. */
  readonly #opening = new Map<string, Promise<LiveFeed>>();
  #viewers = 0;
  #closing = false;

  constructor(files: RecordingFiles, audit: Audit, options: LiveOptions = {}) {
    this.#files = files;
    this.#audit = audit;
    this.#options = {
      maxViewers: options.maxViewers ?? 32,
      maxBufferedBytes: options.maxBufferedBytes ?? 256 * 1024,
      lingerMs: options.lingerMs ?? 10_000,
      pollMs: options.pollMs ?? 1000,
      heartbeatMs: options.heartbeatMs ?? 15_000,
    };
    this.#tickets = new Tickets({ firstUseMs: options.ticketMs, reconnectMs: options.ticketMs });
  }

  /** How many live viewers are connected. */
  get viewers(): number {
    return this.#viewers;
  }

  /** `POST /api/live/NAME/ticket` (the token was checked): a ticket for a live recording's stream. */
  async ticket(res: http.ServerResponse, name: string): Promise<void> {
    const summary = await this.#files.summary(name);
    if (!summary) return sendText(res, 404, 'no such recording');
    if (summary.status !== 'live') return sendJson(res, 409, { error: 'not live' });
    if (this.#viewers >= this.#options.maxViewers)
      return sendJson(res, 503, { error: `too many live viewers (${this.#options.maxViewers})` });
    const ticket = this.#tickets.issue(name);
    sendJson(res, 200, {
      url: `/live/${encodeURIComponent(name)}?ticket=${ticket}`,
      expiresIn: this.#tickets.firstUseSeconds,
    });
  }

  /** `GET /live/NAME?ticket=T`: the recording's live stream, if the ticket allows it. */
  async stream(
    res: http.ServerResponse,
    name: string,
    ticket: string,
    client: string,
    refuse: (status: number, why: string) => void,
  ): Promise<void> {
    const lease = this.#tickets.use(ticket, name);
    if (typeof lease === 'string') return refuse(401, `ticket: ${lease}`);
    if (this.#closing || this.#viewers >= this.#options.maxViewers) {
      lease.release(false);
      return refuse(503, 'too many live viewers');
    }
    let feed: LiveFeed;
    try {
      feed = await this.#feed(name);
    } catch (err) {
      lease.release(false);
      if (err instanceof FileRefused) return sendText(res, err.status, err.message);
      throw err;
    }
    if (res.destroyed) {
      lease.release(false);
      return this.#idle(name);
    }
    res.writeHead(200, {
      ...SECURITY_HEADERS,
      'Content-Type': 'text/event-stream; charset=utf-8',
      'X-Accel-Buffering': 'no',
    });
    // EventSource waits this long before it reconnects a dropped stream.
    res.write('retry: 1000\n\n');
    this.#viewers++;
    const started = performance.now();
    let why: string | undefined;
    const limit = this.#options.maxBufferedBytes;
    const viewer: LiveViewer = {
      send: (bytes) => {
        if (res.destroyed) return;
        if (res.writableLength + bytes.length > limit) {
          why = `cut off: more than ${limit} bytes behind`;
          res.destroy();
          return;
        }
        res.write(bytes);
      },
      end: (reason) => {
        why ??= reason;
        res.end();
      },
    };
    res.once('close', () => {
      this.#viewers--;
      feed.leave(viewer);
      // A stream that ended with `done` needs no reconnect; any other end may reconnect.
      const ended = why === 'exit' || why === 'writer-gone' || why === 'damaged';
      lease.release(ended);
      const seconds = (performance.now() - started) / 1000;
      this.#audit.liveEnd(name, client, seconds, why ?? 'the viewer left');
      this.#idle(name);
    });
    this.#audit.liveStart(name, client, this.#viewers);
    feed.join(viewer);
  }

  /** The recording's feed: the running one, or a new one. */
  async #feed(name: string): Promise<LiveFeed> {
    const entry = this.#feeds.get(name);
    if (entry && !entry.feed.ended) {
      clearTimeout(entry.linger);
      entry.linger = undefined;
      return entry.feed;
    }
    let opening = this.#opening.get(name);
    if (!opening) {
      opening = this.#open(name).finally(() => this.#opening.delete(name));
      this.#opening.set(name, opening);
    }
    return opening;
  }

  async #open(name: string): Promise<LiveFeed> {
    const file = await this.#files.openFollow(name);
    const feed: LiveFeed = new LiveFeed(file, {
      writerAlive: async () => this.#files.stillWritten(name, await file.fh.stat()),
      pollMs: this.#options.pollMs,
      heartbeatMs: this.#options.heartbeatMs,
      onClosed: () => {
        const current = this.#feeds.get(name);
        if (current?.feed === feed) {
          clearTimeout(current.linger);
          this.#feeds.delete(name);
        }
      },
    });
    this.#feeds.set(name, { feed, linger: undefined });
    return feed;
  }

  /** A feed with no viewer left is closed after a while, unless one comes back. */
  #idle(name: string): void {
    const entry = this.#feeds.get(name);
    if (!entry || entry.feed.viewers > 0 || entry.linger) return;
    entry.linger = setTimeout(() => void entry.feed.close(), this.#options.lingerMs);
    entry.linger.unref();
  }

  /** Ends every live view and closes every feed. */
  async close(): Promise<void> {
    this.#closing = true;
    await Promise.all([...this.#feeds.values()].map((e) => e.feed.close()));
  }
}
