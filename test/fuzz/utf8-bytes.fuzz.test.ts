/**
 * Differential fuzz of the recorder's byte path (Utf8StreamDecoder.complete() + encodeEventBytes,
 * which escape UTF-8 bytes without building a string) against the reference: WHATWG TextDecoder
 * on the whole stream and JSON.stringify of the text. Byte soup with invalid sequences, encoded
 * surrogates, overlongs and controls, cut at random positions; fast-check, seeded
 * (SSHCAST_FUZZ_SEED), shrinks a failure to its smallest soup.
 */
import { describe, expect, it } from 'vitest';
import { encodeEvent, encodeEventBytes } from '../../src/asciicast/encoder.js';
import { parseCast } from '../../src/asciicast/reader.js';
import { Utf8StreamDecoder } from '../../src/recording/utf8.js';
import { Recorder } from '../../src/recording/recorder.js';
import { MemorySink } from '../../src/recording/sink.js';
import { ManualClock } from '../../src/clock.js';
import fc from 'fast-check';
import { SEED } from './seed.js';

const NASTY: number[][] = [
  [0xed, 0xa0, 0x80], // encoded lone surrogate
  [0xed, 0xbf, 0xbf],
  [0xe0, 0x80, 0x80], // overlong
  [0xc0, 0xaf],
  [0xf4, 0x90, 0x80, 0x80], // above U+10FFFF
  [0xf5],
  [0xff],
  [0x80],
  [0xf0, 0x9f], // cut short
  [0xe2, 0x82],
  [0xc3],
  [0xef, 0xbb, 0xbf], // BOM
  [0x1b, 0x5b, 0x33, 0x31, 0x6d],
  [0x22, 0x5c, 0x00, 0x7f, 0x0d, 0x0a, 0x09, 0x08, 0x0c],
];

const HELLO = Buffer.from('hello "world" \\ \x1b[0m\r\n', 'utf8');

/** One piece of the soup: a nasty sequence, a valid character, random bytes, or plain text. */
const piece = fc.oneof(
  { weight: 30, arbitrary: fc.constantFrom(...NASTY) },
  {
    weight: 25,
    arbitrary: fc
      .constantFrom(0x7f, 0x7ff, 0xffff, 0x10ffff)
      .chain((max) => fc.integer({ min: 0, max }))
      .map((c) => [...Buffer.from(String.fromCodePoint(c >= 0xd800 && c <= 0xdfff ? 0x41 : c))]),
  },
  {
    weight: 20,
    arbitrary: fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 4 }),
  },
  { weight: 25, arbitrary: fc.integer({ min: 1, max: 22 }).map((n) => [...HELLO.subarray(0, n)]) },
);

const soup = fc.array(piece, { maxLength: 39 }).map((parts) => Uint8Array.from(parts.flat()));

/** Chunk lengths of 1 to 8 bytes, repeated as needed to cut the whole soup. */
const cutLengths = fc.array(fc.integer({ min: 1, max: 8 }), { minLength: 1, maxLength: 16 });

function cuts(bytes: Uint8Array, lengths: number[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let start = 0, k = 0; start < bytes.length; k++) {
    const len = lengths[k % lengths.length]!;
    out.push(bytes.subarray(start, start + len));
    start += len;
  }
  return out;
}

const decodeAll = (bytes: Uint8Array) =>
  new TextDecoder('utf-8', { ignoreBOM: true }).decode(bytes);

describe('the byte path equals the text path', () => {
  it('encodeEventBytes writes byte for byte the line encodeEvent writes for the decoded text (20,000 inputs)', () => {
    fc.assert(
      fc.property(soup, fc.nat(9_999_999_999), (bytes, time) => {
        const text = decodeAll(bytes);
        const expected = Buffer.from(encodeEvent({ time, code: 'o', data: text }), 'utf8');
        const got = encodeEventBytes(time, 'o', bytes);
        // Compared as bytes, shown as text when they differ.
        if (!got.equals(expected)) expect(got.toString()).toBe(expected.toString());
        expect(got.equals(expected)).toBe(true);
      }),
      { seed: SEED, numRuns: 20_000 },
    );
  });

  it('the streaming decoder cut anywhere gives what one WHATWG decode of the whole gives (20,000 streams)', () => {
    fc.assert(
      fc.property(soup, cutLengths, (bytes, lengths) => {
        const d = new Utf8StreamDecoder();
        let out = '';
        for (const c of cuts(bytes, lengths)) out += d.write(c);
        out += d.end();
        expect(out).toBe(decodeAll(bytes));
        expect(out.isWellFormed()).toBe(true);
      }),
      { seed: SEED + 1, numRuns: 20_000 },
    );
  });

  it('a Recording fed random byte chunks writes a valid file whose output is the decoded stream (1,000 sessions)', async () => {
    await fc.assert(
      fc.asyncProperty(
        soup,
        cutLengths,
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 1 }),
        async (bytes, lengths, pauses) => {
          const sink = new MemorySink();
          const clock = new ManualClock();
          const recorder = new Recorder({ enabled: true, sink: () => sink, clock });
          const rec = recorder.start({ cols: 80, rows: 24 });
          let k = 0;
          for (const c of cuts(bytes, lengths)) {
            rec.output(c);
            clock.advance(pauses[k++ % pauses.length]!);
          }
          await rec.finish(0);
          const text = sink.text();
          for (const line of text.split('\n').slice(0, -1))
            expect(() => JSON.parse(line)).not.toThrow();
          const cast = parseCast(text);
          expect(cast.truncated).toBeUndefined();
          const shown = cast.events
            .filter((e) => e.code === 'o')
            .map((e) => e.data)
            .join('');
          expect(shown).toBe(decodeAll(bytes));
          expect(cast.events.at(-1)).toMatchObject({ code: 'x', data: '0' });
        },
      ),
      { seed: SEED + 2, numRuns: 1_000 },
    );
  });
});
