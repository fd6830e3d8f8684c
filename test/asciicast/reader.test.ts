import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { parseCast, readCastStream, type CastItem } from '../../src/asciicast/reader.js';
import { CastParseError } from '../../src/errors.js';

const H = '{"version":2,"width":80,"height":24}';

function problemOf(text: string): { line: number; problem: string } {
  try {
    parseCast(text);
  } catch (err) {
    expect(err).toBeInstanceOf(CastParseError);
    const e = err as CastParseError;
    expect(e.code).toBe('ERR_CAST_PARSE');
    expect(e.message).toMatch(new RegExp(`^line ${e.line}: `));
    return { line: e.line, problem: e.problem };
  }
  throw new Error('expected a parse error');
}

async function collect(chunks: string[]): Promise<CastItem[]> {
  const items: CastItem[] = [];
  for await (const item of readCastStream(Readable.from(chunks.map((c) => Buffer.from(c)))))
    items.push(item);
  return items;
}

describe('parseCast', () => {
  it('reads a v2 file', () => {
    const cast = parseCast(`${H}\n[0.5,"o","hi"]\n[1,"x","0"]\n`);
    expect(cast.version).toBe(2);
    expect(cast.header).toEqual({ version: 2, width: 80, height: 24 });
    expect(cast.events).toEqual([
      { time: 500_000, code: 'o', data: 'hi' },
      { time: 1_000_000, code: 'x', data: '0' },
    ]);
    expect(cast.truncated).toBeUndefined();
  });

  it('reads a v3 file (relative times, term object, comments, blank lines)', () => {
    const v3 = [
      '{"version":3,"term":{"cols":100,"rows":30,"type":"xterm-256color"},"timestamp":1700000000,"command":"ls"}',
      '# a comment',
      '[0.5,"o","a"]',
      '',
      '[0.25,"o","b"]',
      '[1.0,"x","0"]',
      '',
    ].join('\n');
    const cast = parseCast(v3);
    expect(cast.version).toBe(3);
    expect(cast.header).toMatchObject({
      width: 100,
      height: 30,
      command: 'ls',
      env: { TERM: 'xterm-256color' },
    });
    expect(cast.events.map((e) => e.time)).toEqual([500_000, 750_000, 1_750_000]);
  });

  it('reports each kind of damage with its line number', () => {
    expect(problemOf('')).toEqual({ line: 1, problem: 'empty' });
    expect(problemOf('not json\n')).toEqual({ line: 1, problem: 'header' });
    expect(problemOf('[1,2]\n')).toEqual({ line: 1, problem: 'header' });
    expect(problemOf('{"version":1,"width":80,"height":24}\n')).toEqual({
      line: 1,
      problem: 'version',
    });
    expect(problemOf('{"version":2,"width":0,"height":24}\n')).toEqual({
      line: 1,
      problem: 'header',
    });
    expect(problemOf(`${H}\n[0.1,"o","a"]\n{oops\n`)).toEqual({ line: 3, problem: 'json' });
    expect(problemOf(`${H}\n[0.1,"o"]\n`)).toEqual({ line: 2, problem: 'event' });
    expect(problemOf(`${H}\n[0.1,"z","a"]\n`)).toEqual({ line: 2, problem: 'event' });
    expect(problemOf(`${H}\n["0.1","o","a"]\n`)).toEqual({ line: 2, problem: 'event' });
    expect(problemOf(`${H}\n[0.1,"r","wide"]\n`)).toEqual({ line: 2, problem: 'event' });
    expect(problemOf(`${H}\n[2,"o","a"]\n[1,"o","b"]\n`)).toEqual({ line: 3, problem: 'time' });
    expect(problemOf(`${H}\n\n[1,"o","b"]\n`)).toEqual({ line: 2, problem: 'blank' });
    expect(problemOf(`${H}\n[1,"o","\\ud800"]\n`)).toEqual({ line: 2, problem: 'surrogate' });
    expect(problemOf(`{"version":2,"width":80,"height":24,"command":"\\udc00"}\n`)).toEqual({
      line: 1,
      problem: 'surrogate',
    });
  });

  it('treats a cut-short final line as truncation and keeps the events before it', () => {
    const cast = parseCast(`${H}\n[0.1,"o","a"]\n[0.2,"o","b`);
    expect(cast.events).toEqual([{ time: 100_000, code: 'o', data: 'a' }]);
    expect(cast.truncated).toBeInstanceOf(CastParseError);
    expect(cast.truncated!.line).toBe(3);
    expect(cast.truncated!.problem).toBe('truncated');
  });

  it('reports a missing final newline but keeps the complete event', () => {
    const cast = parseCast(`${H}\n[0.1,"o","a"]`);
    expect(cast.events).toHaveLength(1);
    expect(cast.truncated?.problem).toBe('truncated');
  });

  it('collects every problem in collect mode', () => {
    const result = parseCast(`${H}\n\n[2,"o","a"]\n[1,"o","b"]\n[x]\n[3,"o","c`, {
      mode: 'collect',
    });
    expect(result.problems.map((p) => [p.line, p.problem])).toEqual([
      [2, 'blank'],
      [4, 'time'],
      [5, 'json'],
      [6, 'truncated'],
    ]);
    expect(result.header).toEqual({ version: 2, width: 80, height: 24 });
  });

  it('never throws anything but CastParseError on odd input', () => {
    for (const text of [
      '\u0000',
      '{}',
      'null\n',
      '{"version":2}',
      `${H}\n[1e400,"o","a"]\n`,
      `${H}\n[-1,"o","a"]\n`,
    ]) {
      try {
        parseCast(text);
      } catch (err) {
        expect(err).toBeInstanceOf(CastParseError);
      }
    }
  });
});

describe('readCastStream', () => {
  it('yields the header and events across arbitrary chunk boundaries, even inside characters', async () => {
    const text = `${H}\n[0.1,"o","日本😀"]\n[0.2,"x","0"]\n`;
    const bytes = Buffer.from(text);
    // cut inside the emoji's bytes: decode must happen per line, not per chunk
    const items = [];
    for await (const item of readCastStream(
      Readable.from([bytes.subarray(0, 50), bytes.subarray(50, 51), bytes.subarray(51)]),
    ))
      items.push(item);
    expect(items).toEqual([
      { kind: 'header', header: { version: 2, width: 80, height: 24 }, version: 2 },
      { kind: 'event', event: { time: 100_000, code: 'o', data: '日本😀' } },
      { kind: 'event', event: { time: 200_000, code: 'x', data: '0' } },
    ]);
  });

  it('yields a truncation for a cut-short final line', async () => {
    const items = await collect([`${H}\n[0.1,"o","a"]\n[0.2,"o"`]);
    expect(items.map((i) => i.kind)).toEqual(['header', 'event', 'truncated']);
  });

  it('throws the first problem as a CastParseError', async () => {
    await expect(collect([`${H}\n[0.1,"o","a"]\n[oops]\n`])).rejects.toMatchObject({
      line: 3,
      problem: 'json',
    });
    await expect(collect([])).rejects.toMatchObject({ problem: 'empty' });
  });
});
