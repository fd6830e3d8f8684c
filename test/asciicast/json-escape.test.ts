/**
 * The JSON escaper of the recorder's hot path (WebAssembly, 16 bytes at a time) against the
 * reference, JSON.stringify of the decoded text, and against its own byte loop: every byte
 * value, every alignment, lengths across the vector width and the module's 64 KiB input.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ESCAPE_VIEW_MAX,
  escapeBytes,
  escapeBytesJs,
  escapedMax,
  escapesWithWasm,
  escapeView,
} from '../../src/asciicast/json-escape.js';
import { encodeEvent, encodeEventBytes } from '../../src/asciicast/encoder.js';
import { SEED } from '../fuzz/seed.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

const reference = (bytes: Uint8Array) =>
  Buffer.from(JSON.stringify(Buffer.from(bytes).toString('utf8')).slice(1, -1), 'utf8');

function escaped(bytes: Uint8Array, at = 0): Buffer {
  const out = Buffer.alloc(at + escapedMax(bytes.length) + 16);
  return out.subarray(at, escapeBytes(bytes, out, at));
}

/** `bytes` copied to `shift` bytes into a fresh buffer, so its view is not 4- or 16-aligned. */
function shifted(bytes: Uint8Array, shift: number): Uint8Array {
  const b = new Uint8Array(bytes.length + shift);
  b.set(bytes, shift);
  return b.subarray(shift);
}

describe('JSON escaping of UTF-8 bytes', () => {
  it('runs on WebAssembly here (the fast path is not silently lost)', () => {
    expect(escapesWithWasm).toBe(true);
  });

  it('escapes every byte value as JSON.stringify does, alone and in runs', () => {
    for (let b = 0; b < 0x80; b++) {
      for (const n of [1, 15, 16, 17, 100, 1000]) {
        const bytes = new Uint8Array(n).fill(b);
        expect(escaped(bytes)).toEqual(reference(bytes));
      }
    }
  });

  it('agrees with JSON.stringify and with the byte loop on any text, at any alignment', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'binary', maxLength: 3000 }),
        fc.string({ unit: fc.constantFrom('\r', '\n', '\x1b', '"', '\\', 'a', 'é', '☃', '\0') }),
        fc.integer({ min: 0, max: 15 }),
        (text, spice, shift) => {
          const bytes = shifted(Buffer.from(text + spice + text, 'utf8'), shift);
          const want = reference(bytes);
          expect(escaped(bytes, shift)).toEqual(want);
          const js = Buffer.alloc(escapedMax(bytes.length) + 1);
          expect(js.subarray(0, escapeBytesJs(bytes, js, 0))).toEqual(want);
        },
      ),
      { seed: SEED, numRuns: 300 },
    );
  });

  it('escapes inputs longer than the module takes at once, and sizes views exactly', () => {
    const unit = Buffer.from('base64/line+of+text\r\n\x1b[0m"q"\\é☃', 'utf8');
    const long = Buffer.concat(Array(Math.ceil((3 * ESCAPE_VIEW_MAX) / unit.length)).fill(unit));
    expect(escaped(long)).toEqual(reference(long));
    const piece = long.subarray(0, ESCAPE_VIEW_MAX);
    expect(Buffer.from(escapeView(piece)!)).toEqual(reference(piece));
    expect(escapeView(long)).toBeUndefined();
  });

  it('gives event lines byte for byte those of encodeEvent, of any length', () => {
    for (const n of [1, 95, 96, 97, 4096, ESCAPE_VIEW_MAX, ESCAPE_VIEW_MAX + 1, 200_000]) {
      const text = 'x"\\\r\n\x1b é☃'.repeat(Math.ceil(n / 9)).slice(0, n);
      const bytes = Buffer.from(text, 'utf8');
      const line = encodeEventBytes(1.5, 'o', bytes);
      expect(line.toString('utf8')).toBe(encodeEvent({ time: 1.5, code: 'o', data: text }));
      expect(line.buffer.byteLength).toBeLessThan(2 * line.length + 256 * 1024); // no 6x buffer kept
    }
  });

  it('is the module json-escape.wat assembles to (scripts/build-wasm.mjs --check)', () => {
    execFileSync(process.execPath, [path.join(ROOT, 'scripts/build-wasm.mjs'), '--check'], {
      stdio: 'pipe',
    });
  });
});
