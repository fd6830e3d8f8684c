/**
 * Logging, the same for every part of sshcast: each `log` option takes a {@link Logger}, and
 * every one defaults to {@link defaultLog}, one line per event on stderr. sshcast logs what an
 * operator of sshd would find in its log: refused logins and why, accepted keys, dropped
 * connections, recordings that could not start or failed, signals ignored. Pass `() => {}` to
 * silence a part, or a function of your own to send the lines to a logger.
 */

/** Receives one log line, without a line break. */
export type Logger = (message: string) => void;

/** The default of every `log` option: the line and a newline to stderr. */
export const defaultLog: Logger = (message) => {
  process.stderr.write(`${message}\n`);
};
