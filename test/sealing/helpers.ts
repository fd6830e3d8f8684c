/** Helpers for the sealing tests: a temporary sealed directory and a sink that counts bytes. */
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Sink } from '../../src/recording/sink.js';

/** A fresh directory (0700) under the system's temporary directory. */
export function tempDir(prefix = 'sshcast-seal-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** A sink that keeps what it is given and says at once that all of it is written. */
export class CountingSink extends EventEmitter implements Sink {
  readonly name = 'counting';
  bytesWritten = 0;
  readonly chunks: Buffer[] = [];

  write(lines: Buffer): boolean {
    this.chunks.push(lines);
    this.bytesWritten += lines.length;
    return true;
  }

  async close(): Promise<void> {}

  bytes(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

/** The 32 bytes 0, 1, …, 31: the vectors' seed. */
export const VECTOR_SEED = Buffer.from(Array.from({ length: 32 }, (_, i) => i));

/** The shared fss1 vectors, copied to test/fixtures/fss1. */
export const VECTORS = path.resolve(import.meta.dirname, '../fixtures/fss1');

export interface VectorCase {
  dir: string;
  what: string;
  exit: number;
  ledger: string;
  recordings: Record<string, string>;
  key?: string;
}

export const vectors = JSON.parse(fs.readFileSync(path.join(VECTORS, 'vectors.json'), 'utf8')) as {
  verificationKey: string;
  keys: Record<string, string>;
  chain: Record<string, string[]>;
  cases: VectorCase[];
};
