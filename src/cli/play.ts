/**
 * `sshcast play FILE [-s SPEED] [-i SECONDS] [--follow]`: replays a recording's output in the
 * terminal with its timing, or with `--follow` watches one still being written, live
 * (play-follow.ts). When stdin is a terminal it is put in raw mode for the keys (space pauses and
 * resumes, `.` steps while paused, `q` or Ctrl-C quits) and always restored: on the end, on a
 * quit, on SIGINT, SIGTERM or SIGHUP, and on any error.
 */
import { readCastFile } from '../asciicast/reader.js';
import type { Event } from '../asciicast/event.js';
import { SshcastError } from '../errors.js';
import { DEFAULT_LIVE_WINDOW_MS } from '../live/liveness.js';
import { fileError, parseCommandArgs, positiveNumber, UsageError, writeOut } from './common.js';
import { followPlay } from './play-follow.js';

/** Usage text for `sshcast play`. */
export const help = `Usage: sshcast play FILE [-s SPEED] [-i SECONDS]
       sshcast play --follow FILE

Replay a recording in this terminal with its real timing.

With --follow, watch a recording that is still being written, live, like
tail -f: the present screen at once, then new output as it is written,
until the session ends or the recording's writer is gone (a crashed or
killed server). A file no process on this machine writes (a collector's
copy) is followed while it grew within the last ${DEFAULT_LIVE_WINDOW_MS / 1000} s.

Options:
  -s, --speed SPEED            play SPEED times as fast (default 1)
  -i, --idle-time-limit SECS   shorten every pause longer than SECS to SECS (default: the
                               file's idle_time_limit, if any, else none)
  -f, --follow                 watch live (q or Ctrl-C quits)
  -h, --help                   show this help
  -V, --version                print the version

Keys (when stdin is a terminal):
  space    pause / resume
  .        while paused, show the next event
  q        quit (also Ctrl-C)

Example:
  sshcast play -s 2 -i 1 session.cast
  sshcast play --follow /var/lib/tailscale/ssh-sessions/ssh-session-….cast
`;

/** Keyboard state shared between the key handler and the playback loop. */
class Controls {
  paused = false;
  steps = 0;
  quit = false;
  #wake: (() => void) | undefined;

  key(k: string): void {
    if (k === 'q' || k === '\u0003') this.quit = true;
    else if (k === ' ') this.paused = !this.paused;
    else if (k === '.' && this.paused) this.steps++;
    else return;
    this.#wake?.();
  }

  /** Waits `ms` milliseconds or until a key changes something. */
  wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#wake = undefined;
        resolve();
      };
      const timer = ms === Infinity ? undefined : setTimeout(done, ms);
      this.#wake = done;
    });
  }
}

/** Puts stdin in raw mode and returns the function that undoes it (safe to call twice). */
function rawStdin(controls: Controls): () => void {
  const stdin = process.stdin;
  if (!stdin.isTTY) return () => {};
  stdin.setRawMode(true);
  const onData = (data: Buffer) => {
    for (const ch of data.toString('latin1')) controls.key(ch);
  };
  stdin.on('data', onData);
  stdin.resume();
  let restored = false;
  const restore = () => {
    if (restored) return;
    restored = true;
    stdin.off('data', onData);
    try {
      stdin.setRawMode(false);
    } catch {
      // stdin already gone
    }
    stdin.pause();
  };
  const onSignal = (signal: NodeJS.Signals) => {
    restore();
    process.kill(process.pid, signal);
  };
  process.once('exit', restore);
  for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(s, onSignal);
  return () => {
    restore();
    process.off('exit', restore);
    for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.off(s, onSignal);
  };
}

/** Options for {@link play}. */
export interface PlayOptions {
  speed: number;
  /** Seconds; undefined for no limit. */
  idleTimeLimit: number | undefined;
}

/**
 * Plays `events` to stdout. Pauses longer than the idle limit are shortened; times are divided by
 * the speed. Returns false when the user quit early.
 */
export async function play(
  events: AsyncIterable<Event>,
  options: PlayOptions,
  controls = new Controls(),
): Promise<boolean> {
  let previous = 0;
  let virtual = 0; // ms of playback time, after the idle limit and speed
  let base = performance.now(); // wall time at which playback time 0 is due
  let pausedAt: number | undefined;
  for await (const event of events) {
    if (event.code !== 'o') continue;
    // Read per event: the file's own limit is known only once its header has been read.
    const limit = options.idleTimeLimit === undefined ? Infinity : options.idleTimeLimit * 1e6;
    virtual += Math.min(event.time - previous, limit) / 1000 / options.speed;
    previous = event.time;
    for (;;) {
      if (controls.quit) return false;
      if (controls.paused) {
        pausedAt ??= performance.now();
        if (controls.steps > 0) {
          controls.steps--;
          base = performance.now() - virtual; // this event is due now
          pausedAt = performance.now();
          break;
        }
        await controls.wait(Infinity);
        continue;
      }
      if (pausedAt !== undefined) {
        base += performance.now() - pausedAt;
        pausedAt = undefined;
      }
      const due = base + virtual - performance.now();
      if (due <= 0) break;
      await controls.wait(due);
    }
    await writeOut(event.data);
  }
  return true;
}

async function* outputEvents(
  file: string,
  onHeader: (limit: number | undefined) => void,
): AsyncGenerator<Event> {
  for await (const item of readCastFile(file)) {
    if (item.kind === 'header') onHeader(item.header.idle_time_limit);
    else if (item.kind === 'event') yield item.event;
  }
}

/** Runs `sshcast play`. */
export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs('play', args, {
    speed: { type: 'string', short: 's' },
    'idle-time-limit': { type: 'string', short: 'i' },
    follow: { type: 'boolean', short: 'f' },
  });
  if (positionals.length !== 1)
    throw new UsageError('play: name one FILE (see sshcast play --help)');
  const file = positionals[0]!;
  if (values.follow) {
    if (values.speed !== undefined || values['idle-time-limit'] !== undefined)
      throw new UsageError('play: --follow plays live, so -s and -i do not apply');
    return runFollow(file);
  }
  const speed = values.speed === undefined ? 1 : positiveNumber('play', '--speed', values.speed);
  const flagLimit =
    values['idle-time-limit'] === undefined
      ? undefined
      : positiveNumber('play', '--idle-time-limit', values['idle-time-limit']);
  const options: PlayOptions = { speed, idleTimeLimit: flagLimit };
  const events = outputEvents(file, (fileLimit) => {
    if (flagLimit === undefined && fileLimit !== undefined && fileLimit > 0)
      options.idleTimeLimit = fileLimit;
  });
  const controls = new Controls();
  const restore = rawStdin(controls);
  let finished: boolean;
  try {
    finished = await play(events, options, controls);
  } catch (err) {
    throw fileError(file, err);
  } finally {
    restore();
  }
  // Leave the terminal usable after quitting in the middle of a full-screen program.
  if (!finished && process.stdout.isTTY) await writeOut('\u001b[0m\u001b[?25h\r\n');
  return 0;
}

/** Runs `sshcast play --follow FILE`. */
async function runFollow(file: string): Promise<number> {
  const controls = new Controls();
  const abort = new AbortController();
  const restore = rawStdin(controls);
  void (async () => {
    while (!controls.quit) await controls.wait(Infinity);
    abort.abort();
  })();
  try {
    const end = await followPlay(file, {
      windowMs: DEFAULT_LIVE_WINDOW_MS,
      signal: abort.signal,
      say: (line) =>
        process.stderr.write(`${process.stdout.isTTY ? '\r\n' : ''}sshcast play: ${line}\n`),
    });
    if (end === 'quit' && process.stdout.isTTY) await writeOut('\u001b[0m\u001b[?25h\r\n');
    return 0;
  } catch (err) {
    throw err instanceof SshcastError ? err : fileError(file, err);
  } finally {
    restore();
  }
}
