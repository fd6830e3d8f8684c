/**
 * Formatting for failure messages: the relevant end of an output or a screen, with control
 * characters made visible, never a dump of the whole recording.
 */
import { escapeControl } from '../text/escape.js';

/** How many lines a failure message shows. */
export const TAIL_LINES = 20;

/**
 * Makes control characters visible: ESC as `\e`, CR as `\r`, others as `\xNN`; LF stays a line
 * break after its `\n`.
 */
export function visible(text: string): string {
  return escapeControl(text, { keepLineBreaks: true, escapeBackslash: false });
}

/** The last `n` lines of `text`, with a note of how many were left out, indented for a message. */
export function tail(text: string, n = TAIL_LINES, label = 'lines'): string {
  if (text === '') return '    (empty)';
  const lines = text.split('\n');
  if (lines.length > 1 && lines.at(-1) === '') lines.pop();
  const shown = lines.slice(-n);
  const cut = lines.length - shown.length;
  const head = cut > 0 ? `    … ${cut} earlier ${label} not shown\n` : '';
  return head + shown.map((l) => `    ${l}`).join('\n');
}

/** The last lines of a recording's output, escapes visible, capped in length. */
export function outputTail(output: string, n = TAIL_LINES): string {
  const maxChars = 4000;
  const clipped = output.length > maxChars ? output.slice(-maxChars) : output;
  const note =
    output.length > maxChars
      ? `    … ${output.length - maxChars} earlier characters not shown\n`
      : '';
  const body = tail(visible(clipped), n);
  return note && !body.startsWith('    …') ? note + body : body;
}

/** A string or RegExp as a message shows it. */
export function describeExpected(expected: string | RegExp): string {
  return expected instanceof RegExp ? String(expected) : JSON.stringify(expected);
}

/** Whether `text` contains the string or matches the RegExp (a global RegExp's state is not used). */
export function matches(text: string, expected: string | RegExp): boolean {
  if (typeof expected === 'string') return text.includes(expected);
  return new RegExp(expected.source, expected.flags.replace(/[gy]/g, '')).test(text);
}
