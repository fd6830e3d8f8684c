/**
 * Untrusted text (a recorded command, a file name, a session's output in a failure message) made
 * safe to print on a terminal: every control character is shown as a visible escape, so an escape
 * sequence cannot set the clipboard, change the title or hide text. The one escaper of the CLI
 * and of `sshcast/testing`'s messages.
 */

// C0 controls, DEL, C1 controls, and the Unicode line/paragraph separators and bidi overrides
// that can reorder what a terminal shows.
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t', '\u001b': '\\e' };

/** How {@link escapeControl} writes what it escapes. */
export interface EscapeOptions {
  /** Write a backslash as `\\`, so that every escape reads back unambiguously. Default true. */
  escapeBackslash?: boolean;
  /** Keep a real line break after each `\n`, for multi-line messages. Default false. */
  keepLineBreaks?: boolean;
}

/**
 * Shows every control character as a visible escape: `\e`, `\n`, `\r`, `\t`, else `\x07` or
 * `\u202e`. Lone surrogates become U+FFFD.
 */
export function escapeControl(text: string, options: EscapeOptions = {}): string {
  const wellFormed = text.isWellFormed() ? text : text.toWellFormed();
  const slashed =
    options.escapeBackslash === false ? wellFormed : wellFormed.replace(/\\/g, '\\\\');
  return slashed.replace(CONTROL, (c) => {
    if (c === '\n' && options.keepLineBreaks) return '\\n\n';
    const named = NAMED[c];
    if (named) return named;
    const code = c.charCodeAt(0);
    return code <= 0xff
      ? `\\x${code.toString(16).padStart(2, '0')}`
      : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}
