/**
 * What every `sshcast` subcommand shares: argument parsing that fails with one line, errors that
 * name the file, and writing to stdout with backpressure.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { MAX_TERMINAL_SIDE } from '../asciicast/terminal.js';
import { CastParseError, SshcastError } from '../errors.js';
import { escapeControl } from '../text/escape.js';

/**
 * A mistake in how the command was called (unknown flag, missing argument). main.ts prints its
 * message as one line and exits with status 2.
 */
export class UsageError extends SshcastError {
  constructor(message: string) {
    super('ERR_USAGE', message);
  }
}

/** Flags a subcommand takes, as node:util parseArgs describes them. */
export type OptionSpec = Record<string, { type: 'string' | 'boolean'; short?: string }>;

/** The parsed flags: a string or a boolean per flag, undefined when absent. */
export type OptionValues<O extends OptionSpec> = {
  [K in keyof O]?: O[K]['type'] extends 'string' ? string : boolean;
};

/**
 * Parses `args` strictly with node:util's parseArgs. Any problem becomes a {@link UsageError}
 * naming the command, so the user sees one line, never a stack trace.
 */
export function parseCommandArgs<O extends OptionSpec>(
  command: string,
  args: string[],
  options: O,
): { values: OptionValues<O>; positionals: string[] } {
  try {
    const parsed = parseArgs({ args, options, strict: true, allowPositionals: true });
    return { values: parsed.values as OptionValues<O>, positionals: parsed.positionals };
  } catch (err) {
    // parseArgs adds advice about '--' that does not fit on one line.
    const message = (err instanceof Error ? err.message : String(err)).replace(
      /\. To specify a positional.*$/s,
      '',
    );
    throw new UsageError(`${command}: ${escapeControl(message)} (see sshcast ${command} --help)`);
  }
}

/** Parses a flag's value as a finite number greater than 0 (or ≥ 0 with `allowZero`). */
export function positiveNumber(
  command: string,
  flag: string,
  text: string,
  allowZero = false,
): number {
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n) || n < 0 || (n === 0 && !allowZero)) {
    throw new UsageError(
      `${command}: ${flag} needs a ${allowZero ? 'non-negative' : 'positive'} number, not ${JSON.stringify(escapeControl(text))}`,
    );
  }
  return n;
}

/** Parses a flag's value as an integer from 1 to `max`. */
export function sizeArg(
  command: string,
  flag: string,
  text: string,
  max = MAX_TERMINAL_SIDE,
): number {
  const n = Number(text);
  if (!/^[0-9]+$/.test(text) || !Number.isSafeInteger(n) || n < 1 || n > max) {
    throw new UsageError(
      `${command}: ${flag} needs a whole number from 1 to ${max}, not ${JSON.stringify(escapeControl(text))}`,
    );
  }
  return n;
}

/** `1 event`, `2 events`: a count with its noun, plural when it is not one. */
export function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

// JSON.stringify leaves DEL, C1 controls and bidi overrides raw; escape them too, for terminals.
const JSON_UNSAFE = /[\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/** `value` as indented JSON and a final newline, safe to print on a terminal. */
export function terminalJson(value: unknown): string {
  const text = JSON.stringify(value, null, 2);
  return (
    (text.isWellFormed() ? text : text.toWellFormed()).replace(
      JSON_UNSAFE,
      (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
    ) + '\n'
  );
}

/** Shortens text to `max` characters with an ellipsis. */
export function shorten(text: string, max: number): string {
  return text.length <= max ? text : text.slice(0, max - 1) + '…';
}

/**
 * The error to report for reading recording `file`: a format problem or a file system error as
 * one line naming the file; anything else unchanged.
 */
export function fileError(file: string, err: unknown): unknown {
  if (err instanceof CastParseError)
    return new SshcastError('ERR_CAST_PARSE', `${file}: ${err.message}`);
  if ((err as NodeJS.ErrnoException).code)
    return new SshcastError('ERR_FILE', `${file}: ${describeFsError(err)}`, { cause: err });
  return err;
}

/** A one-line description of a file system error, e.g. `no such file or directory`. */
export function describeFsError(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case 'ENOENT':
      return 'no such file or directory';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EISDIR':
      return 'is a directory';
    case 'ENOTDIR':
      return 'not a directory';
    case 'ELOOP':
      return 'is a symbolic link';
    case 'EEXIST':
      return 'already exists';
    default:
      return err instanceof Error ? err.message.split('\n')[0]! : String(err);
  }
}

/**
 * Writes to stdout, resolving when the data was accepted (waiting for 'drain' when stdout is
 * slow), so a long output does not pile up in memory.
 */
export function writeOut(data: string | Uint8Array): Promise<void> {
  if (process.stdout.write(data)) return Promise.resolve();
  return new Promise((resolve) => process.stdout.once('drain', resolve));
}

/**
 * Whether main.ts leaves errors on stdout (a closed pipe) to the running command. By default a
 * reader that went away ends the command quietly; `rec` sets this and keeps recording instead.
 */
export const stdoutErrors = { ignore: false };

let cachedVersion: string | undefined;

/** The package version, read from the package.json above this module (src/ or dist/src/). */
export function packageVersion(): string {
  if (cachedVersion) return cachedVersion;
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    try {
      const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as {
        name?: string;
        version?: string;
      };
      if (pkg.name === 'sshcast' && pkg.version) return (cachedVersion = pkg.version);
    } catch {
      // not here: look one level up
    }
    dir = path.dirname(dir);
  }
  return (cachedVersion = 'unknown');
}
