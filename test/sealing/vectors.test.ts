/**
 * The shared fss1 vectors (a copy in test/fixtures/fss1): for every case our verifier gives the
 * contract's exit code and, for each recording, its word (and the detail one verifier printed,
 * which ours matches), and its ledger line starts with the one given.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatLedger, formatVerdict } from '../../src/cli/verify.js';
import { parseVerificationKey } from '../../src/sealing/key.js';
import { verifyDirectory } from '../../src/sealing/verify-directory.js';
import { VECTORS, vectors } from './helpers.js';

describe('fss1 vectors', () => {
  it('has all 24 cases, each a directory', () => {
    expect(vectors.cases).toHaveLength(24);
    for (const c of vectors.cases)
      expect(fs.statSync(path.join(VECTORS, c.dir)).isDirectory()).toBe(true);
  });

  for (const c of vectors.cases) {
    it(`${c.dir}: ${c.what}`, async () => {
      const key = parseVerificationKey(c.key ?? vectors.verificationKey);
      const now = Math.floor(Date.now() / 1000);
      const report = await verifyDirectory(path.join(VECTORS, c.dir), key, { now });
      expect(report.exitCode).toBe(c.exit);
      const got = Object.fromEntries(
        report.recordings.map((v) => [v.file, formatVerdict(v).slice(v.file.length + 2)]),
      );
      expect(got).toEqual(c.recordings);
      expect(formatLedger(report.ledger, now).startsWith(c.ledger)).toBe(true);
    });
  }
});
