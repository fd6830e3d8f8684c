/**
 * A tiny SSH service built on sshcast's Recording API: the "greeter" shell. It does not start a
 * real shell; it answers a few commands itself and records what the client is shown, record
 * first, then forward. Its tests (app.test.ts) use only `sshcast` and `sshcast/testing`.
 *
 *   greeter> hello Ada        → Hello, Ada!
 *   greeter> count 3          → 1 2 3
 *   greeter> exit [N]         → ends the session with status N (default 0)
 */
import type { ServerChannel, Session } from 'ssh2';
import { DEFAULT_SIZE, terminalSize, type Recorder, type Recording } from 'sshcast';

/** What the greeter needs from its host. */
export interface GreeterOptions {
  /** Makes each session's recording. */
  recorder: Recorder;
  /** The local account the session belongs to (the recording's `localUser`). */
  user: string;
}

/** The greeter's prompt. */
export const PROMPT = 'greeter> ';

/** Runs one command line; returns the text to show and, for `exit`, the status to end with. */
export function runCommand(line: string): { text: string; exit?: number } {
  const [cmd = '', ...args] = line.trim().split(/\s+/);
  switch (cmd) {
    case '':
      return { text: '' };
    case 'hello':
      return { text: `Hello, ${args.join(' ') || 'stranger'}!\r\n` };
    case 'count': {
      const n = Math.min(Math.max(Number.parseInt(args[0] ?? '', 10) || 0, 0), 1000);
      return { text: Array.from({ length: n }, (_, i) => String(i + 1)).join(' ') + '\r\n' };
    }
    case 'exit': {
      const status = Number.parseInt(args[0] ?? '0', 10);
      return {
        text: 'bye\r\n',
        exit: Number.isInteger(status) && status >= 0 && status < 256 ? status : 1,
      };
    }
    default:
      return { text: `\x1b[31munknown command: ${cmd}\x1b[0m\r\n` };
  }
}

/**
 * Serves one ssh2 session with the greeter: a pty shell with line editing, or one command
 * (`ssh host hello Ada`). Each session is recorded by `options.recorder`.
 */
export function greeterSession(session: Session, options: GreeterOptions): void {
  let size = { ...DEFAULT_SIZE, term: 'xterm' };
  let recording: Recording | undefined;

  session.on('pty', (accept, _reject, info) => {
    size = { ...terminalSize(info.cols, info.rows), term: info.term };
    accept?.();
  });
  session.on('window-change', (accept, _reject, info) => {
    if (info.cols > 0 && info.rows > 0) recording?.resize(info.cols, info.rows);
    accept?.();
  });

  session.on('exec', (accept, _reject, info) => {
    const channel = accept();
    const rec = options.recorder.start({ command: info.command, localUser: options.user });
    const { text, exit } = runCommand(info.command);
    show(channel, rec, text.replace(/\r\n/g, '\n'));
    void end(channel, rec, exit ?? 0);
  });

  session.on('shell', (accept) => {
    const channel = accept();
    const rec = options.recorder.start({
      cols: size.cols,
      rows: size.rows,
      term: size.term,
      localUser: options.user,
    });
    recording = rec;
    show(channel, rec, `Welcome, ${options.user}.\r\n${PROMPT}`);
    let line = '';
    let ended = false;
    channel.on('data', (data: Buffer) => {
      for (const ch of data.toString('utf8')) {
        if (ended) return;
        if (ch === '\r' || ch === '\n') {
          const { text, exit } = runCommand(line);
          line = '';
          show(channel, rec, `\r\n${text}${exit === undefined ? PROMPT : ''}`);
          if (exit !== undefined) {
            ended = true;
            void end(channel, rec, exit);
          }
        } else if (ch === '\x7f' || ch === '\b') {
          if (line) {
            line = line.slice(0, -1);
            show(channel, rec, '\b \b');
          }
        } else if (ch === '\x04' && line === '') {
          ended = true;
          show(channel, rec, '\r\nbye\r\n');
          void end(channel, rec, 0);
        } else if (ch >= ' ') {
          line += ch;
          show(channel, rec, ch);
        }
      }
    });
  });
}

/** Record first, then forward: the recording never misses what the client saw. */
function show(channel: ServerChannel, rec: Recording, text: string): void {
  if (!text) return;
  rec.output(text);
  channel.write(text);
}

/** Finishes the recording with the status, then sends the status and closes the channel. */
async function end(channel: ServerChannel, rec: Recording, status: number): Promise<void> {
  await rec.finish(status);
  channel.exit(status);
  channel.end();
}
