/**
 * Logging, the same for every part of sshcast: each `log` option takes a {@link Logger}, and
 * every one defaults to {@link defaultLog}, one line per event on stderr. sshcast logs what an
 * operator of sshd would find in its log: refused logins and why, accepted keys, dropped
 * connections, recordings that could not start or failed, signals ignored. Pass `() => {}` to
 * silence a part, or a function of your own to send the lines to a logger.
 *
 * Log lines carry what users and clients chose (login names, key options and comments from a
 * user's own authorized_keys, commands, signal names, error text): every line reaches a Logger
 * through {@link escapingLogger}, which shows each control character as a visible escape, as sshd
 * does (its log goes through strnvis), so no value can forge a line, erase one or set the
 * terminal's title of whoever reads the log.
 */
import { escapeControl } from './text/escape.js';

/** Receives one log line, without a line break. */
export type Logger = (message: string) => void;

/** A log line longer than this is cut (sshd cuts at 1 KiB): one value cannot flood the log. */
export const MAX_LOG_LINE = 4096;

// Loggers that already escape, so wrapping one again changes nothing.
const escaping = new WeakSet<Logger>();

/**
 * One log line as a Logger receives it: every control character (C0, DEL, C1, line and
 * paragraph separators, bidi overrides) shown as `\e`, `\n`, `\r`, `\t`, `\x07` or `\u202e`, a
 * backslash as `\\` (so an escape reads back unambiguously, as sshd's vis(3) does), at most
 * {@link MAX_LOG_LINE} characters.
 */
export function logLine(message: string): string {
  const line = escapeControl(message);
  return line.length <= MAX_LOG_LINE
    ? line
    : `${line.slice(0, MAX_LOG_LINE)}… (${line.length - MAX_LOG_LINE} more characters)`;
}

/**
 * The Logger every part of sshcast logs through: `log` (default {@link defaultLog}) is given
 * each line made safe by {@link logLine}. Wrapping a logger this returned returns it unchanged.
 */
export function escapingLogger(log?: Logger): Logger {
  if (!log) return defaultLog;
  if (escaping.has(log)) return log;
  const wrapped: Logger = (message) => log(logLine(message));
  escaping.add(wrapped);
  return wrapped;
}

/** The default of every `log` option: the line, made safe by {@link logLine}, to stderr. */
export const defaultLog: Logger = (message) => {
  process.stderr.write(`${logLine(message)}\n`);
};
escaping.add(defaultLog);
