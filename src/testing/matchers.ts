/**
 * The assertions behind the vitest matchers, free of any test framework: each returns whether it
 * passed and a message for either direction, so another framework can wrap them too.
 */
import { encodeCast } from '../asciicast/encoder.js';
import { parseCast } from '../asciicast/reader.js';
import { castText, loadCast, type CastSource, type LoadedCast } from './cast.js';
import { renderScreen, type RenderOptions } from './screen.js';
import { describeExpected, matches, outputTail, tail, visible } from './show.js';

/** The outcome of an assertion: `message` explains a failure whichever way it was asked (`isNot`). */
export interface AssertionOutcome {
  pass: boolean;
  message: (isNot: boolean) => string;
}

function truncatedNote(cast: LoadedCast): string {
  return cast.truncated ? `\n(the recording is truncated: ${cast.truncated.message})` : '';
}

function around(text: string, expected: string | RegExp): string {
  let index: number;
  if (typeof expected === 'string') index = text.indexOf(expected);
  else
    index =
      new RegExp(expected.source, expected.flags.replace(/[gy]/g, '')).exec(text)?.index ?? -1;
  const start = Math.max(0, index - 200);
  return tail(visible(text.slice(start, index + 200)), 8);
}

/** Whether the recording's output (all `o` data, escapes included) contains the string or matches the RegExp. */
export function checkOutput(source: CastSource, expected: string | RegExp): AssertionOutcome {
  const cast = loadCast(source);
  const pass = matches(cast.output, expected);
  return {
    pass,
    message: (isNot) =>
      isNot
        ? `expected the recording's output not to contain ${describeExpected(expected)}, but it does, here (escapes shown):\n${around(cast.output, expected)}`
        : `expected the recording's output to contain ${describeExpected(expected)}\n` +
          `output (the end, escapes shown):\n${outputTail(cast.output)}${truncatedNote(cast)}`,
  };
}

/** Whether the rendered screen (at the end, or at `options.at` seconds) contains the string or matches the RegExp. */
export async function checkScreen(
  source: CastSource,
  expected: string | RegExp,
  options: RenderOptions = {},
): Promise<AssertionOutcome> {
  const cast = loadCast(source);
  const screen = await renderScreen(cast, options);
  const pass = matches(screen.text, expected);
  const when = options.at === undefined ? 'at the end' : `at ${options.at}s`;
  const shown = tail(
    screen.text
      .split('\n')
      .map((l) => `|${l}`)
      .join('\n'),
    20,
    'rows',
  );
  return {
    pass,
    message: (isNot) =>
      `expected the screen (${screen.cols}x${screen.rows}, ${when}) ${isNot ? 'not ' : ''}to contain ` +
      `${describeExpected(expected)}${isNot ? ', but it does' : ''}\nscreen:\n${shown}${truncatedNote(cast)}`,
  };
}

/** Whether the recording is valid asciicast (v2 or v3) with every line complete; failures list each problem with its line. */
export function checkValid(source: CastSource): AssertionOutcome {
  let problems: string[];
  try {
    const raw = castText(source);
    const parsed = raw ? undefined : loadCast(source);
    const text = raw ? raw.text : encodeCast(parsed!.header, parsed!.events);
    problems = parseCast(text, { mode: 'collect' }).problems.map((p) => p.message);
    if (parsed?.truncated) problems.push(parsed.truncated.message);
  } catch (err) {
    problems = [(err as Error).message];
  }
  const shown = problems.slice(0, 10).map((p) => `    ${p}`);
  if (problems.length > 10) shown.push(`    … ${problems.length - 10} more`);
  return {
    pass: problems.length === 0,
    message: (isNot) =>
      isNot
        ? 'expected the recording not to be a valid asciicast file, but it is'
        : `expected a valid asciicast file, found ${problems.length} problem${problems.length === 1 ? '' : 's'}:\n${shown.join('\n')}`,
  };
}

/** Whether the recording ends with an `x` event of this exit status. */
export function checkExitCode(source: CastSource, code: number): AssertionOutcome {
  const cast = loadCast(source);
  const pass = cast.exitCode === code;
  const got =
    cast.exitCode === undefined
      ? 'the recording has no exit event (x): the session did not end, or ended without a status'
      : `it ended with ${cast.exitCode}`;
  return {
    pass,
    message: (isNot) =>
      `expected exit code ${isNot ? 'other than ' : ''}${code}, but ${isNot ? `it is ${code}` : got}\n` +
      `output (the end, escapes shown):\n${outputTail(cast.output, 10)}${truncatedNote(cast)}`,
  };
}
