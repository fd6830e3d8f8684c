import { describe, expect, it } from 'vitest';
import { resolveChain, nextGeneration } from '../../src/storage/chain.js';
import {
  NO_GEN,
  genKey,
  lengthKey,
  segmentKey,
  uploadDir,
  type GenId,
  type GenRecord,
} from '../../src/storage/layout.js';

const ID = 'dev/ssh-session-1-a.cast';
const DIR = uploadDir(ID);
const g = (num: number, c: string): GenId => ({ num, nonce: c.repeat(16) });

/** Builds listing entries: generations, segments (gen, start, size), declarations. */
function listing(
  gens: GenRecord[],
  segments: [GenId, number, number][],
  lengths: [GenId, number, number][] = [],
) {
  const keys = [
    ...gens.map((r) => ({ key: genKey(ID, r), size: 40 })),
    ...segments.map(([gen, start, size]) => ({ key: segmentKey(ID, gen, start), size })),
    ...lengths.map(([gen, at, length]) => ({ key: lengthKey(ID, gen, at, length), size: 0 })),
  ];
  return keys.map((k, i) => ({ ...k, rel: k.key.slice(DIR.length), lastModified: 1000 + i }));
}

describe('resolveChain', () => {
  it('is empty before any generation', () => {
    expect(resolveChain([])).toMatchObject({ end: 0, pieces: [], maxGen: 0 });
  });

  it('follows one generation’s contiguous segments and stops at a hole', () => {
    const a = g(1, 'a');
    const c = resolveChain(
      listing(
        [{ gen: a, start: 0, prev: NO_GEN }],
        [
          [a, 0, 10],
          [a, 10, 5],
          [a, 20, 5],
        ],
      ),
    );
    expect(c.end).toBe(15);
    expect(c.pieces.map((p) => [p.start, p.length])).toEqual([
      [0, 10],
      [10, 5],
    ]);
  });

  it('cuts a generation where the next begins: a stalled writer’s late segments are not read', () => {
    const a = g(1, 'a');
    const b = g(2, 'b');
    const c = resolveChain(
      listing(
        [
          { gen: a, start: 0, prev: NO_GEN },
          { gen: b, start: 10, prev: a },
        ],
        [
          [a, 0, 10],
          [a, 10, 7], // written by a after b took over: beyond b's start
          [b, 10, 4],
        ],
      ),
    );
    expect(c.end).toBe(14);
    expect(c.pieces.map((p) => [p.key.split('/d/')[1], p.start, p.length])).toEqual([
      [`0000000001-${'a'.repeat(16)}/0000000000000000`, 0, 10],
      [`0000000002-${'b'.repeat(16)}/0000000000000010`, 10, 4],
    ]);
    expect(nextGeneration(c, 'c'.repeat(16))).toEqual({
      gen: g(3, 'c'),
      start: 14,
      prev: b,
    });
  });

  it('ignores a generation off the chain, and reports it', () => {
    const a = g(1, 'a');
    const b = g(2, 'b');
    const x = g(1, '0');
    const c = resolveChain(
      listing(
        [
          { gen: a, start: 0, prev: NO_GEN },
          { gen: x, start: 0, prev: NO_GEN },
          { gen: b, start: 3, prev: a },
        ],
        [
          [a, 0, 3],
          [x, 0, 99],
          [b, 3, 3],
        ],
      ),
    );
    expect(c.end).toBe(6);
    expect(c.problems.join()).toMatch(/off the chain/);
  });

  it('takes a declared length the data has not passed, and ignores a stale one', () => {
    const a = g(1, 'a');
    const b = g(2, 'b');
    const gens = [
      { gen: a, start: 0, prev: NO_GEN },
      { gen: b, start: 5, prev: a },
    ];
    const declared = resolveChain(listing(gens, [[a, 0, 5]], [[b, 5, 9]]));
    expect(declared).toMatchObject({ end: 5, length: 9 });
    // a declared 5 after b began at 5 and b went on: stale.
    const stale = resolveChain(
      listing(
        gens,
        [
          [a, 0, 5],
          [b, 5, 2],
        ],
        [[a, 5, 5]],
      ),
    );
    expect(stale.length).toBeUndefined();
    expect(stale.end).toBe(7);
  });

  it('reports a missing generation record and a generation that starts past the data', () => {
    const a = g(1, 'a');
    const b = g(2, 'b');
    const c = resolveChain(listing([{ gen: b, start: 5, prev: a }], [[b, 5, 5]]));
    expect(c.problems.join()).toMatch(/missing/);
    expect(c.end).toBe(0);
  });
});
