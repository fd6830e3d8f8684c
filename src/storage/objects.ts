/**
 * The object storage the collector writes to and the readers read from: an S3-compatible bucket
 * under a prefix (s3.ts) or a local directory (dir.ts), behind one small interface. It asks only
 * for what every S3 implementation has, including old Swift: no conditional PUT (Swift's s3api
 * answers 501 to `If-None-Match`), but a copy conditional on its source's ETag, which the fencing
 * of uploads (collect/leases.ts) is built on.
 */
import type { Readable } from 'node:stream';
import { SshcastError } from '../errors.js';

/** An object as a listing shows it. */
export interface ObjectEntry {
  /** Its key, relative to the store's prefix. */
  key: string;
  size: number;
  /** When the store wrote it, milliseconds since the epoch (the store's clock). */
  lastModified: number;
}

/** What a HEAD of one object says. */
export interface ObjectHead {
  size: number;
  /** The ETag as the store gives it (for a plain PUT: the MD5 of the body, in quotes). */
  etag: string;
  lastModified: number;
  /** The store's own clock at the time of the answer, milliseconds (HTTP `Date`). */
  storeTime: number;
}

/** A byte range of an object: [start, end). */
export interface ObjectRange {
  start: number;
  end: number;
}

/** A range of one object, a piece of a larger whole that {@link ObjectStore.compose} writes. */
export interface Piece {
  key: string;
  /** Where in `key` the piece starts, and its length. */
  offset: number;
  length: number;
}

/** Bytes and requests sent to the store since it was opened (for the cost numbers). */
export interface StoreStats {
  /** Bytes sent in PUT and part-upload bodies. */
  uploadedBytes: number;
  /** Bytes the store copied on its side (copies and part copies). */
  copiedBytes: number;
  /** Requests by kind: put, get, head, list, delete, copy, part, ... */
  requests: Record<string, number>;
}

export interface ObjectStore {
  /** Where it stores, for messages: `s3://BUCKET/PREFIX` or a directory path. */
  readonly location: string;
  readonly stats: StoreStats;
  /** Writes a whole object (replacing any). */
  put(key: string, body: Buffer): Promise<void>;
  /** The whole object, or the bytes of `range`; throws {@link ObjectNotFoundError} if absent. */
  get(key: string, range?: ObjectRange): Promise<Buffer>;
  /** A stream of the object (or of `range`); throws {@link ObjectNotFoundError} if absent. */
  read(key: string, range?: ObjectRange): Promise<Readable>;
  /** The object's facts, or undefined if it does not exist. */
  head(key: string): Promise<ObjectHead | undefined>;
  /** Every object whose key starts with `prefix`, in key order. */
  list(prefix: string): AsyncIterable<ObjectEntry>;
  /** The distinct next path segments below `prefix` (which ends with `/`), like S3's delimiter. */
  listNames(prefix: string): Promise<string[]>;
  /** Deletes objects; missing ones are not an error. */
  delete(keys: string[]): Promise<void>;
  /**
   * Copies `src` to `dst` only if `src`'s ETag is still `etag` (checked by the store itself, at
   * the time of the copy). Resolves false when it was not. `dst` gets a new lastModified; `dst`
   * may be `src` (a touch that keeps the bytes and the ETag).
   */
  copyIfMatch(src: string, dst: string, etag: string): Promise<boolean>;
  /**
   * Writes `key` as the concatenation of `pieces` (totalling `length` bytes), streaming, with
   * memory bounded whatever the size; server-side copies where the store can.
   */
  compose(key: string, pieces: Piece[], length: number): Promise<void>;
  /** Releases connections. */
  close(): void;
}

/** The object asked for does not exist. */
export class ObjectNotFoundError extends SshcastError {
  readonly key: string;

  constructor(key: string, options?: { cause?: unknown }) {
    super('ERR_OBJECT_NOT_FOUND', `no such object: ${key}`, options);
    this.key = key;
  }
}

/** A request to the object store failed. */
export class ObjectStoreError extends SshcastError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_OBJECT_STORE', message, options);
  }
}

/** A fresh set of counters. */
export function newStats(): StoreStats {
  return { uploadedBytes: 0, copiedBytes: 0, requests: {} };
}

/** Counts one request of `kind`. */
export function countRequest(stats: StoreStats, kind: string): void {
  stats.requests[kind] = (stats.requests[kind] ?? 0) + 1;
}

/** Checks a key: relative, `/`-separated, no empty, `.` or `..` segment, no NUL or backslash. */
export function checkKey(key: string): string {
  if (
    key === '' ||
    key.length > 1000 ||
    key.includes('\0') ||
    key.includes('\\') ||
    key.split('/').some((s) => s === '' || s === '.' || s === '..')
  )
    throw new ObjectStoreError(`bad object key ${JSON.stringify(key)}`);
  return key;
}
