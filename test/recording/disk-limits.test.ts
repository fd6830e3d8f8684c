import { describe, expect, it } from 'vitest';
import {
  DiskLimits,
  describeDiskLimits,
  parseAccountBudget,
  parseMinFree,
  type SpaceInfo,
} from '../../src/recording/disk-limits.js';
import { ConfigError } from '../../src/errors.js';

const MiB = 1024 * 1024;

/** A file system of `size` bytes whose free space falls by what the limits admit. */
function disk(size: number, free: number) {
  const state = { size, free, reads: 0 };
  return {
    state,
    space: (): SpaceInfo => {
      state.reads++;
      return { size: state.size, free: state.free };
    },
  };
}

/** Writes `n` bytes of `account` in chunks of `chunk` as a recording would; stops at the cut. */
function write(
  limits: DiskLimits,
  d: ReturnType<typeof disk>,
  account: string,
  n: number,
  chunk = 64 * 1024,
) {
  let written = 0;
  while (written < n) {
    const cut = limits.admit(account, chunk);
    if (cut !== undefined) return { written, cut };
    d.state.free -= chunk;
    written += chunk;
  }
  return { written, cut: undefined };
}

describe('parsing', () => {
  it('--min-free: a size, a percentage, or none', () => {
    expect(parseMinFree('5%')).toEqual({ soft: '5%' });
    expect(parseMinFree('2.5%')).toEqual({ soft: '2.5%' });
    expect(parseMinFree('64M')).toEqual({ soft: 64 * MiB });
    expect(parseMinFree('none')).toBe(false);
    expect(parseMinFree('0')).toBe(false);
    for (const bad of ['', '101%', '-1', 'x', '5 %'])
      expect(() => parseMinFree(bad, '--min-free'), bad).toThrow(ConfigError);
  });

  it('--account-budget: SIZE[/WINDOW]', () => {
    expect(parseAccountBudget('1G')).toEqual({ bytes: 1024 ** 3 });
    expect(parseAccountBudget('100M/24h')).toEqual({ bytes: 100 * MiB, windowMs: 86_400_000 });
    expect(parseAccountBudget('1K/30s')).toEqual({ bytes: 1024, windowMs: 30_000 });
    for (const bad of ['', '1G/', '1G/0h', '1G/1w', 'x/1h', '1G/1h/2'])
      expect(() => parseAccountBudget(bad), bad).toThrow(ConfigError);
  });
});

describe('describeDiskLimits', () => {
  it('says what the defaults and the options do, in one line', () => {
    expect(describeDiskLimits()).toBe(
      'disk: below 5% of the file system free the account writing most is cut, below 2.5% of the file system every recording; no per-account budget',
    );
    expect(
      describeDiskLimits({
        minFree: { soft: 2 * 1024 ** 3, hard: 512 * MiB },
        accountBudget: { bytes: 1024 ** 3, windowMs: 86_400_000 },
      }),
    ).toBe(
      'disk: below 2.0 GiB free the account writing most is cut, below 512 MiB every recording; each account may write 1.0 GiB per 1d',
    );
    expect(describeDiskLimits({ minFree: false })).toMatch(/^disk: no free-space floor/);
  });
});

describe('the free-space floors', () => {
  it('without floors (the naive behaviour) nothing is ever cut', () => {
    const d = disk(100 * MiB, 100 * MiB);
    const limits = new DiskLimits({ minFree: false, space: d.space });
    expect(write(limits, d, 'mallory', 100 * MiB).cut).toBeUndefined();
    expect(d.state.free).toBe(0);
    expect(d.state.reads).toBe(0);
  });

  it('cut the account that wrote most at the soft floor; others go on and start; all stop at the hard floor', () => {
    const d = disk(100 * MiB, 50 * MiB);
    let now = 0;
    const limits = new DiskLimits({ minFree: { soft: '5%' }, space: d.space, now: () => now });
    expect(write(limits, d, 'alice', 1 * MiB).cut).toBeUndefined();
    const flood = write(limits, d, 'mallory', 100 * MiB);
    // Cut as the soft floor (5 MiB) is crossed, within one read step of it.
    expect(flood.cut).toMatch(
      /^recording cut: disk nearly full \(.* free of 100 MiB, below the soft floor of 5%\); this account wrote the most$/,
    );
    expect(d.state.free).toBeLessThan(5 * MiB);
    expect(d.state.free).toBeGreaterThan(5 * MiB - 256 * 1024);
    // The flooder starts nothing more; alice still writes and starts recordings.
    expect(limits.startProblem('mallory')).toMatch(/and account mallory wrote the most$/);
    expect(limits.startProblem('alice')).toBeUndefined();
    expect(limits.admit('alice', 1024)).toBeUndefined();
    d.state.free -= 1024;
    // Filling on below the soft floor cuts the next heaviest writer a quarter of the gap further
    // down, and at the hard floor (2.5%) everything stops.
    const bob = write(limits, d, 'bob', 10 * MiB);
    expect(bob.cut).toMatch(/this account wrote the most$/);
    expect(bob.written).toBeGreaterThan(0);
    expect(bob.written).toBeLessThanOrEqual(0.25 * 2.5 * MiB + 128 * 1024);
    d.state.free = 2 * MiB; // someone else fills the disk
    now += 1000; // read again after a second
    expect(limits.admit('carol', 1)).toMatch(/below the hard floor of 2.5%\)$/);
    expect(limits.startProblem('carol')).toMatch(
      /^disk nearly full: .*below the hard floor of 2.5%$/,
    );
    // Space freed: everyone writes and starts again.
    d.state.free = 60 * MiB;
    now += 1000;
    expect(limits.startProblem('mallory')).toBeUndefined();
    expect(limits.admit('mallory', 1)).toBeUndefined();
  });

  it('reads the file system once per step of bytes or per second, not per line', () => {
    const d = disk(1024 * MiB, 900 * MiB);
    let now = 0;
    const limits = new DiskLimits({ minFree: { soft: '5%' }, space: d.space, now: () => now });
    for (let i = 0; i < 10_000; i++) limits.admit('alice', 100);
    expect(d.state.reads).toBe(1);
    now = 1000;
    limits.admit('alice', 100);
    expect(d.state.reads).toBe(2);
  });

  it('a floor in bytes, and a hard floor of its own', () => {
    const d = disk(100 * MiB, 9 * MiB);
    const limits = new DiskLimits({ minFree: { soft: 10 * MiB, hard: 9.5 * MiB }, space: d.space });
    expect(limits.startProblem('alice')).toMatch(/below the hard floor of 9.5 MiB$/);
  });
});

describe('the per-account budget', () => {
  it('cuts an account at its budget until its window ends; other accounts are not held', () => {
    let now = 0;
    const limits = new DiskLimits({
      minFree: false,
      budget: { bytes: 10 * MiB, windowMs: 60_000 },
      now: () => now,
    });
    const d = disk(0, 0);
    const flood = write(limits, d, 'mallory', 100 * MiB);
    expect(flood.written).toBe(10 * MiB);
    expect(flood.cut).toBe(
      "recording cut: this account's recording budget of 10 MiB per 1m is used up",
    );
    expect(limits.startProblem('mallory')).toBe(
      'account mallory used its recording budget of 10 MiB per 1m (until 1970-01-01T00:01:00.000Z)',
    );
    expect(limits.startProblem('alice')).toBeUndefined();
    expect(write(limits, d, 'alice', 5 * MiB).cut).toBeUndefined();
    now = 60_000;
    expect(limits.startProblem('mallory')).toBeUndefined();
    expect(write(limits, d, 'mallory', 1 * MiB).cut).toBeUndefined();
  });
});
