/**
 * `sshcast rec [-c CMD] FILE`: records a local command (default: $SHELL) through node-pty with the
 * library's writer, like `asciinema rec`. Output goes to stdout and into the file; stdin, when it
 * is a terminal, goes raw to the command; window changes are recorded as `r` events; the file ends
 * with the `x` event and the exit status of `rec` is the command's.
 *
 * No output is lost when the command exits at once: we hold our own descriptor on the pty's
 * slave side, so the master never sees a hang-up, and when node-pty goes to tear its socket down
 * (200 ms after the exit) we first write a random sentinel through the slave and wait until it
 * comes out of the master: everything written before it has then been read.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import pty from 'node-pty';
import { exitStatus } from '../asciicast/event.js';
import { DEFAULT_SIZE } from '../asciicast/terminal.js';
import { CastWriter } from '../recording/writer.js';
import { Utf8StreamDecoder } from '../recording/utf8.js';
import { SyncFileSink } from './sync-file-sink.js';
import {
  describeFsError,
  escapeControl,
  parseCommandArgs,
  sizeArg,
  stdoutErrors,
  UsageError,
} from './common.js';

/** Usage text for `sshcast rec`. */
export const help = `Usage: sshcast rec [-c CMD] [--cols N --rows N] [--title T] [-f] [--record-input] FILE

Record a command in a new pseudo-terminal into FILE (asciicast v2), like asciinema rec. The
output is shown as it is recorded; the exit status is the command's.

Options:
  -c, --command CMD   the command to run with /bin/sh -c (default: an interactive $SHELL)
  --cols N, --rows N  the terminal size (default: this terminal's, else 80x24)
  --title T           a title for the header
  -f, --overwrite     replace FILE if it exists (by default an existing FILE is refused)
  --record-input      also record keystrokes as "i" events (off by default: passwords)
  -h, --help          show this help
  -V, --version       print the version

The file is created with mode 0600. Example:
  sshcast rec -c 'ls -l /' listing.cast
`;

/** How long the sentinel may take to come back before the recording is finished without it. */
const DRAIN_TIMEOUT_MS = 5000;

function openOutput(file: string, overwrite: boolean): number {
  const c = fs.constants;
  // O_NONBLOCK: a FIFO in the way fails at once instead of hanging; no effect on a regular file.
  const flags =
    c.O_WRONLY | c.O_CREAT | c.O_NOFOLLOW | c.O_NONBLOCK | (overwrite ? c.O_TRUNC : c.O_EXCL);
  let fd: number;
  try {
    fd = fs.openSync(file, flags, 0o600);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST')
      throw new Error(`${file} already exists (use --overwrite to replace it)`);
    if (code === 'ENXIO') throw new Error(`${file}: not a regular file`);
    throw new Error(`${file}: ${describeFsError(err)}`);
  }
  try {
    if (!fs.fstatSync(fd).isFile()) throw new Error(`${file}: not a regular file`);
    fs.fchmodSync(fd, 0o600); // whatever the umask or the old file's mode
  } catch (err) {
    fs.closeSync(fd);
    throw err;
  }
  return fd;
}

function localUser(): string | undefined {
  try {
    return os.userInfo().username;
  } catch {
    return undefined;
  }
}

/** Runs `sshcast rec`. */
export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs('rec', args, {
    command: { type: 'string', short: 'c' },
    cols: { type: 'string' },
    rows: { type: 'string' },
    title: { type: 'string' },
    overwrite: { type: 'boolean', short: 'f' },
    'record-input': { type: 'boolean' },
  });
  if (positionals.length !== 1)
    throw new UsageError('rec: name one FILE to record into (see sshcast rec --help)');
  const file = positionals[0]!;
  const tty = process.stdout.isTTY === true;
  const fixedSize = values.cols !== undefined || values.rows !== undefined;
  // A side: the flag's value, else this terminal's, else the fallback (also for a tty saying 0).
  const side = (flag: string, value: string | undefined, ours: number, fallback: number) => {
    const n = value !== undefined ? sizeArg('rec', flag, value) : tty ? ours : fallback;
    return n > 0 ? n : fallback;
  };
  const cols = side('--cols', values.cols, process.stdout.columns, DEFAULT_SIZE.cols);
  const rows = side('--rows', values.rows, process.stdout.rows, DEFAULT_SIZE.rows);
  const shell = process.env.SHELL || '/bin/sh';
  const term = process.env.TERM || 'xterm-256color';
  const [exe, argv] =
    values.command !== undefined ? ['/bin/sh', ['-c', values.command]] : [shell, []];

  const fd = openOutput(file, values.overwrite === true);
  const writer = new CastWriter(new SyncFileSink(fd, file));
  let recordingError: Error | undefined;
  writer.on('error', (err: Error) => {
    recordingError = err;
    process.stderr.write(`\r\nsshcast: recording stopped: ${escapeControl(err.message)}\r\n`);
  });
  const user = localUser();
  writer.start({
    width: cols,
    height: rows,
    ...(values.command !== undefined ? { command: values.command } : {}),
    ...(values.title !== undefined ? { title: values.title } : {}),
    env: { TERM: term, SHELL: shell },
    ...(user !== undefined ? { localUser: user } : {}),
  });

  let child: pty.IPty;
  try {
    child = pty.spawn(exe, argv, {
      name: term,
      cols,
      rows,
      cwd: process.cwd(),
      env: process.env,
      encoding: null,
    });
  } catch (err) {
    writer.exit(127);
    await writer.close();
    throw new Error(`cannot start ${exe}: ${err instanceof Error ? err.message : String(err)}`);
  }
  const status = await record(child, writer, {
    recordInput: values['record-input'] === true,
    followResize: tty && !fixedSize,
  });
  await writer.close();
  if (recordingError)
    process.stderr.write(
      `sshcast: ${escapeControl(file)} is incomplete: ${escapeControl(recordingError.message)}\n`,
    );
  return status;
}

interface RecordOptions {
  recordInput: boolean;
  followResize: boolean;
}

/** Pumps one pty session into the writer and stdout; resolves to the exit status. */
function record(child: pty.IPty, writer: CastWriter, options: RecordOptions): Promise<number> {
  const decoder = new Utf8StreamDecoder();
  const inputDecoder = new Utf8StreamDecoder();
  const blocked = new Set<'stdout' | 'sink'>();
  let paused = false;
  const block = (what: 'stdout' | 'sink', emitter: NodeJS.EventEmitter) => {
    if (blocked.has(what)) return;
    blocked.add(what);
    emitter.once('drain', () => {
      blocked.delete(what);
      if (blocked.size === 0 && paused) {
        paused = false;
        child.resume();
      }
    });
    if (!paused) {
      paused = true;
      child.pause();
    }
  };
  // Chunks read in one turn of the event loop (libuv reads a busy pty several times per turn)
  // become one `o` event: fewer, larger lines for the same output and about the same times.
  let pendingText = '';
  let flushScheduled = false;
  const flushOutput = () => {
    flushScheduled = false;
    if (pendingText === '') return;
    const text = pendingText;
    pendingText = '';
    if (!writer.output(text)) block('sink', writer);
  };
  // A reader of our stdout that goes away (`sshcast rec … | head`) must not end the recording.
  let stdoutGone = false;
  stdoutErrors.ignore = true;
  process.stdout.on('error', () => {
    stdoutGone = true;
    if (blocked.has('stdout')) process.stdout.emit('drain');
  });
  const forward = (chunk: Buffer) => {
    if (chunk.length === 0) return;
    if (!stdoutGone && !process.stdout.write(chunk)) block('stdout', process.stdout);
    pendingText += decoder.write(chunk);
    if (pendingText.length >= 256 * 1024) flushOutput();
    else if (!flushScheduled && pendingText !== '') {
      flushScheduled = true;
      setImmediate(flushOutput);
    }
  };

  // Our own handle on the slave side (see the module comment).
  const ptsName =
    (child as unknown as { ptsName?: string; _pty?: string }).ptsName ??
    (child as unknown as { _pty?: string })._pty;
  let slave: number | undefined;
  try {
    if (ptsName) slave = fs.openSync(ptsName, fs.constants.O_RDWR | fs.constants.O_NOCTTY);
  } catch {
    slave = undefined;
  }
  const sentinel = Buffer.from(`SSHCASTDRAIN${randomBytes(12).toString('hex').toUpperCase()}`);
  let awaiting = false;
  let held: Buffer = Buffer.alloc(0);
  let drained: (() => void) | undefined;
  let drainTimer: NodeJS.Timeout | undefined;
  const closeSlave = () => {
    if (slave !== undefined) fs.close(slave, () => {});
    slave = undefined;
  };
  const onChunk = (chunk: Buffer) => {
    if (!awaiting) return forward(chunk);
    drainTimer?.refresh();
    const buf = held.length ? Buffer.concat([held, chunk]) : chunk;
    held = Buffer.alloc(0);
    const at = buf.indexOf(sentinel);
    if (at !== -1) {
      awaiting = false;
      forward(buf.subarray(0, at));
      forward(buf.subarray(at + sentinel.length));
      drained?.();
      return;
    }
    // Hold back an end that may be the start of the sentinel.
    let keep = 0;
    for (let n = Math.min(sentinel.length - 1, buf.length); n > 0; n--) {
      if (buf.subarray(buf.length - n).equals(sentinel.subarray(0, n))) {
        keep = n;
        break;
      }
    }
    forward(buf.subarray(0, buf.length - keep));
    held = Buffer.from(buf.subarray(buf.length - keep));
  };
  child.onData((data) => onChunk(data as unknown as Buffer));

  // Drain, then let node-pty tear its socket down. Started by whichever comes first: our poll
  // seeing the child gone, or node-pty's own teardown 200 ms after the exit.
  const socket = (child as unknown as { _socket?: { destroy: (err?: Error) => unknown } })._socket;
  let exitTime: number | undefined;
  let poll: NodeJS.Timeout | undefined;
  if (socket && slave !== undefined) {
    const realDestroy = socket.destroy.bind(socket);
    let started = false;
    let destroyed = false;
    const finish = () => {
      if (destroyed) return;
      destroyed = true;
      realDestroy();
    };
    const startDrain = () => {
      if (started) return;
      started = true;
      clearInterval(poll);
      exitTime ??= writer.now();
      if (slave === undefined) return finish();
      awaiting = true;
      drained = () => {
        clearTimeout(drainTimer);
        drained = undefined;
        closeSlave();
        if (held.length) forward(held);
        held = Buffer.alloc(0);
        finish();
      };
      drainTimer = setTimeout(() => drained?.(), DRAIN_TIMEOUT_MS);
      fs.write(slave, sentinel, (writeErr) => {
        if (writeErr) drained?.();
      });
    };
    socket.destroy = () => {
      if (!started) startDrain();
      else if (!awaiting) finish();
      return socket;
    };
    poll = setInterval(() => {
      try {
        process.kill(child.pid, 0);
      } catch {
        startDrain();
      }
    }, 10);
  }

  // Keystrokes, when there is a keyboard.
  const stdin = process.stdin;
  const interactive = stdin.isTTY === true;
  const onInput = (data: Buffer) => {
    child.write(data);
    if (options.recordInput) {
      flushOutput();
      const text = inputDecoder.write(data);
      if (text) writer.event('i', text);
    }
  };
  if (interactive) {
    stdin.setRawMode(true);
    stdin.on('data', onInput);
    stdin.resume();
  }
  const onResize = () => {
    const c = process.stdout.columns;
    const r = process.stdout.rows;
    if (!(c > 0 && r > 0)) return;
    try {
      child.resize(c, r);
      flushOutput();
      writer.resize(c, r);
    } catch {
      // the child is gone
    }
  };
  if (options.followResize) process.stdout.on('resize', onResize);
  const onSignal = (signal: NodeJS.Signals) => {
    try {
      child.kill(signal);
    } catch {
      // already gone
    }
  };
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
  for (const s of signals) process.on(s, onSignal);
  const restore = () => {
    if (interactive) {
      stdin.off('data', onInput);
      try {
        stdin.setRawMode(false);
      } catch {
        // stdin is gone
      }
      stdin.pause();
    }
  };
  process.once('exit', restore);

  return new Promise((resolve) => {
    child.onExit(({ exitCode, signal }) => {
      clearTimeout(drainTimer);
      closeSlave();
      if (held.length) forward(held);
      held = Buffer.alloc(0);
      pendingText += decoder.end();
      flushOutput();
      clearInterval(poll);
      const status = exitStatus(signal ? { signal } : { status: exitCode });
      writer.write({ time: exitTime ?? writer.now(), code: 'x', data: String(status) });
      restore();
      process.off('exit', restore);
      process.stdout.off('resize', onResize);
      for (const s of signals) process.off(s, onSignal);
      resolve(status);
    });
  });
}
