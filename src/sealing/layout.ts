/**
 * Where a sealed directory keeps its sealing state: `DIR/.sshcast/` (0700) holds the ledger, the
 * key state (the current epoch's key, overwritten in place), and the lock file.
 */
import fs from 'node:fs';
import path from 'node:path';
import { LEDGER_FILE } from './ledger.js';

/** The folder inside a recordings directory. */
export const SEAL_DIR = '.sshcast';

/** The key state file: the current epoch and its key, one fixed-size record. */
export const STATE_FILE = 'state';

/** The lock file: byte 0 locks the ledger, byte 1 is held by the one process that seals. */
export const LOCK_FILE = 'lock';

/** The paths of one directory's sealing files. */
export interface SealPaths {
  /** The recordings directory. */
  dir: string;
  /** `DIR/.sshcast`. */
  sealDir: string;
  ledger: string;
  state: string;
  lock: string;
}

/** The sealing paths of recordings directory `dir`. */
export function sealPaths(dir: string): SealPaths {
  const sealDir = path.join(dir, SEAL_DIR);
  return {
    dir,
    sealDir,
    ledger: path.join(sealDir, LEDGER_FILE),
    state: path.join(sealDir, STATE_FILE),
    lock: path.join(sealDir, LOCK_FILE),
  };
}

/**
 * Whether `dir` has been set up for sealing (`sshcast seal init`): its `.sshcast/` holds a ledger
 * or a key state. A `.sshcast/` holding neither (the example server's host key when it is run
 * inside its recordings directory) is not.
 */
export function isSealed(dir: string): boolean {
  const p = sealPaths(dir);
  return exists(p.ledger) || exists(p.state);
}

function exists(file: string): boolean {
  try {
    fs.lstatSync(file);
    return true;
  } catch {
    return false;
  }
}
