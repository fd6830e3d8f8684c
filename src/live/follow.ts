/**
 * Following a recording as it is written, like `tail -f`: its header, then its events in complete
 * lines as they are appended, until its `x` event or until its writer is gone. The one follower
 * behind `sshcast web`'s live views and `sshcast play --follow`.
 *
 * New bytes are noticed through inotify (fs.watch), with a poll every `pollMs` as the fallback:
 * inotify can miss changes (a file on a network or FUSE file system, a watch that could not be
 * added because the account's inotify limit was reached), so nothing waits longer than one poll.
 * The follower reads only when its consumer asks for more, so a slow consumer is held up by the
 * file, never by memory.
 */
import fs from 'node:fs';
import type { Event, Header } from '../asciicast/event.js';
import { LineSplitter } from '../asciicast/lines.js';
import { CastParser } from '../asciicast/parser.js';
import { SUMMARY_MAX_LINE_BYTES } from '../asciicast/summary.js';

/** One event as it was read, with the exact bytes of its line (without the LF). */
export interface FollowedEvent {
  event: Event;
  line: Buffer;
}

/** What {@link followCast} yields, in this order: a header, events and one catch-up, an end. */
export type FollowItem =
  | { kind: 'header'; header: Header; version: 2 | 3 }
  /** Events from complete lines, in file order; lines that are not valid events are left out. */
  | { kind: 'events'; events: FollowedEvent[] }
  /** Everything the file held when following began has been yielded: what follows is new. */
  | { kind: 'caught-up' }
  | {
      kind: 'end';
      /**
       * `exit`: the `x` event was read (it is in the last batch); `writer-gone`: no one writes
       * the file any more and all of it was read; `damaged`: the header is not asciicast, a line
       * is longer than the summary's limit, or the file shrank below what was read;
       * `stopped`: the signal was aborted.
       */
      why: 'exit' | 'writer-gone' | 'damaged' | 'stopped';
      problem?: string;
    };

/** Options for {@link followCast}. */
export interface FollowOptions {
  /**
   * Whether the writer is still there; asked when the file has not grown for `pollMs`. When it
   * says no, what is left is read and the follow ends (`writer-gone`).
   */
  writerAlive: () => Promise<boolean>;
  /** A path whose changes fs.watch reports (the file itself); without it, polling only. */
  watchPath?: string;
  /** The fallback poll and the liveness check, in ms. Default 1000. */
  pollMs?: number;
  /** Stops the follow (it ends with `stopped`). */
  signal?: AbortSignal;
}

/** The most bytes read at once. */
const CHUNK = 64 * 1024;

/** Follows the recording open at `fh` (the caller keeps ownership) from its first byte. */
export async function* followCast(
  fh: fs.promises.FileHandle,
  options: FollowOptions,
): AsyncGenerator<FollowItem> {
  const pollMs = options.pollMs ?? 1000;
  const signal = options.signal;
  const wake = new Wake(options.watchPath, signal);
  try {
    let batch: FollowedEvent[] = [];
    let ended = false;
    const parser = new CastParser((event) => {
      if (!ended) batch.push({ event, line: current });
      if (event.code === 'x') ended = true;
    });
    let current: Buffer = Buffer.alloc(0);
    let sentHeader = false;
    // Bytes before `offset` were complete lines, consumed; a line still without its LF is read
    // again from its start on every pass, so a writer that cuts it back is followed exactly.
    let offset = 0;
    let end = 0;
    let caughtUp = false;
    let grewAt = performance.now();

    for (;;) {
      if (signal?.aborted) return yield { kind: 'end', why: 'stopped' };
      const lines = new LineSplitter();
      let pos = offset;
      for (;;) {
        const chunk = Buffer.allocUnsafe(CHUNK);
        const { bytesRead } = await fh.read(chunk, 0, CHUNK, pos);
        if (bytesRead === 0) break;
        pos += bytesRead;
        for (const line of lines.push(chunk.subarray(0, bytesRead))) {
          offset += line.length + 1;
          current = line;
          const problem = parser.line(line.toString('utf8'));
          if (!sentHeader) {
            if (!parser.header) {
              return yield {
                kind: 'end',
                why: 'damaged',
                problem: problem?.message ?? 'no header',
              };
            }
            sentHeader = true;
            yield { kind: 'header', header: parser.header, version: parser.version! };
          }
          if (ended) break;
        }
        if (batch.length > 0) {
          const events = batch;
          batch = [];
          yield { kind: 'events', events };
        }
        if (ended) return yield { kind: 'end', why: 'exit' };
        if (lines.pending > SUMMARY_MAX_LINE_BYTES) {
          const problem = `a line longer than ${SUMMARY_MAX_LINE_BYTES} bytes`;
          return yield { kind: 'end', why: 'damaged', problem };
        }
        if (signal?.aborted) return yield { kind: 'end', why: 'stopped' };
      }
      if (pos > end) grewAt = performance.now();
      end = pos;
      if (!caughtUp && sentHeader) {
        caughtUp = true;
        yield { kind: 'caught-up' };
      }
      const changed = await wake.wait(pollMs);
      const { size } = await fh.stat();
      // A writer cuts back only a line it failed to write whole; less is another file.
      if (size < offset) return yield { kind: 'end', why: 'damaged', problem: 'the file shrank' };
      if (size !== end || changed || performance.now() - grewAt < pollMs) continue;
      if (!(await options.writerAlive())) {
        // The writer may have written its last bytes just before it went.
        if ((await fh.stat()).size !== end) continue;
        if (!sentHeader) return yield { kind: 'end', why: 'damaged', problem: 'no header' };
        return yield { kind: 'end', why: 'writer-gone' };
      }
      grewAt = performance.now();
    }
  } finally {
    wake.close();
  }
}

/** Wakes a waiting follower when fs.watch reports a change, or after a timeout. */
class Wake {
  #changed = false;
  #resolve: ((changed: boolean) => void) | undefined;
  #watcher: fs.FSWatcher | undefined;
  readonly #signal: AbortSignal | undefined;
  readonly #onAbort = (): void => this.#fire();

  constructor(watchPath: string | undefined, signal: AbortSignal | undefined) {
    this.#signal = signal;
    signal?.addEventListener('abort', this.#onAbort);
    if (watchPath === undefined) return;
    try {
      this.#watcher = fs.watch(watchPath, { persistent: false }, () => this.#fire());
      // Without a watch (its limit reached, a file system without inotify), polling remains.
      this.#watcher.on('error', () => this.#unwatch());
    } catch {
      this.#watcher = undefined;
    }
  }

  #fire(): void {
    this.#changed = true;
    const resolve = this.#resolve;
    this.#resolve = undefined;
    resolve?.(true);
  }

  #unwatch(): void {
    this.#watcher?.close();
    this.#watcher = undefined;
  }

  /** Resolves true when something changed since the last wait, false after `ms` without. */
  wait(ms: number): Promise<boolean> {
    if (this.#changed || this.#signal?.aborted) {
      this.#changed = false;
      return Promise.resolve(true);
    }
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#resolve = undefined;
        resolve(false);
      }, ms);
      this.#resolve = (changed) => {
        clearTimeout(timer);
        this.#changed = false;
        resolve(changed);
      };
    });
  }

  close(): void {
    this.#signal?.removeEventListener('abort', this.#onAbort);
    this.#unwatch();
    this.#fire();
  }
}
