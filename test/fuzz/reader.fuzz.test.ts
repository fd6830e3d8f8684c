/**
 * Fuzzes the reader with generated and mutated recordings (seeded: set SSHCAST_FUZZ_SEED to
 * replay another run). Every input goes through parseCast (strict and collect) and
 * readCastStream (cut into random chunks): the only exception ever allowed is CastParseError,
 * collect mode never throws, and strict and stream agree. Inputs are bounded (at most a few
 * hundred KiB) so a hang shows as a test timeout.
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
import { Prng, SEED } from './prng.js';

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

function validCast(rand: Prng): string {
  const v3 = rand.next() < 0.2;
  const n = rand.int(12);
  if (v3) {
    const lines = [
      JSON.stringify({
        version: 3,
        term: { cols: 1 + rand.int(300), rows: 1 + rand.int(100), type: 'xterm' },
      }),
    ];
    for (let i = 0; i < n; i++) {
      if (rand.next() < 0.1) lines.push('# a comment');
      lines.push(JSON.stringify([rand.int(1000) / 1000, rand.pick(CODES), rand.pick(TEXTS)]));
    }
    return lines.join('\n') + '\n';
  }
  const events: Event[] = [];
  let t = 0;
  for (let i = 0; i < n; i++) {
    t += rand.int(2_000_000);
    const code = rand.pick(CODES);
    const data = code === 'r' ? `${1 + rand.int(500)}x${1 + rand.int(200)}` : rand.pick(TEXTS);
    events.push({ time: t, code, data } as Event);
  }
  const header = {
    version: 2 as const,
    width: rand.int(400),
    height: rand.int(100),
    timestamp: rand.int(2_000_000_000),
    ...(rand.next() < 0.5 ? { command: rand.pick(TEXTS) } : {}),
    ...(rand.next() < 0.5 ? { env: { TERM: 'xterm', SHELL: '/bin/sh' } } : {}),
    ...(rand.next() < 0.5 ? { localUser: 'alice' } : {}),
  };
  return encodeCast(header, events);
}

function randomText(rand: Prng, max: number): string {
  let s = '';
  const n = rand.int(max);
  for (let i = 0; i < n; i++) s += rand.next() < 0.005 ? '\udc00' : rand.pick(ALPHABET);
  return s;
}

function mutate(text: string, rand: Prng): string {
  const rounds = 1 + rand.int(4);
  for (let r = 0; r < rounds; r++) {
    const at = rand.int(text.length + 1);
    const lines = text.split('\n');
    switch (rand.int(13)) {
      case 0: // flip one character
        text = text.slice(0, at) + rand.pick(ALPHABET) + text.slice(at + 1);
        break;
      case 1: // delete a range
        text = text.slice(0, at) + text.slice(at + 1 + rand.int(20));
        break;
      case 2: // insert random characters
        text = text.slice(0, at) + randomText(rand, 12) + text.slice(at);
        break;
      case 3: // cut short (a crash mid-write)
        text = text.slice(0, at);
        break;
      case 4: {
        // duplicate or swap lines (times go backwards, two headers)
        const i = rand.int(lines.length);
        const j = rand.int(lines.length);
        if (rand.next() < 0.5) lines.splice(i, 0, lines[j]!);
        else [lines[i], lines[j]] = [lines[j]!, lines[i]!];
        text = lines.join('\n');
        break;
      }
      case 5: // blank lines, CRLF
        text =
          rand.next() < 0.5
            ? text.slice(0, at) + '\n\n' + text.slice(at)
            : text.replaceAll('\n', '\r\n');
        break;
      case 6: // extreme numbers
        text = text.replace(/[0-9]+(\.[0-9]+)?/, rand.pick(NUMBERS));
        break;
      case 7: // a lone surrogate, escaped or raw
        text = text.replace('"', rand.next() < 0.8 ? '"\\udc00' : '"\ud800');
        break;
      case 8: {
        // deep nesting in the header or in an event
        const depth = 1 + rand.int(rand.next() < 0.9 ? 100 : 20_000);
        const deep = '['.repeat(depth) + ']'.repeat(depth);
        text =
          rand.next() < 0.5
            ? text.replace('{', `{"deep":${deep},`)
            : text.replace(/"o",/, `"o",${deep},`);
        break;
      }
      case 9: // wrong types in the header
        text = text.replace(
          rand.pick([
            '"width":',
            '"height":',
            '"version":',
            '"env":',
            '"timestamp":',
            '"command":',
          ]),
          (k) => k + rand.pick(['null,', '"x",', '[],', '{},', 'true,', '-1,', '0,', '3,']),
        );
        break;
      case 10: // wrong event shapes
        lines.splice(
          1 + rand.int(lines.length),
          0,
          rand.pick([
            '[]',
            '[1]',
            '[1,"o"]',
            '[1,"o","a",4]',
            '{"o":1}',
            '[1,"z","a"]',
            '[1,"r","0x0"]',
            '"x"',
            'null',
          ]),
        );
        text = lines.join('\n');
        break;
      case 11: // v3 comments and v2 files that pretend
        text = text.replace('"version":2', '"version":3') + '# c\n';
        break;
      default: // a random tail with no newline
        text += randomText(rand, 40);
    }
  }
  return text.length > 300_000 ? text.slice(0, 300_000) : text;
}

function input(rand: Prng): string {
  const k = rand.next();
  if (k < 0.08) return randomText(rand, 200);
  if (k < 0.15) return validCast(rand);
  return mutate(validCast(rand), rand);
}

// At most 16 chunks, cut at random byte positions (inside characters too).
async function* chunked(bytes: Buffer, rand: Prng): AsyncGenerator<Uint8Array> {
  const cuts = Array.from({ length: rand.int(16) }, () => rand.int(bytes.length + 1));
  cuts.sort((a, b) => a - b);
  let start = 0;
  for (const cut of [...cuts, bytes.length]) {
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

async function streamed(bytes: Buffer, rand: Prng): Promise<Outcome> {
  let events = 0;
  let truncated = false;
  try {
    for await (const item of readCastStream(chunked(bytes, rand))) {
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
    const rand = new Prng(SEED);
    const tally = { ok: 0, error: 0, truncated: 0, malformedText: 0 };
    for (let i = 0; i < TOTAL; i++) {
      const text = input(rand);
      const where = `seed ${SEED}, input ${i}`;
      const s = strict(text);
      const collected = parseCast(text, { mode: 'collect' });
      if (!collected.problems.every((p) => p instanceof CastParseError)) {
        expect.fail(`${where}: collect mode returned a problem that is not a CastParseError`);
      }
      if (collected.problems.length > 0 && s.ok && !s.truncated) {
        expect.fail(`${where}: collect found problems that strict mode did not`);
      }
      const wellFormed = text.isWellFormed();
      const st = await streamed(Buffer.from(text, 'utf8'), rand);
      // Bytes cannot hold a lone surrogate (the stream sees U+FFFD instead), so compare only
      // well-formed texts.
      if (!wellFormed) tally.malformedText++;
      else if (JSON.stringify(st) !== JSON.stringify(s)) expect(st, where).toEqual(s);
      if (s.ok) tally[s.truncated ? 'truncated' : 'ok']++;
      else tally.error++;
    }
    expect(tally.ok + tally.truncated + tally.error).toBe(TOTAL);
    // The generator reaches every outcome: accepted, truncated and rejected inputs.
    expect(tally.ok).toBeGreaterThan(1000);
    expect(tally.truncated).toBeGreaterThan(1000);
    expect(tally.error).toBeGreaterThan(10_000);
    console.log(`reader fuzz (seed ${SEED}):`, tally);
  }, 120_000);

  it('invalid UTF-8 bytes, random binary and NUL floods through readCastStream: only CastParseError', async () => {
    const rand = new Prng(SEED + 7);
    for (let i = 0; i < 5_000; i++) {
      const base = Buffer.from(validCast(rand), 'utf8');
      const at = rand.int(base.length + 1);
      const bytes = Buffer.concat([
        base.subarray(0, at),
        rand.bytes(rand.int(64)),
        base.subarray(at),
      ]);
      await streamed(bytes, rand);
      strict(bytes.toString('utf8'));
    }
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
