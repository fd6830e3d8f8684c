/**
 * What keeps recordings from filling the disk: two free-space floors on the recordings' file
 * system, relative to its size by default, and an optional per-account budget. A recording that
 * meets a limit is cut (one `m` event saying why, then only its `x`); a recording that cannot
 * start is a start failure, handled by the start policy.
 *
 * - Above the soft floor (default 5% of the file system) nothing happens.
 * - Below it, the account that wrote most in the current window has its recordings cut and
 *   starts no new one; every other account goes on and starts new recordings. Each further
 *   quarter of the gap to the hard floor that is used up cuts the account that used most of it.
 * - Below the hard floor (default half the soft one) every recording is cut at its next write
 *   and none starts.
 * - An account over its budget (bytes per window) has its recordings cut and starts none until
 *   its window ends.
 */
import { ConfigError } from '../errors.js';
import { formatSize } from '../text/units.js';
import { parseSize } from './policy.js';

/** Bytes, or a percentage of the file system's size such as `'5%'`. */
export type SpaceAmount = number | `${number}%`;

/** The free space recordings leave on their file system (see the module's comment). */
export interface FreeSpaceFloor {
  /** Below it the heaviest writer is cut and cannot start recordings. */
  soft: SpaceAmount;
  /** Below it every recording is cut and none starts. Default: half of `soft`. */
  hard?: SpaceAmount;
}

/** An account's recordings may write `bytes` per window of `windowMs`. */
export interface AccountBudget {
  bytes: number;
  /** Default {@link DEFAULT_BUDGET_WINDOW_MS}, one hour. */
  windowMs?: number;
}

/** The default floors: 5% of the file system, and half that (2.5%) for the hard one. */
export const DEFAULT_MIN_FREE: Readonly<FreeSpaceFloor> = Object.freeze({ soft: '5%' });

/** The window of an {@link AccountBudget} when it names none, and of "wrote most": one hour. */
export const DEFAULT_BUDGET_WINDOW_MS = 3_600_000;

/** A file system's size and the bytes an unprivileged user may still write there. */
export interface SpaceInfo {
  size: number;
  free: number;
}

const PERCENT = /^(\d+(?:\.\d+)?)%$/;

function checkAmount(amount: SpaceAmount, name: string): void {
  const ok =
    typeof amount === 'number'
      ? Number.isSafeInteger(amount) && amount >= 0
      : PERCENT.test(amount) && Number(PERCENT.exec(amount)![1]) <= 100;
  if (!ok) throw new ConfigError(`invalid ${name} ${JSON.stringify(amount)}`);
}

/**
 * Parses `--min-free`: a size (bytes with an optional K, M or G), a percentage of the file
 * system (`5%`), or `0`/`none` for no floor. The hard floor is half of it.
 */
export function parseMinFree(text: string, name = 'min-free'): FreeSpaceFloor | false {
  const t = text.trim();
  if (t === '0' || t === 'none') return false;
  if (PERCENT.test(t)) {
    const soft = t as `${number}%`;
    checkAmount(soft, name);
    return { soft };
  }
  try {
    return { soft: parseSize(t, name) };
  } catch {
    throw new ConfigError(
      `invalid ${name} ${JSON.stringify(text)}: use a size (bytes with an optional K, M or G), a percentage of the file system such as 5%, or none`,
    );
  }
}

const DURATION = /^(\d+)(s|m|h|d)$/;
const DURATION_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** Parses `SIZE[/WINDOW]`, e.g. `1G/24h` (window in s, m, h or d; default 1h). */
export function parseAccountBudget(text: string, name = 'account-budget'): AccountBudget {
  const [size = '', window, ...rest] = text.trim().split('/');
  const bad = () =>
    new ConfigError(
      `invalid ${name} ${JSON.stringify(text)}: use SIZE[/WINDOW], e.g. 1G/24h (window in s, m, h or d)`,
    );
  if (rest.length > 0) throw bad();
  let bytes: number;
  try {
    bytes = parseSize(size, name);
  } catch {
    throw bad();
  }
  if (window === undefined) return { bytes };
  const m = DURATION.exec(window);
  if (!m || Number(m[1]) === 0) throw bad();
  return { bytes, windowMs: Number(m[1]) * DURATION_MS[m[2] as keyof typeof DURATION_MS] };
}

function bytesOf(amount: SpaceAmount, size: number): number {
  if (typeof amount === 'number') return amount;
  return Math.ceil((size * Number(PERCENT.exec(amount)![1])) / 100);
}

/** The hard floor: as given, or half the soft one. */
function hardOf(floor: FreeSpaceFloor): SpaceAmount {
  if (floor.hard !== undefined) return floor.hard;
  return typeof floor.soft === 'number'
    ? Math.floor(floor.soft / 2)
    : (`${Number(PERCENT.exec(floor.soft)![1]) / 2}%` as const);
}

function describeAmount(amount: SpaceAmount): string {
  return typeof amount === 'number' ? formatSize(amount, 'iec') : `${amount} of the file system`;
}

/**
 * One line saying what keeps recordings from filling the disk, for a host to print at start:
 * `disk: below 5% of the file system free the account writing most is cut, below 2.5% of the
 * file system every recording; no per-account budget`.
 */
export function describeDiskLimits(
  options: { minFree?: FreeSpaceFloor | SpaceAmount | false; accountBudget?: AccountBudget } = {},
): string {
  const given = options.minFree ?? DEFAULT_MIN_FREE;
  const floor = typeof given === 'object' || given === false ? given : { soft: given };
  const floors =
    floor === false
      ? 'no free-space floor (recordings may fill the disk)'
      : `below ${describeAmount(floor.soft)} free the account writing most is cut, below ${describeAmount(hardOf(floor))} every recording`;
  const b = options.accountBudget;
  const budget = b
    ? `each account may write ${formatSize(b.bytes, 'iec')} per ${describeWindow(b.windowMs ?? DEFAULT_BUDGET_WINDOW_MS)}`
    : 'no per-account budget';
  return `disk: ${floors}; ${budget}`;
}

function describeWindow(ms: number): string {
  for (const [unit, n] of [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
  ] as const)
    if (ms % n === 0) return `${ms / n}${unit}`;
  return `${ms / 1000}s`;
}

/** Bytes per account in fixed windows that start at the account's first write in them. */
class Ledger {
  readonly #windowMs: number;
  readonly #accounts = new Map<string, { since: number; bytes: number }>();

  constructor(windowMs: number) {
    this.#windowMs = windowMs;
  }

  #entry(account: string, now: number): { since: number; bytes: number } {
    let e = this.#accounts.get(account);
    if (!e || now - e.since >= this.#windowMs) {
      e = { since: now, bytes: 0 };
      this.#accounts.set(account, e);
    }
    return e;
  }

  bytes(account: string, now: number): number {
    const e = this.#accounts.get(account);
    return e && now - e.since < this.#windowMs ? e.bytes : 0;
  }

  /** When the account's current window ends. */
  windowEnd(account: string, now: number): number {
    return this.#entry(account, now).since + this.#windowMs;
  }

  add(account: string, n: number, now: number): void {
    this.#entry(account, now).bytes += n;
  }

  /** The account that wrote most in its current window, of those `eligible`. */
  heaviest(now: number, eligible: (account: string) => boolean): string | undefined {
    let best: string | undefined;
    let most = -1;
    for (const [account, e] of this.#accounts) {
      if (now - e.since >= this.#windowMs) {
        this.#accounts.delete(account);
        continue;
      }
      if (e.bytes > most && eligible(account)) [best, most] = [account, e.bytes];
    }
    return best;
  }
}

function heaviestOf(bytes: Map<string, number>): string | undefined {
  let best: string | undefined;
  let most = -1;
  for (const [account, n] of bytes) if (n > most) [best, most] = [account, n];
  return best;
}

/** Re-read the file system at least this often while recordings write. */
const STAT_INTERVAL_MS = 1000;

/** Options of {@link DiskLimits}. */
export interface DiskLimitsOptions {
  /** The floors, or false for none. */
  minFree: FreeSpaceFloor | false;
  budget?: AccountBudget | undefined;
  /** The recordings' file system now; undefined when recordings are not files. */
  space?: (() => SpaceInfo) | undefined;
  /** Milliseconds, for windows and re-reads; default Date.now. */
  now?: () => number;
}

/** The floors in bytes for a file system of a given size. */
interface Floors {
  size: number;
  soft: number;
  hard: number;
  /** Used up below the soft floor before the next heaviest writer is cut. */
  step: number;
}

/**
 * @internal The bookkeeping behind {@link FreeSpaceFloor} and {@link AccountBudget}, shared by
 * a Recorder's recordings: `startProblem()` before a recording starts, `admit()` before each
 * line. Free space is read with statfs when the bytes admitted since the last read reach a
 * step, or a second has passed, and estimated from the bytes admitted in between: no system
 * call per line.
 */
export class DiskLimits {
  readonly #minFree: FreeSpaceFloor | false;
  readonly #budget: AccountBudget | undefined;
  readonly #space: (() => SpaceInfo) | undefined;
  readonly #now: () => number;
  readonly #ledger: Ledger;
  #floors: Floors | undefined;
  #free = Infinity;
  #readAt = -Infinity;
  #sinceRead = 0;
  /** Accounts cut at the soft floor, until free space is above it again. */
  readonly #cut = new Set<string>();
  /** Free space when the last account was cut at the soft floor. */
  #lastCutFree: number | undefined;
  /** Bytes per account admitted below the soft floor since the last cut. */
  readonly #sinceCut = new Map<string, number>();

  constructor(options: DiskLimitsOptions) {
    this.#minFree = options.minFree;
    if (this.#minFree) {
      checkAmount(this.#minFree.soft, 'minFree.soft');
      if (this.#minFree.hard !== undefined) checkAmount(this.#minFree.hard, 'minFree.hard');
    }
    this.#budget = options.budget;
    const b = this.#budget;
    if (
      b &&
      (!Number.isSafeInteger(b.bytes) ||
        b.bytes <= 0 ||
        (b.windowMs !== undefined && !(b.windowMs > 0)))
    )
      throw new ConfigError(`invalid accountBudget ${JSON.stringify(b)}`);
    this.#space = this.#minFree ? options.space : undefined;
    this.#now = options.now ?? Date.now;
    this.#ledger = new Ledger(b?.windowMs ?? DEFAULT_BUDGET_WINDOW_MS);
  }

  #read(now: number): void {
    const info = this.#space!();
    const floor = this.#minFree as FreeSpaceFloor;
    if (this.#floors?.size !== info.size) {
      const soft = bytesOf(floor.soft, info.size);
      const hard = Math.min(
        soft,
        floor.hard === undefined ? Math.floor(soft / 2) : bytesOf(floor.hard, info.size),
      );
      this.#floors = { size: info.size, soft, hard, step: Math.max(1, (soft - hard) / 4) };
    }
    this.#free = info.free;
    this.#readAt = now;
    this.#sinceRead = 0;
  }

  /** 'ok', 'soft' or 'hard': where free space stands, read again when the estimate is stale. */
  #level(now: number): 'ok' | 'soft' | 'hard' {
    if (!this.#space) return 'ok';
    const f = this.#floors;
    const step = f ? Math.max(64 * 1024, Math.min(f.step, 64 * 1024 * 1024)) : 0;
    if (!f || now - this.#readAt >= STAT_INTERVAL_MS || this.#sinceRead >= step) this.#read(now);
    const free = this.#free - this.#sinceRead;
    const { soft, hard } = this.#floors!;
    if (free < hard) return 'hard';
    if (free < soft) return 'soft';
    // Cleared only when there is something to clear: clear() gives even an empty Map a new
    // table, which at one call a line was most of this method's cost.
    if (this.#cut.size > 0) this.#cut.clear();
    if (this.#sinceCut.size > 0) this.#sinceCut.clear();
    this.#lastCutFree = undefined;
    return 'ok';
  }

  #describe(level: 'soft' | 'hard'): string {
    const f = this.#floors!;
    const free = Math.max(0, this.#free - this.#sinceRead);
    const amount = level === 'soft' ? this.#minFree && this.#minFree.soft : this.#hardAmount();
    return `${formatSize(free, 'iec')} free of ${formatSize(f.size, 'iec')}, below the ${level} floor of ${typeof amount === 'string' ? amount : formatSize(level === 'soft' ? f.soft : f.hard, 'iec')}`;
  }

  #hardAmount(): SpaceAmount | undefined {
    return this.#minFree ? hardOf(this.#minFree) : undefined;
  }

  #budgetText(): string {
    const b = this.#budget!;
    return `${formatSize(b.bytes, 'iec')} per ${describeWindow(b.windowMs ?? DEFAULT_BUDGET_WINDOW_MS)}`;
  }

  /** Why `account` cannot start a recording now, or undefined when it can. */
  startProblem(account: string): string | undefined {
    const now = this.#now();
    if (this.#budget && this.#ledger.bytes(account, now) >= this.#budget.bytes) {
      const end = new Date(this.#ledger.windowEnd(account, now)).toISOString();
      return `account ${account} used its recording budget of ${this.#budgetText()} (until ${end})`;
    }
    const level = this.#level(now);
    if (level === 'hard') return `disk nearly full: ${this.#describe('hard')}`;
    if (level === 'soft' && this.#cut.has(account))
      return `disk nearly full: ${this.#describe('soft')}, and account ${account} wrote the most`;
    return undefined;
  }

  /**
   * Before `n` more bytes of `account`'s recording are written: undefined to write them (they are
   * counted), or the marker text saying why the recording is cut.
   */
  admit(account: string, n: number): string | undefined {
    const now = this.#now();
    const used = this.#budget ? this.#ledger.bytes(account, now) : 0;
    if (this.#budget && used + n > this.#budget.bytes) {
      // Used up: what is left of it is too little for this line, and it starts nothing more.
      this.#ledger.add(account, this.#budget.bytes - used, now);
      return `recording cut: this account's recording budget of ${this.#budgetText()} is used up`;
    }
    const level = this.#level(now);
    if (level === 'hard') return `recording cut: disk nearly full (${this.#describe('hard')})`;
    if (level === 'soft') {
      // The first cut: who wrote most in the window brought the disk here. Each later one:
      // who used most of the last step below the floor.
      const free = this.#free - this.#sinceRead;
      const first = this.#lastCutFree === undefined;
      if (first || free <= this.#lastCutFree! - this.#floors!.step) {
        const victim = first
          ? this.#ledger.heaviest(now, (a) => !this.#cut.has(a))
          : heaviestOf(this.#sinceCut);
        if (victim !== undefined) {
          this.#cut.add(victim);
          this.#lastCutFree = free;
          this.#sinceCut.clear();
        }
      }
      if (this.#cut.has(account))
        return `recording cut: disk nearly full (${this.#describe('soft')}); this account wrote the most`;
      this.#sinceCut.set(account, (this.#sinceCut.get(account) ?? 0) + n);
    }
    this.#ledger.add(account, n, now);
    this.#sinceRead += n;
    return undefined;
  }
}
