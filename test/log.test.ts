import { describe, expect, it } from 'vitest';
import { escapingLogger, logLine, MAX_LOG_LINE } from '../src/log.js';

// What issue 13's red team put in a user's own authorized_keys: a from= that, logged raw, sets the
// terminal's title, erases the line it is on and starts a forged one.
const FORGED =
  '\u001b]0;PWNED\u0007\u001b[2K\rauth: 127.0.0.1:1: accepted ssh-ed25519 key for root';

describe('log lines', () => {
  it('show every control character as a visible escape, and a backslash as \\\\', () => {
    expect(logLine(`from="${FORGED}"`)).toBe(
      'from="\\e]0;PWNED\\x07\\e[2K\\rauth: 127.0.0.1:1: accepted ssh-ed25519 key for root"',
    );
    expect(logLine('a\nb\tc\u0000d\u007f\u009b\u202eé')).toBe('a\\nb\\tc\\x00d\\x7f\\x9b\\u202eé');
    // A literal backslash-e in a value cannot pass for an escaped ESC.
    expect(logLine('\\e')).toBe('\\\\e');
    expect(logLine('plain text: unchanged, 127.0.0.1:22')).toBe(
      'plain text: unchanged, 127.0.0.1:22',
    );
  });

  it('are cut after MAX_LOG_LINE characters', () => {
    const line = logLine('x'.repeat(MAX_LOG_LINE + 10));
    expect(line).toBe(`${'x'.repeat(MAX_LOG_LINE)}… (10 more characters)`);
  });

  it('reach a Logger of the host escaped, once however often it is wrapped', () => {
    const got: string[] = [];
    const host = (m: string) => got.push(m);
    const log = escapingLogger(host);
    expect(escapingLogger(log)).toBe(log);
    escapingLogger(escapingLogger(log))(`name "${FORGED}"`);
    expect(got).toEqual([`name "${logLine(FORGED)}"`]);
    expect(got[0]).not.toMatch(/[\u0000-\u001f\u007f-\u009f]/);
  });

  it('go to stderr by default, escaped', () => {
    const writes: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((chunk: string) => {
      writes.push(chunk);
      return true;
    }) as typeof process.stderr.write;
    try {
      escapingLogger()(`x ${FORGED}`);
    } finally {
      process.stderr.write = write;
    }
    expect(writes).toEqual([`x ${logLine(FORGED)}\n`]);
  });
});
