/**
 * JSON string escaping of UTF-8 bytes, byte for byte what JSON.stringify does to the decoded
 * text (control characters, `"` and `\` escaped; everything else, multi-byte characters
 * included, as it is). The recorder escapes every byte of output, so this is its hot path: a
 * WebAssembly module looks at 16 bytes at a time (SIMD) and copies clean runs whole, about ten
 * times the speed of a byte loop in JavaScript (bench/writer.bench.ts). Short inputs, and
 * runtimes without WebAssembly SIMD, take the byte loop.
 */
import { JSON_ESCAPE_WASM } from './wasm/json-escape-wasm.js';

// For each byte, how JSON.stringify escapes it (empty: not at all).
const ESCAPES: Uint8Array[] = Array.from({ length: 256 }, (_, b) =>
  b < 0x20 || b === 0x22 || b === 0x5c
    ? Buffer.from(JSON.stringify(String.fromCharCode(b)).slice(1, -1), 'latin1')
    : new Uint8Array(0),
);
const ESCAPED = new Uint8Array(256).map((_, b) => ESCAPES[b]!.length);

/** The most bytes escaping `n` bytes can give. */
export function escapedMax(n: number): number {
  return n * 6;
}

/** The byte loop: escapes `data` into `out` at `o`; returns the offset after the last byte. */
export function escapeBytesJs(data: Uint8Array, out: Uint8Array, o: number): number {
  const n = data.length;
  for (let i = 0; i < n; i++) {
    const b = data[i]!;
    const len = ESCAPED[b]!;
    if (len === 0) out[o++] = b;
    else {
      const e = ESCAPES[b]!;
      for (let k = 0; k < len; k++) out[o++] = e[k]!;
    }
  }
  return o;
}

// The module's memory layout (json-escape.wat).
const LENGTHS = 0;
const SEQUENCES = 256;
const INPUT = 4096;
const INPUT_MAX = 65536;
const OUTPUT = INPUT + INPUT_MAX;

/** Below this many bytes the byte loop is faster than the copies in and out of the module. */
const WASM_MIN = 96;

interface Escaper {
  memory: Uint8Array;
  escape(len: number): number;
}

function instantiate(): Escaper | undefined {
  try {
    const module = new WebAssembly.Module(Buffer.from(JSON_ESCAPE_WASM, 'base64'));
    const instance = new WebAssembly.Instance(module);
    const exports = instance.exports as { memory: WebAssembly.Memory; escape(n: number): number };
    const memory = new Uint8Array(exports.memory.buffer);
    for (let b = 0; b < 256; b++) {
      memory[LENGTHS + b] = ESCAPED[b]!;
      memory.set(ESCAPES[b]!, SEQUENCES + 8 * b);
    }
    return { memory, escape: exports.escape };
  } catch {
    return undefined; // no WebAssembly SIMD here (--jitless, an old engine): the byte loop
  }
}

const wasm = instantiate();

/** Whether the WebAssembly escaper is in use (false: the byte loop). */
export const escapesWithWasm = wasm !== undefined;

/**
 * The escaped bytes of `data` (at most {@link ESCAPE_VIEW_MAX} bytes, at least a few dozen) as a
 * view of the module's memory, valid until the next call here; undefined when the byte loop is
 * the better way (short input, no WebAssembly). Lets a caller size its buffer exactly.
 */
export function escapeView(data: Uint8Array): Uint8Array | undefined {
  if (!wasm || data.length < WASM_MIN || data.length > INPUT_MAX) return undefined;
  wasm.memory.set(data, INPUT);
  return wasm.memory.subarray(OUTPUT, OUTPUT + wasm.escape(data.length));
}

/** The longest input {@link escapeView} takes. */
export const ESCAPE_VIEW_MAX = INPUT_MAX;

/**
 * Escapes the UTF-8 bytes `data` as the inside of a JSON string into `out` at offset `o` (room
 * for {@link escapedMax} bytes needed); returns the offset after the last byte written.
 */
export function escapeBytes(data: Uint8Array, out: Uint8Array, o: number): number {
  for (let at = 0; at < data.length; at += INPUT_MAX) {
    const piece = data.subarray(at, at + INPUT_MAX);
    const view = escapeView(piece);
    if (!view) o = escapeBytesJs(piece, out, o);
    else {
      out.set(view, o);
      o += view.length;
    }
  }
  return o;
}
