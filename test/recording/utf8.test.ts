import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Utf8StreamDecoder } from '../../src/recording/utf8.js';

function decodeInPieces(bytes: Uint8Array, cuts: number[]): string {
  const d = new Utf8StreamDecoder();
  let out = '';
  let start = 0;
  for (const cut of [...new Set(cuts)].sort((a, b) => a - b)) {
    out += d.write(bytes.subarray(start, cut));
    start = cut;
  }
  return out + d.write(bytes.subarray(start)) + d.end();
}

describe('Utf8StreamDecoder', () => {
  it('keeps a 4-byte character split across every possible pair of chunks', () => {
    const bytes = Buffer.from('a😀b', 'utf8');
    for (let cut = 0; cut <= bytes.length; cut++) {
      expect(decodeInPieces(bytes, [cut])).toBe('a😀b');
    }
  });

  it('keeps a character split one byte per chunk', () => {
    const bytes = Buffer.from('日本😀é', 'utf8');
    const cuts = Array.from({ length: bytes.length }, (_, i) => i);
    expect(decodeInPieces(bytes, cuts)).toBe('日本😀é');
  });

  it('turns invalid bytes into U+FFFD and never emits a lone surrogate', () => {
    // 0xff is never valid; ED A0 80 is an encoded surrogate; C3 alone is cut short.
    const d = new Utf8StreamDecoder();
    const out = d.write(Buffer.from([0x61, 0xff, 0xed, 0xa0, 0x80, 0x62, 0xc3])) + d.end();
    expect(out.startsWith('a\ufffd')).toBe(true);
    expect(out.endsWith('b\ufffd')).toBe(true);
    expect(out.isWellFormed()).toBe(true);
  });

  it('holds back an incomplete character until the next chunk', () => {
    const d = new Utf8StreamDecoder();
    expect(d.write(Buffer.from([0xf0, 0x9f]))).toBe('');
    expect(d.write(Buffer.from([0x98, 0x80, 0x21]))).toBe('😀!');
  });

  it('property: random Unicode cut at random byte positions decodes to the same text', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'grapheme', maxLength: 200 }),
        fc.array(fc.nat(), { maxLength: 20 }),
        (text, rawCuts) => {
          const bytes = Buffer.from(text, 'utf8');
          const cuts = rawCuts.map((c) => (bytes.length === 0 ? 0 : c % (bytes.length + 1)));
          expect(decodeInPieces(bytes, cuts)).toBe(text);
        },
      ),
      { numRuns: 2000, seed: 20261127 },
    );
  });

  it('property: arbitrary bytes decode to well-formed text however they are cut', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 200 }),
        fc.array(fc.nat(), { maxLength: 10 }),
        (bytes, rawCuts) => {
          const whole = decodeInPieces(bytes, []);
          const cuts = rawCuts.map((c) => c % (bytes.length + 1));
          const pieces = decodeInPieces(bytes, cuts);
          expect(pieces).toBe(whole);
          expect(pieces.isWellFormed()).toBe(true);
        },
      ),
      { numRuns: 2000, seed: 7 },
    );
  });
});
