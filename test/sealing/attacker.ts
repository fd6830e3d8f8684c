/**
 * What an attacker who is root on the device does to a sealed directory: edit recordings, cut
 * the ledger, and re-seal with whatever key the device holds now. Written with the project's own
 * ledger code, as an attacker would use it.
 */
import fs from 'node:fs';
import path from 'node:path';
import { chainOf } from '../../src/sealing/chain.js';
import { sealPaths } from '../../src/sealing/layout.js';
import {
  isFileEntry,
  nextPrev,
  parseEntry,
  sealEntry,
  splitLines,
  splitMac,
  ZERO_PREV,
  type LedgerEntry,
} from '../../src/sealing/ledger.js';
import { SealStore, type NewEntry } from '../../src/sealing/store.js';

/** The ledger's entries, parsed. */
export function ledgerEntries(dir: string): LedgerEntry[] {
  return splitLines(fs.readFileSync(sealPaths(dir).ledger)).lines.map((l) => {
    const e = parseEntry(splitMac(l).json);
    if (typeof e === 'string') throw new Error(e);
    return e;
  });
}

/** Writes `entries` as the ledger, each sealed with `keyFor(its epoch)` and linked by prev. */
export function writeLedger(
  dir: string,
  entries: LedgerEntry[],
  keyFor: (epoch: number) => Buffer,
): void {
  let prev = ZERO_PREV;
  const lines = entries.map((e, seq) => {
    const line = sealEntry({ ...e, seq, prev }, keyFor(e.epoch));
    prev = nextPrev(line.subarray(0, line.length - 1));
    return line;
  });
  fs.writeFileSync(sealPaths(dir).ledger, Buffer.concat(lines));
}

/** The recording's lines (each with its LF). */
export function castLines(file: string): Buffer[] {
  const data = fs.readFileSync(file);
  const out: Buffer[] = [];
  for (let start = 0; start < data.length;) {
    const nl = data.indexOf(10, start);
    const end = nl === -1 ? data.length : nl + 1;
    out.push(data.subarray(start, end));
    start = end;
  }
  return out;
}

/** The chain of the first `lines` lines of `file` as it is now. */
export function chainThrough(
  file: string,
  lines: number,
): Pick<LedgerEntry & { chain: string }, 'chain'> & { lines: number; bytes: number } {
  const data = Buffer.concat(castLines(file).slice(0, lines));
  const c = chainOf(data);
  return { lines: c.lines, bytes: c.bytes, chain: c.chain };
}

/** Replaces `entry`'s chain values with what `dir`'s file now holds through the same line. */
export function rechain(dir: string, e: LedgerEntry): LedgerEntry {
  if (!isFileEntry(e)) return e;
  return { ...e, ...chainThrough(path.join(dir, e.file), e.lines) };
}

/**
 * Appends `entries` with the key state the device holds now (read from `DIR/.sshcast/state`,
 * as any process of the device would), with valid seq, prev and macs, at `now`.
 */
export function sealWithDeviceKey(dir: string, entries: NewEntry[], now: number): void {
  const store = SealStore.open(dir);
  try {
    store.transact((tx) => {
      for (const e of entries) tx.append(e, now);
    });
  } finally {
    store.close();
  }
}
