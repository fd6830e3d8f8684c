/**
 * Fuzzes the reader with generated and mutated recordings, with fast-check (seeded: set
 * SSHCAST_FUZZ_SEED to replay another run; a failure is shrunk and printed with its seed and
 * path). Every input goes through parseCast (strict and collect) and readCastStream (cut into
 * random chunks): the only exception ever allowed is CastParseError, collect mode never throws,
 * and strict and stream agree. Inputs are bounded (at most a few hundred KiB) so a hang shows as
 * a test timeout.
 */
import { describe, expect, it } from 'vitest';
import { CastParseError } from '../../src/errors.js';
import { CastParser, MAX_KEPT_PROBLEMS } from '../../src/asciicast/parser.js';
import { parseCast, readCastStream } from '../../src/asciicast/reader.js';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runCli } from '../cli/helpers.js';
import { encodeCast } from '../../src/asciicast/encoder.js';
import type { Event, EventCode } from '../../src/asciicast/event.js';
import fc from 'fast-check';
import { SEED } from './seed.js';

const CODES: EventCode[] = ['o', 'i', 'r', 'm', 'x'];
const TEXTS = [
  '',
  'a',
  'héllo',
  '日本語',
  '🙂',
  '\x1b[31mred\x1b[0m\r\n',
  '"\\',
  '\u2028',
  '\ufffd',
  '\x00\x7f',
];
const ALPHABET = [...'{}[]",:0123456789.-+eE\\u tfnrlaxo#\n\r\t\x00é🙂'];
const NUMBERS = [
  '1e400',
  '-1e400',
  '-0',
  '1e-400',
  '99999999999999999999',
  '0.0000001',
  'NaN',
  '-1',
  '3.5',
  '0x10',
];

const v3Cast = fc
  .record({
    cols: fc.integer({ min: 1, max: 300 }),
    rows: fc.integer({ min: 1, max: 100 }),
    events: fc.array(
      fc.record({
        comment: fc.nat(9).map((n) => n === 0), // one line in ten
        time: fc.nat(999),
        code: fc.constantFrom(...CODES),
        data: fc.constantFrom(...TEXTS),
      }),
      { maxLength: 11 },
    ),
  })
  .map(({ cols, rows, events }) => {
    const lines = [JSON.stringify({ version: 3, term: { cols, rows, type: 'xterm' } })];
    for (const e of events) {
      if (e.comment) lines.push('# a comment');
      lines.push(JSON.stringify([e.time / 1000, e.code, e.data]));
    }
    return lines.join('\n') + '\n';
  });

const v2Cast = fc
  .record({
    width: fc.nat(399),
    height: fc.nat(99),
    timestamp: fc.nat(1_999_999_999),
    command: fc.option(fc.constantFrom(...TEXTS), { nil: undefined }),
    env: fc.boolean(),
    localUser: fc.boolean(),
    events: fc.array(
      fc.record({
        gap: fc.nat(1_999_999),
        code: fc.constantFrom(...CODES),
        data: fc.constantFrom(...TEXTS),
        cols: fc.integer({ min: 1, max: 500 }),
        rows: fc.integer({ min: 1, max: 200 }),
      }),
      { maxLength: 11 },
    ),
  })
  .map((g) => {
    let t = 0;
    const events = g.events.map((e) => {
      t += e.gap;
      const data = e.code === 'r' ? `${e.cols}x${e.rows}` : e.data;
      return { time: t, code: e.code, data } as Event;
    });
    const header = {
      version: 2 as const,
      width: g.width,
      height: g.height,
      timestamp: g.timestamp,
      ...(g.command !== undefined ? { command: g.command } : {}),
      ...(g.env ? { env: { TERM: 'xterm', SHELL: '/bin/sh' } } : {}),
      ...(g.localUser ? { localUser: 'alice' } : {}),
    };
    return encodeCast(header, events);
  });

const validCast = fc.oneof({ weight: 1, arbitrary: v3Cast }, { weight: 4, arbitrary: v2Cast });

/** Up to `max` characters of JSON-ish soup, with the odd lone surrogate. */
function randomText(max: number): fc.Arbitrary<string> {
  return fc
    .array(
      fc.oneof(
        { weight: 199, arbitrary: fc.constantFrom(...ALPHABET) },
        { weight: 1, arbitrary: fc.constant('\udc00') },
      ),
      { maxLength: max },
    )
    .map((cs) => cs.join(''));
}

const at = fc.nat();
const SHAPES = [
  '[]',
  '[1]',
  '[1,"o"]',
  '[1,"o","a",4]',
  '{"o":1}',
  '[1,"z","a"]',
  '[1,"r","0x0"]',
  '"x"',
  'null',
];
const KEYS = ['"width":', '"height":', '"version":', '"env":', '"timestamp":', '"command":'];
const WRONG = ['null,', '"x",', '[],', '{},', 'true,', '-1,', '0,', '3,'];

/** One mutation, with only the choices its kind makes. */
const mutation = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at, char: fc.constantFrom(...ALPHABET) }),
  fc.record({ kind: fc.constant('delete' as const), at, span: fc.nat(19) }),
  fc.record({ kind: fc.constant('insert' as const), at, text: randomText(12) }),
  fc.record({ kind: fc.constant('cut' as const), at }),
  fc.record({ kind: fc.constant('lines' as const), i: fc.nat(), j: fc.nat(), swap: fc.boolean() }),
  fc.record({ kind: fc.constant('blank' as const), at, crlf: fc.boolean() }),
  fc.record({ kind: fc.constant('number' as const), number: fc.constantFrom(...NUMBERS) }),
  fc.record({ kind: fc.constant('surrogate' as const), raw: fc.nat(4).map((n) => n === 0) }),
  fc.record({
    kind: fc.constant('deep' as const),
    inEvent: fc.boolean(),
    depth: fc.oneof(
      { weight: 9, arbitrary: fc.integer({ min: 1, max: 100 }) },
      { weight: 1, arbitrary: fc.integer({ min: 1, max: 20_000 }) },
    ),
  }),
  fc.record({
    kind: fc.constant('type' as const),
    key: fc.constantFrom(...KEYS),
    value: fc.constantFrom(...WRONG),
  }),
  fc.record({
    kind: fc.constant('shape' as const),
    i: fc.nat(),
    shape: fc.constantFrom(...SHAPES),
  }),
  fc.record({ kind: fc.constant('v3' as const) }),
  fc.record({ kind: fc.constant('tail' as const), text: randomText(40) }),
);

function mutate(
  text: string,
  m: typeof mutation extends fc.Arbitrary<infer M> ? M : never,
): string {
  const lines = text.split('\n');
  const pos = (n: number) => n % (text.length + 1);
  switch (m.kind) {
    case 'flip': // flip one character
      return text.slice(0, pos(m.at)) + m.char + text.slice(pos(m.at) + 1);
    case 'delete': // delete a range
      return text.slice(0, pos(m.at)) + text.slice(pos(m.at) + 1 + m.span);
    case 'insert': // insert random characters
      return text.slice(0, pos(m.at)) + m.text + text.slice(pos(m.at));
    case 'cut': // cut short (a crash mid-write)
      return text.slice(0, pos(m.at));
    case 'lines': {
      // duplicate or swap lines (times go backwards, two headers)
      const i = m.i % lines.length;
      const j = m.j % lines.length;
      if (m.swap) [lines[i], lines[j]] = [lines[j]!, lines[i]!];
      else lines.splice(i, 0, lines[j]!);
      return lines.join('\n');
    }
    case 'blank': // blank lines, CRLF
      return m.crlf
        ? text.replaceAll('\n', '\r\n')
        : text.slice(0, pos(m.at)) + '\n\n' + text.slice(pos(m.at));
    case 'number': // extreme numbers
      return text.replace(/[0-9]+(\.[0-9]+)?/, m.number);
    case 'surrogate': // a lone surrogate, escaped or raw
      return text.replace('"', m.raw ? '"\ud800' : '"\\udc00');
    case 'deep': {
      // deep nesting in the header or in an event
      const deep = '['.repeat(m.depth) + ']'.repeat(m.depth);
      return m.inEvent
        ? text.replace(/"o",/, `"o",${deep},`)
        : text.replace('{', `{"deep":${deep},`);
    }
    case 'type': // wrong types in the header
      return text.replace(m.key, (k) => k + m.value);
    case 'shape': // wrong event shapes
      lines.splice(1 + (m.i % lines.length), 0, m.shape);
      return lines.join('\n');
    case 'v3': // v3 comments and v2 files that pretend
      return text.replace('"version":2', '"version":3') + '# c\n';
    case 'tail': // a random tail with no newline
      return text + m.text;
  }
}

const mutated = fc
  .tuple(validCast, fc.array(mutation, { minLength: 1, maxLength: 4 }))
  .map(([text, ms]) => {
    for (const m of ms) text = mutate(text, m);
    return text.length > 300_000 ? text.slice(0, 300_000) : text;
  });

const input = fc.oneof(
  { weight: 8, arbitrary: randomText(200) },
  { weight: 7, arbitrary: validCast },
  { weight: 85, arbitrary: mutated },
);

/** At most 16 cut positions, as fractions of the input's length (inside characters too). */
const cutPoints = fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 16 });

async function* chunked(bytes: Buffer, cuts: number[]): AsyncGenerator<Uint8Array> {
  const at = cuts.map((c) => Math.floor(c * (bytes.length + 1))).sort((a, b) => a - b);
  let start = 0;
  for (const cut of [...at, bytes.length]) {
    if (cut > start) yield bytes.subarray(start, cut);
    start = Math.max(start, cut);
  }
}

type Outcome = { ok: true; events: number; truncated: boolean } | { ok: false; line: number };

function strict(text: string): Outcome {
  try {
    const cast = parseCast(text);
    return { ok: true, events: cast.events.length, truncated: cast.truncated !== undefined };
  } catch (err) {
    if (!(err instanceof CastParseError))
      throw new Error(`parseCast threw ${String(err)}`, { cause: err });
    return { ok: false, line: err.line };
  }
}

async function streamed(bytes: Buffer, cuts: number[]): Promise<Outcome> {
  let events = 0;
  let truncated = false;
  try {
    for await (const item of readCastStream(chunked(bytes, cuts))) {
      if (item.kind === 'event') events++;
      if (item.kind === 'truncated') truncated = true;
    }
    return { ok: true, events, truncated };
  } catch (err) {
    if (!(err instanceof CastParseError))
      throw new Error(`readCastStream threw ${String(err)}`, { cause: err });
    return { ok: false, line: err.line };
  }
}

const TOTAL = 100_000;

describe('reader fuzz', () => {
  it(`${TOTAL} generated and mutated inputs: only CastParseError, collect never throws, strict and stream agree`, async () => {
    const tally = { ok: 0, error: 0, truncated: 0, malformedText: 0 };
    await fc.assert(
      fc.asyncProperty(input, cutPoints, async (text, cuts) => {
        const s = strict(text);
        const collected = parseCast(text, { mode: 'collect' });
        if (!collected.problems.every((p) => p instanceof CastParseError)) {
          expect.fail('collect mode returned a problem that is not a CastParseError');
        }
        if (collected.problems.length > 0 && s.ok && !s.truncated) {
          expect.fail('collect found problems that strict mode did not');
        }
        const wellFormed = text.isWellFormed();
        const st = await streamed(Buffer.from(text, 'utf8'), cuts);
        // Bytes cannot hold a lone surrogate (the stream sees U+FFFD instead), so compare only
        // well-formed texts.
        if (!wellFormed) tally.malformedText++;
        else if (JSON.stringify(st) !== JSON.stringify(s)) expect(st).toEqual(s);
        if (s.ok) tally[s.truncated ? 'truncated' : 'ok']++;
        else tally.error++;
      }),
      { seed: SEED, numRuns: TOTAL },
    );
    expect(tally.ok + tally.truncated + tally.error).toBe(TOTAL);
    // The generator reaches every outcome: accepted, truncated and rejected inputs.
    expect(tally.ok).toBeGreaterThan(1000);
    expect(tally.truncated).toBeGreaterThan(1000);
    expect(tally.error).toBeGreaterThan(10_000);
    console.log(`reader fuzz (seed ${SEED}):`, tally);
  }, 120_000);

  it('invalid UTF-8 bytes, random binary and NUL floods through readCastStream: only CastParseError', async () => {
    await fc.assert(
      fc.asyncProperty(
        validCast,
        fc.nat(),
        fc.uint8Array({ maxLength: 63 }),
        cutPoints,
        async (cast, where, junk, cuts) => {
          const base = Buffer.from(cast, 'utf8');
          const at = where % (base.length + 1);
          const bytes = Buffer.concat([base.subarray(0, at), junk, base.subarray(at)]);
          await streamed(bytes, cuts);
          strict(bytes.toString('utf8'));
        },
      ),
      { seed: SEED + 7, numRuns: 5_000 },
    );
  });

  it('a header nested 100,000 deep is a parse error, not a stack overflow', () => {
    const deep = '['.repeat(100_000) + ']'.repeat(100_000);
    const text = `{"version":2,"width":80,"height":24,"x":${deep}}\n[0.5,"o","a"]\n`;
    expect(() => parseCast(text)).not.toThrow(RangeError);
    expect(
      parseCast(text, { mode: 'collect' }).problems.every((p) => p instanceof CastParseError),
    ).toBe(true);
  });

  it('a 64 MiB line streamed in 64 KiB chunks is read in linear time (no quadratic re-copying)', async () => {
    const line = Buffer.alloc(64 * 1024 * 1024, 0x61);
    async function* source(): AsyncGenerator<Uint8Array> {
      yield Buffer.from('{"version":2,"width":80,"height":24}\n');
      for (let i = 0; i < line.length; i += 65536) yield line.subarray(i, i + 65536);
      yield Buffer.from('\n');
    }
    const err = await (async () => {
      for await (const item of readCastStream(source())) void item;
    })().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CastParseError);
    expect((err as CastParseError).line).toBe(2);
  });

  it('300,000 bad lines keep memory bounded: the parser keeps 1000 problems and counts them all', () => {
    const parser = new CastParser(() => {});
    parser.line('{"version":2,"width":80,"height":24}');
    const before = process.memoryUsage().heapUsed;
    for (let i = 0; i < 300_000; i++) parser.line('not json');
    expect(parser.problemCount).toBe(300_000);
    expect(parser.problems).toHaveLength(MAX_KEPT_PROBLEMS);
    expect(parser.problems[0]!.line).toBe(2);
    // Each kept CastParseError holds a stack trace (about 0.9 KB): keeping all 300,000 took
    // some 260 MB; what is left now is garbage not yet collected.
    expect(process.memoryUsage().heapUsed - before).toBeLessThan(150 * 2 ** 20);
    const collected = parseCast(
      '{"version":2,"width":80,"height":24}\n' + 'x\n'.repeat(5000) + '[1,"o","a',
      {
        mode: 'collect',
      },
    );
    expect(collected.problemCount).toBe(5001);
    expect(collected.problems).toHaveLength(MAX_KEPT_PROBLEMS);
    expect(collected.truncated?.line).toBe(5002);
  });

  it('sshcast validate on 200,000 bad lines counts every one', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sshcast-badlines-'));
    try {
      const file = path.join(dir, 'bad.cast');
      fs.writeFileSync(file, '{"version":2,"width":80,"height":24}\n' + 'x\n'.repeat(200_000));
      const r = await runCli(['validate', file], { timeoutMs: 60_000 });
      expect(r.code).toBe(1);
      expect(r.stdout).toContain('bad.cast:2: not valid JSON');
      expect(r.stdout).toMatch(/and 199000 more problems/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
