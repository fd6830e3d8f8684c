/**
 * The device's key state (`DIR/.sshcast/state`): the current epoch and its key, with the
 * sealing's t0, interval and retention. One fixed-size record, overwritten in place (same file,
 * same offset, same length, then fsync) at every move of the key; never renamed, since a rename
 * leaves the old key's blocks readable.
 */
import fs from 'node:fs';
import { SealingError } from '../errors.js';

/** What the state file holds. */
export interface KeyState {
  t0: number;
  interval: number;
  retention: number;
  /** The epoch whose key this is. */
  epoch: number;
  /** K(epoch), 32 bytes. */
  key: Buffer;
}

/** Every state record is this long, so each write covers the last one exactly. */
export const STATE_SIZE = 256;

const FORMAT = 'sshcast-fss1-state';

/** The record: compact JSON padded with spaces to STATE_SIZE - 1 bytes, then LF. */
export function encodeState(s: KeyState): Buffer {
  const json = JSON.stringify({
    format: FORMAT,
    t0: s.t0,
    interval: s.interval,
    retention: s.retention,
    epoch: s.epoch,
    key: s.key.toString('hex'),
  });
  if (json.length > STATE_SIZE - 1) throw new SealingError('key state record too long');
  return Buffer.from(json.padEnd(STATE_SIZE - 1, ' ') + '\n', 'latin1');
}

/** Reads a record; a SealingError names `file` when it is not one. */
export function decodeState(buf: Buffer, file: string): KeyState {
  let v: Record<string, unknown>;
  try {
    v = JSON.parse(buf.toString('latin1')) as Record<string, unknown>;
  } catch {
    throw new SealingError(`${file} is not a sealing key state`);
  }
  const int = (x: unknown) => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
  if (
    v.format !== FORMAT ||
    !int(v.t0) ||
    !int(v.interval) ||
    (v.interval as number) < 1 ||
    !int(v.retention) ||
    !int(v.epoch) ||
    typeof v.key !== 'string' ||
    !/^[0-9a-f]{64}$/.test(v.key)
  )
    throw new SealingError(`${file} is not a sealing key state`);
  return {
    t0: v.t0 as number,
    interval: v.interval as number,
    retention: v.retention as number,
    epoch: v.epoch as number,
    key: Buffer.from(v.key, 'hex'),
  };
}

/** Reads the state record from the open descriptor `fd`. */
export function readState(fd: number, file: string): KeyState {
  const buf = Buffer.alloc(STATE_SIZE);
  const n = fs.readSync(fd, buf, 0, STATE_SIZE, 0);
  return decodeState(buf.subarray(0, n), file);
}

/** Overwrites the record at offset 0 of `fd` and fsyncs it. */
export function writeState(fd: number, s: KeyState): void {
  const buf = encodeState(s);
  let done = 0;
  while (done < buf.length) done += fs.writeSync(fd, buf, done, buf.length - done, done);
  fs.fsyncSync(fd);
}
