/**
 * The keys of `fss1` (DESIGN section 7): the verification key `sshcast-fss1:<t0>:<D>:<K0 hex>`,
 * the evolving epoch key K(e+1) = SHA-256("sshcast-fss1-evolve" ‖ K(e)), and the epochs,
 * [t0 + e*D, t0 + (e+1)*D) in wall-clock seconds. Pure: no I/O.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { SealingError, SshcastError } from '../errors.js';

/** The construction's name, the prefix of every verification key. */
export const FSS1 = 'sshcast-fss1';

/** The interval when `seal init` is not given one: 15 minutes, as journald's sealing. */
export const DEFAULT_INTERVAL = 15 * 60;

const EVOLVE = Buffer.from('sshcast-fss1-evolve', 'ascii');

/** What verifies a sealed directory: its start, its interval and the seed of its epoch keys. */
export interface VerificationKey {
  /** Integer Unix seconds at `seal init`. */
  t0: number;
  /** The interval D in seconds (at least 1). */
  interval: number;
  /** K0, 32 bytes. */
  seed: Buffer;
}

/** The key as `seal init` prints it. */
export function formatVerificationKey(key: VerificationKey): string {
  return `${FSS1}:${key.t0}:${key.interval}:${key.seed.toString('hex')}`;
}

const KEY = /^sshcast-fss1:(0|[1-9][0-9]{0,15}):([1-9][0-9]{0,15}):([0-9a-f]{64})$/;

/** Parses `sshcast-fss1:<t0>:<D>:<64 lowercase hex>`; a SealingError says what is wrong. */
export function parseVerificationKey(text: string): VerificationKey {
  const m = KEY.exec(text.trim());
  if (!m) {
    throw new SealingError(
      'not a verification key: expected sshcast-fss1:<t0>:<interval>:<64 lowercase hex digits>',
    );
  }
  const t0 = Number(m[1]);
  const interval = Number(m[2]);
  if (!Number.isSafeInteger(t0) || !Number.isSafeInteger(interval))
    throw new SealingError('not a verification key: t0 or interval out of range');
  return { t0, interval, seed: Buffer.from(m[3]!, 'hex') };
}

/** K(e+1) from K(e). */
export function evolve(key: Buffer): Buffer {
  return createHash('sha256').update(EVOLVE).update(key).digest();
}

/** K(e) from K0 by e evolutions. */
export function keyAt(seed: Buffer, epoch: number): Buffer {
  let k = seed;
  for (let i = 0; i < epoch; i++) k = evolve(k);
  return k;
}

/**
 * Keys of increasing epochs from one seed, each computed once from the last: a verifier walks
 * the ledger in epoch order, so this costs one hash per epoch in all.
 */
export class KeySchedule {
  #epoch = 0;
  #key: Buffer;

  constructor(seed: Buffer) {
    this.#key = seed;
  }

  /** K(epoch); `epoch` must not be below the last one asked for. */
  at(epoch: number): Buffer {
    if (epoch < this.#epoch)
      throw new SshcastError('ERR_INVALID_STATE', 'KeySchedule: epochs must not decrease');
    while (this.#epoch < epoch) {
      this.#key = evolve(this.#key);
      this.#epoch++;
    }
    return this.#key;
  }
}

/** The epochs' arithmetic for one t0 and interval. */
export interface EpochClock {
  t0: number;
  interval: number;
}

/** The epoch holding wall-clock second `t` (negative before t0). */
export function epochOf(c: EpochClock, t: number): number {
  return Math.floor((t - c.t0) / c.interval);
}

/** The first second of epoch `e`. */
export function epochStart(c: EpochClock, e: number): number {
  return c.t0 + e * c.interval;
}

/** The last second of epoch `e` (its range is [start, start + D), integer seconds). */
export function epochLast(c: EpochClock, e: number): number {
  return c.t0 + (e + 1) * c.interval - 1;
}

/** `t` clamped into epoch `e`'s range. */
export function clampToEpoch(c: EpochClock, e: number, t: number): number {
  return Math.min(Math.max(t, epochStart(c, e)), epochLast(c, e));
}

/** Whether two secrets are equal, in constant time. */
export function sameSecret(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

const DURATION = /^([0-9]{1,12})([smhd]?)$/;
const UNIT = { '': 1, s: 1, m: 60, h: 3600, d: 86400 } as const;

/**
 * Parses a duration such as `15m`, `10s`, `12h`, `30d` or plain seconds, into whole seconds.
 * Returns undefined when `text` is not one.
 */
export function parseDuration(text: string): number | undefined {
  const m = DURATION.exec(text.trim());
  if (!m) return undefined;
  const n = Number(m[1]) * UNIT[m[2] as keyof typeof UNIT];
  return Number.isSafeInteger(n) ? n : undefined;
}

/** Seconds as the shortest of `15m`, `1h`, `30d` or `45s` that is exact. */
export function formatInterval(seconds: number): string {
  for (const [unit, n] of [
    ['d', 86400],
    ['h', 3600],
    ['m', 60],
  ] as const) {
    if (seconds >= n && seconds % n === 0) return `${seconds / n}${unit}`;
  }
  return `${seconds}s`;
}
