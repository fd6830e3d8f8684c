import { describe, expect, it } from 'vitest';
import { medianInterval } from '../../bench/example-server.js';

/** P(Bin(n, 1/2) <= j), summed exactly. */
function binomialCdf(n: number, j: number): number {
  let choose = 1;
  let sum = 0;
  for (let i = 0; i <= j; i++) {
    sum += choose;
    choose = (choose * (n - i)) / (i + 1);
  }
  return sum / 2 ** n;
}

describe('medianInterval (the benches’ interval for a median)', () => {
  it('gives the median of odd and even counts, in any order', () => {
    expect(medianInterval([5, 1, 3]).median).toBe(3);
    expect(medianInterval([4, 1, 3, 2]).median).toBe(2.5);
  });

  it('has no interval below 6 values, where none reaches 95%', () => {
    expect(medianInterval([1, 2, 3, 4, 5])).toEqual({ median: 3 });
  });

  it('takes the widest-ranked order statistics that still hold the median with 95%', () => {
    for (const n of [6, 8, 12, 21, 40]) {
      const xs = Array.from({ length: n }, (_, i) => n - i); // n … 1: the ranks are the values
      const { low, high } = medianInterval(xs);
      const k = low!;
      expect(high).toBe(n - k + 1);
      // The interval [x(k), x(n-k+1)] misses the median with probability 2 P(Bin <= k-1):
      // at most 5% at k, more than 5% one rank further in.
      expect(2 * binomialCdf(n, k - 1)).toBeLessThanOrEqual(0.05);
      expect(2 * binomialCdf(n, k)).toBeGreaterThan(0.05);
    }
    expect(medianInterval(Array.from({ length: 12 }, (_, i) => i + 1))).toMatchObject({
      low: 3,
      high: 10,
    });
  });
});
