/**
 * `sshcast play --follow FILE`: a recording still being written, watched live in this terminal,
 * like `tail -f`. It paints the present screen first (the output so far run through the bounded
 * emulator, not replayed), then writes new output as it is appended, until the recording's `x`
 * event or until its writer is gone. Nothing typed reaches the session: only `q` and Ctrl-C are
 * read, to quit.
 */
import fs from 'node:fs';
import { followCast } from '../live/follow.js';
import { recentGrowth } from '../live/liveness.js';
import { findWriters, stillWriting } from '../recording/live.js';
import { BoundedTerminal } from '../render/terminal.js';
import { SshcastError } from '../errors.js';
import { writeOut } from './common.js';

const { O_RDONLY, O_NOFOLLOW, O_NONBLOCK } = fs.constants;

/** Options for {@link followPlay}. */
export interface FollowPlayOptions {
  /**
   * A file no process on this machine writes (a collector's copy) is followed while it grew
   * within this many ms.
   */
  windowMs: number;
  /** The poll and liveness check, ms. */
  pollMs?: number;
  /** Ends the follow early (the user quit). */
  signal?: AbortSignal;
  /** Says how it ended, one line (stderr). */
  say: (line: string) => void;
}

/** How a follow ended: `quit` when the signal stopped it. */
export type FollowPlayEnd = 'exit' | 'writer-gone' | 'quit';

/** Opens a recording to follow: a regular file, never through a symlink, never blocking on a FIFO. */
async function openRecording(file: string): Promise<fs.promises.FileHandle> {
  const fh = await fs.promises.open(file, O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
  const st = await fh.stat();
  if (!st.isFile()) {
    await fh.close();
    throw new SshcastError('ERR_FILE', `${file}: not a regular file`);
  }
  return fh;
}

/** Whether the writer of `file` is still there: its local writer, else its recent growth. */
async function writerRule(
  file: string,
  fh: fs.promises.FileHandle,
  windowMs: number,
): Promise<() => Promise<boolean>> {
  const writer = (await findWriters([file])).get(file);
  if (writer) return () => stillWriting(writer);
  const grew = recentGrowth(windowMs);
  return async () => {
    const st = await fh.stat();
    return (await grew([{ name: file, path: file, size: st.size, mtimeMs: st.mtimeMs }])).has(file);
  };
}

/** Follows `file` to stdout; resolves with how it ended. Format problems throw, naming the file. */
export async function followPlay(file: string, options: FollowPlayOptions): Promise<FollowPlayEnd> {
  const fh = await openRecording(file);
  let screen: BoundedTerminal | undefined;
  try {
    const items = followCast(fh, {
      writerAlive: await writerRule(file, fh, options.windowMs),
      watchPath: file,
      pollMs: options.pollMs,
      signal: options.signal,
    });
    let caughtUp = false;
    let exit: string | undefined;
    // The present screen, on a cleared one: what a viewer joining now would see.
    const paint = async (): Promise<void> => {
      if (caughtUp || !screen) return;
      caughtUp = true;
      await writeOut(`\x1b[0m\x1b[H\x1b[2J${screen.serialize()}`);
      screen.dispose();
      screen = undefined;
    };
    for await (const item of items) {
      switch (item.kind) {
        case 'header':
          screen = new BoundedTerminal({ cols: item.header.width, rows: item.header.height });
          break;
        case 'events':
          for (const { event } of item.events) {
            if (event.code === 'x') exit = event.data;
            if (caughtUp) {
              if (event.code === 'o') await writeOut(event.data);
            } else if (event.code === 'o') await screen!.write(event.data);
            else if (event.code === 'r') {
              const [cols, rows] = event.data.split('x').map(Number);
              screen!.resize(cols!, rows!);
            }
          }
          break;
        case 'caught-up':
          await paint();
          break;
        case 'end':
          if (item.why === 'damaged')
            throw new SshcastError('ERR_CAST_PARSE', `${file}: ${item.problem ?? 'damaged'}`);
          if (item.why === 'stopped') return 'quit';
          // A recording that had ended before it was followed: its last screen.
          await paint();
          if (item.why === 'exit') {
            options.say(`the session ended (exit ${exit ?? '?'})`);
            return 'exit';
          }
          options.say('the recording is no longer written (its writer is gone); it ends here');
          return 'writer-gone';
      }
    }
    return 'quit';
  } finally {
    screen?.dispose();
    await fh.close().catch(() => {});
  }
}
