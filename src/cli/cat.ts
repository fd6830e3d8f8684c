/**
 * `sshcast cat FILE [--text]`: writes a recording's output stream to stdout as recorded, or with
 * `--text` rendered through a terminal emulator as plain text with no control characters at all,
 * safe to read on a terminal and to pipe into grep.
 */
import { readCastFile } from '../asciicast/reader.js';
import { CastParseError } from '../errors.js';
import { fileError, parseCommandArgs, UsageError, writeOut } from './common.js';
import { TextRenderer } from '../render/text.js';

/** Usage text for `sshcast cat`. */
export const help = `Usage: sshcast cat FILE [--text]

Write the output stream of a recording to stdout, escape sequences and all, as it was recorded.

Options:
  --text         render it through a terminal emulator and print plain text instead: the lines
                 that scrolled off, then the final screen, with no escape sequences or control
                 characters (terminal sizes in the file are clamped to 1000)
  -h, --help     show this help
  -V, --version  print the version

Examples:
  sshcast cat session.cast
  sshcast cat --text session.cast | grep -n error
`;

/** Runs `sshcast cat`. */
export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs('cat', args, { text: { type: 'boolean' } });
  if (positionals.length !== 1) throw new UsageError('cat: name one FILE (see sshcast cat --help)');
  const file = positionals[0]!;
  try {
    if (values.text) await catText(file);
    else await catRaw(file);
  } catch (err) {
    throw fileError(file, err);
  }
  return 0;
}

async function catRaw(file: string): Promise<void> {
  let pending = '';
  try {
    for await (const item of readCastFile(file)) {
      if (item.kind !== 'event' || item.event.code !== 'o') continue;
      pending += item.event.data;
      if (pending.length >= 64 * 1024) {
        await writeOut(pending);
        pending = '';
      }
    }
  } finally {
    // Everything before a damaged line is still written.
    if (pending) await writeOut(pending);
  }
}

async function catText(file: string): Promise<void> {
  let renderer: TextRenderer | undefined;
  let pending = '';
  const flush = async () => {
    if (pending) await renderer!.write(pending);
    pending = '';
    const text = renderer!.take();
    if (text) await writeOut(text);
  };
  try {
    for await (const item of readCastFile(file)) {
      if (item.kind === 'header') {
        renderer = new TextRenderer({ cols: item.header.width, rows: item.header.height });
      } else if (item.kind === 'event' && renderer) {
        const { code, data } = item.event;
        if (code === 'o') {
          pending += data;
          if (pending.length >= 64 * 1024) await flush();
        } else if (code === 'r') {
          await flush();
          const [cols, rows] = data.split('x').map(Number);
          renderer.resize(cols!, rows!);
        }
      }
    }
    if (renderer) {
      await flush();
      await writeOut(renderer.finish());
      if (renderer.lostLines)
        process.stderr.write(`sshcast: ${file}: some lines scrolled away too fast to be kept\n`);
    }
  } catch (err) {
    // Print what was rendered before the damage, then report it.
    if (renderer && err instanceof CastParseError) {
      await flush().catch(() => {});
      await writeOut(renderer.finish());
    }
    throw err;
  }
}
