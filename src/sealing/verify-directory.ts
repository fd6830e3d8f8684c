/**
 * Verifying a recordings directory on this machine: picks the ledger whose t0 is the key's
 * (`ledger.jsonl`, or a rotated `ledger-<t0>.jsonl`), checks it, and judges the directory's
 * recordings. Reads only; takes no lock (a line being appended reads as cut short).
 */
import fs from 'node:fs';
import path from 'node:path';
import { SealingError } from '../errors.js';
import { rotatedLedgerFile, splitMac } from './ledger.js';
import { sealPaths } from './layout.js';
import type { VerificationKey } from './key.js';
import {
  checkLedger,
  judgeRecordings,
  verifyReport,
  type CheckOptions,
  type RecordingSource,
  type VerifyReport,
} from './verify.js';

const { O_RDONLY, O_NOFOLLOW, O_NONBLOCK } = fs.constants;
const CHUNK = 1 << 20;

/** The regular `*.cast` files directly in `dir`, read without following symlinks. */
export function directorySource(dir: string): RecordingSource {
  return {
    async names() {
      const entries = await fs.promises.readdir(dir, { withFileTypes: true });
      return entries.filter((e) => e.isFile() && e.name.endsWith('.cast')).map((e) => e.name);
    },
    read(name) {
      let fd: number;
      try {
        fd = fs.openSync(path.join(dir, name), O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
        if (!fs.fstatSync(fd).isFile()) {
          fs.closeSync(fd);
          return undefined;
        }
      } catch {
        return undefined;
      }
      return chunks(fd);
    },
  };
}

async function* chunks(fd: number): AsyncGenerator<Buffer> {
  const buf = Buffer.allocUnsafe(CHUNK);
  try {
    for (;;) {
      const n = await new Promise<number>((resolve, reject) =>
        fs.read(fd, buf, 0, CHUNK, null, (err, bytes) => (err ? reject(err) : resolve(bytes))),
      );
      if (n === 0) return;
      yield buf.subarray(0, n);
    }
  } finally {
    fs.closeSync(fd);
  }
}

/** The time in the first line of a ledger (its init's, unverified), or undefined. */
function firstTime(file: string): number | undefined {
  let fd: number | undefined;
  try {
    fd = fs.openSync(file, O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
    const buf = Buffer.alloc(4096);
    const n = fs.readSync(fd, buf, 0, buf.length, 0);
    const nl = buf.subarray(0, n).indexOf(10);
    const line = buf.subarray(0, nl === -1 ? n : nl);
    const json = JSON.parse(splitMac(line).json.toString('utf8')) as { time?: unknown };
    return typeof json.time === 'number' ? json.time : undefined;
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/** The ledger of `dir` that belongs to `key`: the current one, or the rotated one of its t0. */
export function ledgerFor(dir: string, key: VerificationKey): string {
  const p = sealPaths(dir);
  if (firstTime(p.ledger) === key.t0) return p.ledger;
  const rotated = path.join(p.sealDir, rotatedLedgerFile(key.t0));
  if (fs.existsSync(rotated)) return rotated;
  if (!fs.existsSync(p.ledger))
    throw new SealingError(`${dir} is not set up for sealing (no ${p.ledger})`);
  return p.ledger;
}

function readLedger(file: string): Buffer {
  try {
    const fd = fs.openSync(file, O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
    try {
      if (!fs.fstatSync(fd).isFile()) throw new SealingError(`${file} is not a regular file`);
      return fs.readFileSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  } catch (err) {
    if (err instanceof SealingError) throw err;
    const code = (err as NodeJS.ErrnoException).code ?? String(err);
    throw new SealingError(`cannot read the ledger ${file}: ${code}`, { cause: err });
  }
}

/** Verifies the recordings directory `dir` with `key`. `now` is Unix seconds. */
export async function verifyDirectory(
  dir: string,
  key: VerificationKey,
  options: CheckOptions = {},
): Promise<VerifyReport> {
  const file = ledgerFor(dir, key);
  const ledger = checkLedger(readLedger(file), key, options);
  return verifyReport(file, ledger, await judgeRecordings(ledger, directorySource(dir)));
}
