/**
 * A FileOps that behaves like the real one until told to fail, and counts every call, so a test
 * can first prove that its fault really fired.
 */
import fs from 'node:fs';
import type { FileOps } from '../../src/recording/file-sink.js';

/** What to break, and how. */
export interface FaultPlan {
  /** The writev call (1-based) that fails; later ones fail too. */
  failWritevAt?: number;
  /** Bytes of the failing call written for real before the error (a partial line on disk). */
  partialBytes?: number;
  /** The errno code of the failure. Default ENOSPC. */
  code?: string;
  /** Provide the synchronous header write and fail it with this code (a disk full at start). */
  headerCode?: string;
  /** Fail fsync with this code. */
  fsyncCode?: string;
}

/** The counters a test asserts on. */
export interface FaultCounters {
  writeSync: number;
  writev: number;
  faults: number;
  ftruncate: number[];
  fsync: number;
  close: number;
}

function errno(code: string): NodeJS.ErrnoException {
  const err: NodeJS.ErrnoException = new Error(`${code}: injected fault, write`);
  err.code = code;
  return err;
}

/** Returns the ops and the live counters. */
export function faultyOps(plan: FaultPlan): { ops: FileOps; calls: FaultCounters } {
  const calls: FaultCounters = {
    writeSync: 0,
    writev: 0,
    faults: 0,
    ftruncate: [],
    fsync: 0,
    close: 0,
  };
  const code = plan.code ?? 'ENOSPC';
  const ops: FileOps = {
    writev(fd, bufs, cb) {
      calls.writev++;
      if (plan.failWritevAt !== undefined && calls.writev >= plan.failWritevAt) {
        calls.faults++;
        const partial =
          calls.writev === plan.failWritevAt && plan.partialBytes
            ? Buffer.concat(bufs).subarray(0, plan.partialBytes)
            : undefined;
        // A short write first (as a filling disk gives), then the error on the retry.
        if (partial && partial.length > 0) {
          fs.write(fd, partial, (err, n) => cb(err, n));
          return;
        }
        setImmediate(() => cb(errno(code), 0));
        return;
      }
      fs.writev(fd, bufs, (err, n) => cb(err, n));
    },
    ftruncate(fd, len, cb) {
      calls.ftruncate.push(len);
      fs.ftruncate(fd, len, cb);
    },
    fsync(fd, cb) {
      calls.fsync++;
      if (plan.fsyncCode) {
        calls.faults++;
        setImmediate(() => cb(errno(plan.fsyncCode!)));
        return;
      }
      fs.fsync(fd, cb);
    },
    close(fd, cb) {
      calls.close++;
      fs.close(fd, cb);
    },
  };
  if (plan.headerCode) {
    ops.writeSync = () => {
      calls.writeSync++;
      calls.faults++;
      throw errno(plan.headerCode!);
    };
  }
  return { ops, calls };
}
