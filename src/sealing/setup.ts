/**
 * `sshcast seal init` as a library call: sets a recordings directory up for sealing (a random
 * seed K0, t0 = now, the interval and retention), writes the key state and the ledger's `init`
 * entry, and returns the verification key, which is shown once and kept off the device.
 * `rotate` starts a new key on a directory already set up, keeping the old ledger as
 * `ledger-<old t0>.jsonl` for the old key to verify.
 */
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { SealingError } from '../errors.js';
import { DEFAULT_INTERVAL, type VerificationKey } from './key.js';
import { LEDGER_FILE, rotatedLedgerFile, sealEntry, splitMac, ZERO_PREV } from './ledger.js';
import { isSealed, sealPaths } from './layout.js';
import { SealLocks } from './lock.js';
import { encodeState, writeState, type KeyState } from './state.js';

const { O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW, O_RDONLY, O_DIRECTORY } = fs.constants;

/** Options for {@link initSealing}. */
export interface InitOptions {
  /** The interval D in seconds (at least 1). Default 15 minutes. */
  interval?: number;
  /** The retention R in seconds: prune refuses to remove a recording sooner. Default 0 (none). */
  retention?: number;
  /** Start a new key on a directory already set up (after a suspected compromise). */
  rotate?: boolean;
  /** K0; random unless given (tests reproduce the shared vectors with it). */
  seed?: Buffer;
  /** t0, integer Unix seconds. Default now. */
  now?: number;
}

/** What {@link initSealing} did. */
export interface InitResult {
  key: VerificationKey;
  /** With `rotate`: where the old ledger went. */
  rotatedLedger?: string;
}

function createExclusive(file: string, data: Buffer): void {
  const fd = fs.openSync(file, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600);
  try {
    fs.fchmodSync(fd, 0o600);
    fs.writeSync(fd, data);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

function syncDir(dir: string): void {
  const fd = fs.openSync(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

function firstEntryTime(ledger: string): number {
  let time: unknown;
  let cause: unknown;
  const fd = fs.openSync(ledger, O_RDONLY | O_NOFOLLOW);
  try {
    const buf = Buffer.alloc(4096);
    const n = fs.readSync(fd, buf, 0, buf.length, 0);
    const nl = buf.subarray(0, n).indexOf(10);
    time = (
      JSON.parse(splitMac(buf.subarray(0, nl === -1 ? n : nl)).json.toString()) as {
        time?: unknown;
      }
    ).time;
  } catch (err) {
    cause = err;
  } finally {
    fs.closeSync(fd);
  }
  if (typeof time !== 'number')
    throw new SealingError(`cannot read the old ledger's init entry in ${ledger}`, { cause });
  return time;
}

/** Refuses a `dir` that is missing, not a directory, or a symlink. */
function checkDirectory(dir: string): void {
  try {
    fs.closeSync(fs.openSync(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW));
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT'
        ? 'no such directory'
        : code === 'ELOOP' || code === 'ENOTDIR'
          ? 'it is a symlink or not a directory'
          : String(code ?? cause);
    throw new SealingError(`cannot set up ${dir} for sealing: ${why}`, { cause });
  }
}

/**
 * Sets `dir` up for sealing and returns the verification key. `dir` must exist: `sshcast seal
 * init` creates and checks it first as the Recorder does (0700, no symlink, not writable by
 * others). Refuses a directory already set up unless `rotate`, and refuses to rotate
 * while a sealing process runs.
 */
export function initSealing(dir: string, options: InitOptions = {}): InitResult {
  const interval = options.interval ?? DEFAULT_INTERVAL;
  const retention = options.retention ?? 0;
  if (!Number.isSafeInteger(interval) || interval < 1)
    throw new SealingError('the interval must be a whole number of seconds, at least 1');
  if (!Number.isSafeInteger(retention) || retention < 0)
    throw new SealingError('the retention must be a whole number of seconds');
  const seed = options.seed ?? randomBytes(32);
  if (seed.length !== 32) throw new SealingError('the seed must be 32 bytes');
  const t0 = options.now ?? Math.floor(Date.now() / 1000);
  checkDirectory(dir);
  const paths = sealPaths(dir);
  const sealed = isSealed(dir);
  if (sealed && !options.rotate)
    throw new SealingError(
      `${dir} is already set up for sealing (${paths.sealDir}); --rotate starts a new key`,
    );
  if (!sealed && options.rotate)
    throw new SealingError(`${dir} is not set up for sealing yet: run seal init without --rotate`);
  try {
    fs.mkdirSync(paths.sealDir, { mode: 0o700 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const st = fs.lstatSync(paths.sealDir);
  if (!st.isDirectory()) throw new SealingError(`${paths.sealDir} is not a directory`);
  fs.chmodSync(paths.sealDir, 0o700);

  const state: KeyState = { t0, interval, retention, epoch: 0, key: seed };
  const init = sealEntry(
    { seq: 0, epoch: 0, time: t0, prev: ZERO_PREV, kind: 'init', interval, retention },
    seed,
  );
  const key: VerificationKey = { t0, interval, seed: Buffer.from(seed) };
  if (!options.rotate) {
    createExclusive(paths.state, encodeState(state));
    createExclusive(paths.ledger, init);
    syncDir(paths.sealDir);
    return { key };
  }

  const locks = SealLocks.open(paths.lock);
  try {
    if (!locks.trySealer('rotate')) {
      const who = locks.holder();
      throw new SealingError(
        `${dir} is being sealed by a running process${who ? ` (pid ${who.replace(' ', ', ')})` : ''}: stop it before --rotate`,
      );
    }
    locks.lockLedger();
    const oldT0 = firstEntryTime(paths.ledger);
    if (oldT0 === t0) throw new SealingError('the new key would have the same t0: wait a second');
    const rotated = path.join(paths.sealDir, rotatedLedgerFile(oldT0));
    if (fs.existsSync(rotated)) throw new SealingError(`${rotated} exists already`);
    fs.renameSync(paths.ledger, rotated);
    createExclusive(path.join(paths.sealDir, LEDGER_FILE), init);
    syncDir(paths.sealDir);
    // The old key is overwritten where it lay, never renamed away.
    const fd = fs.openSync(paths.state, fs.constants.O_RDWR | O_NOFOLLOW);
    try {
      writeState(fd, state);
    } finally {
      fs.closeSync(fd);
    }
    return { key, rotatedLedger: rotated };
  } finally {
    locks.close();
  }
}
