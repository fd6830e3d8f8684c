/**
 * `sshcast rec [-c CMD] FILE`: records a local command (default: $SHELL) through node-pty with the
 * library's writer, like `asciinema rec`. Output goes to stdout and into the file; stdin, when it
 * is a terminal, goes raw to the command; window changes are recorded as `r` events; the file ends
 * with the `x` event and the exit status of `rec` is the command's.
 *
 * The pty is the session layer's (src/pty/): no output is lost when the command exits at once.
 */
import fs from 'node:fs';
import os from 'node:os';
import { DEFAULT_SIZE } from '../asciicast/terminal.js';
import { PtyProcess } from '../pty/pty.js';
import { CastWriter } from '../recording/writer.js';
import { SyncFileSink } from '../recording/sync-file-sink.js';
import { describeFsError, parseCommandArgs, sizeArg, UsageError } from './common.js';
import { escapeControl } from '../text/escape.js';
import { RecSession } from './rec-session.js';
import { SshcastError } from '../errors.js';

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
      throw new SshcastError('ERR_FILE', `${file} already exists (use --overwrite to replace it)`);
    if (code === 'ENXIO') throw new SshcastError('ERR_FILE', `${file}: not a regular file`);
    throw new SshcastError('ERR_FILE', `${file}: ${describeFsError(err)}`, { cause: err });
  }
  try {
    if (!fs.fstatSync(fd).isFile())
      throw new SshcastError('ERR_FILE', `${file}: not a regular file`);
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

  let child: PtyProcess;
  try {
    child = new PtyProcess({
      file: exe,
      args: argv,
      term,
      cols,
      rows,
      cwd: process.cwd(),
      env: process.env,
    });
  } catch (err) {
    writer.exit(127);
    await writer.close();
    throw new SshcastError(
      'ERR_SPAWN',
      `cannot start ${exe}: ${err instanceof Error ? err.message : String(err)}`,
      { cause: err },
    );
  }
  const status = await new RecSession(child, writer, {
    recordInput: values['record-input'] === true,
    followResize: tty && !fixedSize,
  }).run();
  await writer.close();
  if (recordingError)
    process.stderr.write(
      `sshcast: ${escapeControl(file)} is incomplete: ${escapeControl(recordingError.message)}\n`,
    );
  return status;
}
