/**
 * `sshcast validate FILE...`: checks each file against the asciicast format, streaming it line by
 * line (any size, bounded memory), and prints every problem as `FILE:LINE: problem`. Exit 0 only
 * when every file is valid.
 */
import fs from 'node:fs';
import { isUtf8 } from 'node:buffer';
import { LineSplitter } from '../asciicast/lines.js';
import { CastParser } from '../asciicast/parser.js';
import { isBeingWritten } from '../recording/live.js';
import {
  describeFsError,
  parseCommandArgs,
  plural,
  shorten,
  UsageError,
  writeOut,
} from './common.js';
import { escapeControl } from '../text/escape.js';

/** Usage text for `sshcast validate`. */
export const help = `Usage: sshcast validate FILE...

Check recordings against the asciicast format (v2; v3 is read too). Every problem is printed as
FILE:LINE: problem (a bad header, invalid JSON or UTF-8, an unknown event, time going backwards,
a blank line, a truncated final line, a lone surrogate, an unsupported version, an empty file);
a valid file prints FILE: ok, with its number of events, noting when it has no exit event (its
recorder writes none, was killed, or is still writing: then it says so). The exit status is 0
when every file is valid, 1 otherwise.

Options:
  -h, --help     show this help
  -V, --version  print the version

Example:
  sshcast validate recordings/*.cast
`;

/** One problem found in a file. */
export interface ValidationProblem {
  line: number;
  message: string;
}

/** The result of validating one file. */
export interface ValidationResult {
  /** Problems in line order, at most `limit` of them. */
  problems: ValidationProblem[];
  /** How many problems there were in all (more than `problems.length` past the limit). */
  count: number;
  /** Events read. */
  events: number;
  /** Whether the last event is an `x` (exit) event. Not required by the format. */
  exited: boolean;
}

/** A line longer than this stops the check of its file: it cannot be a sane recording. */
export const MAX_LINE_BYTES = 256 * 1024 * 1024;

/**
 * Validates one file, reading it as a stream. Throws only when the file cannot be read (the
 * error of the file system).
 */
export async function validateFile(file: string, limit = 1000): Promise<ValidationResult> {
  const result: ValidationResult = { problems: [], count: 0, events: 0, exited: false };
  const parser = new CastParser((e) => {
    result.events++;
    result.exited = e.code === 'x';
  });
  let lineNo = 0;
  let stop = false;
  const report = (line: number, message: string) => {
    result.count++;
    if (result.problems.length < limit) result.problems.push({ line, message });
  };
  const take = (bytes: Buffer, complete: boolean) => {
    lineNo++;
    if (!isUtf8(bytes)) report(lineNo, 'not valid UTF-8');
    const problem = parser.line(bytes.toString('utf8'), complete);
    if (problem) report(problem.line, problem.detail);
    // Without a header the rest cannot be checked (v2 and v3 time events differently).
    if (lineNo === 1 && !parser.header) stop = true;
  };
  const fd = await fs.promises.open(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  try {
    const st = await fd.stat();
    if (!st.isFile()) throw Object.assign(new Error('not a regular file'), { code: 'ENOTREG' });
    const lines = new LineSplitter();
    read: for await (const chunk of fd.createReadStream({
      autoClose: false,
      highWaterMark: 256 * 1024,
    }) as AsyncIterable<Buffer>) {
      for (const line of lines.push(chunk)) {
        take(line, true);
        if (stop) break read;
      }
      if (lines.pending > MAX_LINE_BYTES) {
        report(
          lineNo + 1,
          `line longer than ${MAX_LINE_BYTES / 1024 / 1024} MiB; not checked further`,
        );
        stop = true;
        break;
      }
    }
    if (!stop) {
      const rest = lines.end();
      if (rest) take(rest, false);
      const empty = parser.finish();
      if (empty) report(empty.line, empty.detail);
    }
  } finally {
    await fd.close();
  }
  return result;
}

/** Runs `sshcast validate`. */
export async function run(args: string[]): Promise<number> {
  const { positionals } = parseCommandArgs('validate', args, {});
  if (positionals.length === 0)
    throw new UsageError('validate: name at least one FILE (see sshcast validate --help)');
  let allValid = true;
  for (const file of positionals) {
    const name = escapeControl(file);
    let result: ValidationResult;
    try {
      result = await validateFile(file);
    } catch (err) {
      allValid = false;
      await writeOut(`${name}: cannot read: ${describeFsError(err)}\n`);
      continue;
    }
    if (result.count === 0) {
      // Valid either way; a missing exit event is worth knowing, and why when it can be told.
      const note = result.exited
        ? ''
        : isBeingWritten(file)
          ? ', still being written'
          : ', no exit event';
      await writeOut(`${name}: ok (${plural(result.events, 'event')}${note})\n`);
      continue;
    }
    allValid = false;
    let text = '';
    for (const p of result.problems)
      text += `${name}:${p.line}: ${shorten(escapeControl(p.message), 300)}\n`;
    if (result.count > result.problems.length) {
      text += `${name}: … and ${plural(result.count - result.problems.length, 'more problem')}\n`;
    }
    await writeOut(text);
  }
  return allValid ? 0 : 1;
}
