/**
 * Differential fuzz of the recorder's byte path (Utf8StreamDecoder.complete() + encodeEventBytes,
 * which escape UTF-8 bytes without building a string) against the reference: WHATWG TextDecoder
 * on the whole stream and JSON.stringify of the text. Byte soup with invalid sequences, encoded
 * surrogates, overlongs and controls, cut at random positions.
 */
import { describe, expect, it } from 'vitest';
import { encodeEvent, encodeEventBytes } from '../../src/asciicast/encoder.js';
import { parseCast } from '../../src/asciicast/reader.js';
import { Utf8StreamDecoder } from '../../src/recording/utf8.js';
import { Recorder } from '../../src/recording/recorder.js';
import { MemorySink } from '../../src/recording/sink.js';
import { ManualClock } from '../../src/recording/clock.js';
import { Prng, SEED } from './prng.js';

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

function soup(rand: Prng): Uint8Array {
  const parts: number[] = [];
  const n = rand.int(40);
  for (let i = 0; i < n; i++) {
    const k = rand.next();
    if (k < 0.3) parts.push(...NASTY[rand.int(NASTY.length)]!);
    else if (k < 0.55) {
      const cp = rand.pick([0x7f, 0x7ff, 0xffff, 0x10ffff]);
      let c = rand.int(cp + 1);
      if (c >= 0xd800 && c <= 0xdfff) c = 0x41;
      parts.push(...Buffer.from(String.fromCodePoint(c), 'utf8'));
    } else if (k < 0.75) parts.push(...rand.bytes(1 + rand.int(4)));
    else
      parts.push(
        ...Buffer.from('hello "world" \\ \x1b[0m\r\n', 'utf8').subarray(0, 1 + rand.int(22)),
      );
  }
  return Uint8Array.from(parts);
}

function cuts(bytes: Uint8Array, rand: Prng): Uint8Array[] {
  const out: Uint8Array[] = [];
  let start = 0;
  while (start < bytes.length) {
    const len = 1 + rand.int(Math.min(8, bytes.length - start));
    out.push(bytes.subarray(start, start + len));
    start += len;
  }
  return out;
}

describe('the byte path equals the text path', () => {
  it('encodeEventBytes writes byte for byte the line encodeEvent writes for the decoded text (20,000 inputs)', () => {
    const rand = new Prng(SEED);
    for (let i = 0; i < 20_000; i++) {
      const bytes = soup(rand);
      const time = rand.int(10_000_000_000);
      const text = new TextDecoder('utf-8', { ignoreBOM: true }).decode(bytes);
      const expected = Buffer.from(encodeEvent({ time, code: 'o', data: text }), 'utf8');
      const got = encodeEventBytes(time, 'o', bytes);
      if (!got.equals(expected)) {
        expect({
          seed: SEED,
          i,
          bytes: Buffer.from(bytes).toString('hex'),
          got: got.toString(),
        }).toEqual({
          expected: expected.toString(),
        });
      }
    }
  });

  it('the streaming decoder cut anywhere gives what one WHATWG decode of the whole gives (20,000 streams)', () => {
    const rand = new Prng(SEED + 1);
    for (let i = 0; i < 20_000; i++) {
      const bytes = soup(rand);
      const d = new Utf8StreamDecoder();
      let out = '';
      for (const c of cuts(bytes, rand)) out += d.write(c);
      out += d.end();
      const expected = new TextDecoder('utf-8', { ignoreBOM: true }).decode(bytes);
      if (out !== expected)
        expect({ seed: SEED + 1, i, hex: Buffer.from(bytes).toString('hex') }).toEqual(out);
      expect(out.isWellFormed()).toBe(true);
    }
  });

  it('a Recording fed random byte chunks writes a valid file whose output is the decoded stream (1,000 sessions)', async () => {
    const rand = new Prng(SEED + 2);
    for (let i = 0; i < 1_000; i++) {
      const sink = new MemorySink();
      const clock = new ManualClock();
      const recorder = new Recorder({ enabled: true, sink: () => sink, clock });
      const rec = recorder.start({ cols: 80, rows: 24 });
      const bytes = soup(rand);
      for (const c of cuts(bytes, rand)) {
        rec.output(c);
        clock.advance(rand.next());
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
      expect(shown).toBe(new TextDecoder('utf-8', { ignoreBOM: true }).decode(bytes));
      expect(cast.events.at(-1)).toMatchObject({ code: 'x', data: '0' });
    }
  });
});
