import { describe, expect, it } from 'vitest';
import { LineSplitter } from '../../src/asciicast/lines.js';

const all = (splitter: LineSplitter, chunks: string[]): string[] =>
  chunks.flatMap((c) => [...splitter.push(Buffer.from(c))].map((l) => l.toString()));

describe('LineSplitter', () => {
  it('yields each line once its LF comes, whatever the chunk boundaries', () => {
    const text = 'first\nsecond line\n\nthird\r\nlast, cut';
    for (let size = 1; size <= text.length; size++) {
      const chunks: string[] = [];
      for (let i = 0; i < text.length; i += size) chunks.push(text.slice(i, i + size));
      const s = new LineSplitter();
      expect(all(s, chunks), `chunks of ${size}`).toEqual(['first', 'second line', '', 'third\r']);
      expect(s.pending).toBe('last, cut'.length);
      expect(s.end()?.toString()).toBe('last, cut');
      expect(s.pending).toBe(0);
      expect(s.end()).toBeUndefined();
    }
  });

  it('joins a line spread over many chunks byte for byte (multibyte characters split too)', () => {
    const line = 'é€😀'.repeat(5000);
    const bytes = Buffer.from(line + '\nnext\n');
    const s = new LineSplitter();
    const out: Buffer[] = [];
    for (let i = 0; i < bytes.length; i += 7) out.push(...s.push(bytes.subarray(i, i + 7)));
    expect(out.map((b) => b.toString())).toEqual([line, 'next']);
    expect(s.end()).toBeUndefined();
  });
});
