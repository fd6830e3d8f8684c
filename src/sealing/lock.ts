/**
 * The locks of a sealed directory, as kernel open-file-description locks (fcntl F_OFD_SETLK,
 * through fs-native-extensions) on `DIR/.sshcast/lock`: byte 0 is the ledger lock, held for each
 * append or key move; byte 1 is held for its whole life by the one process that writes ticks.
 * The kernel drops both when the holder exits, crashes or is killed, so a stale lock cannot
 * block anyone (no lock files to clean up, no staleness timeouts, no pid reuse to guess at).
 */
import fs from 'node:fs';
import fsx from 'fs-native-extensions';
import { SealingError, SshcastError } from '../errors.js';

const LEDGER_BYTE = 0;
const SEALER_BYTE = 1;
const { O_RDWR, O_CREAT, O_NOFOLLOW } = fs.constants;

/** How long an append waits for another process's append (each holds the lock for ms). */
export const LEDGER_LOCK_TIMEOUT_MS = 10_000;

const sleeper = new Int32Array(new SharedArrayBuffer(4));
function sleepSync(ms: number): void {
  Atomics.wait(sleeper, 0, 0, ms);
}

/** The lock file of one sealed directory, open for this process. */
export class SealLocks {
  readonly path: string;
  readonly #fd: number;
  #ledgerHeld = false;
  #sealerHeld = false;

  private constructor(path: string, fd: number) {
    this.path = path;
    this.#fd = fd;
  }

  /** Opens (creating, 0600) the lock file `path`, never through a symlink. */
  static open(path: string): SealLocks {
    try {
      return new SealLocks(path, fs.openSync(path, O_RDWR | O_CREAT | O_NOFOLLOW, 0o600));
    } catch (cause) {
      throw new SealingError(
        `cannot open the lock file ${path}: ${(cause as NodeJS.ErrnoException).code ?? cause}`,
        { cause },
      );
    }
  }

  /**
   * Takes the ledger lock, waiting (the event loop blocked: appends are synchronous) up to
   * `timeoutMs` for another process to finish its append.
   */
  lockLedger(timeoutMs = LEDGER_LOCK_TIMEOUT_MS): void {
    if (this.#ledgerHeld)
      throw new SshcastError('ERR_INVALID_STATE', 'SealLocks: the ledger lock is already held');
    const deadline = Date.now() + timeoutMs;
    for (let wait = 1; !fsx.tryLock(this.#fd, LEDGER_BYTE, 1); wait = Math.min(wait * 2, 50)) {
      if (Date.now() >= deadline)
        throw new SealingError(
          `the sealing ledger stayed locked by another process for ${timeoutMs / 1000} s (${this.path})`,
        );
      sleepSync(wait);
    }
    this.#ledgerHeld = true;
  }

  unlockLedger(): void {
    if (!this.#ledgerHeld) return;
    fsx.unlock(this.#fd, LEDGER_BYTE, 1);
    this.#ledgerHeld = false;
  }

  /**
   * Takes the sealer's lock, without waiting: false when another process holds it (a running
   * sealing server, or a prune of a stopped one). `who` (`server`, `prune`, …) is recorded with
   * this process's pid, for the other process's error message.
   */
  trySealer(who: string): boolean {
    if (this.#sealerHeld) return true;
    if (!fsx.tryLock(this.#fd, SEALER_BYTE, 1)) return false;
    this.#sealerHeld = true;
    const text = Buffer.from(`${process.pid} ${who}\n`.padEnd(64, ' '));
    try {
      fs.writeSync(this.#fd, text, 0, text.length, 0);
    } catch {
      // Only the other process's error message would miss it.
    }
    return true;
  }

  /** Who holds the sealer's lock, as it recorded itself (`1234 server`), or undefined. */
  holder(): string | undefined {
    try {
      const text = fs.readFileSync(this.path, 'latin1').trim();
      return /^[0-9]+ [a-z-]+$/.test(text) ? text : undefined;
    } catch {
      return undefined;
    }
  }

  releaseSealer(): void {
    if (!this.#sealerHeld) return;
    fsx.unlock(this.#fd, SEALER_BYTE, 1);
    this.#sealerHeld = false;
  }

  /** Whether this process holds the sealer's lock. */
  get sealer(): boolean {
    return this.#sealerHeld;
  }

  /** Releases both locks and the file. */
  close(): void {
    this.unlockLedger();
    this.releaseSealer();
    fs.closeSync(this.#fd);
  }
}
