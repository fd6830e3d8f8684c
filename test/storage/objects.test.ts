/**
 * The object-store contract, run against both stores: a directory and a real S3 (Swift). What the
 * S3 store wrote is read back with boto3.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DirStore } from '../../src/storage/dir.js';
import { ObjectNotFoundError, type ObjectStore } from '../../src/storage/objects.js';
import { S3Store, planParts, MIN_PART_BYTES } from '../../src/storage/s3.js';
import { s3Settings } from '../../src/storage/location.js';
import { botoGet } from '../helpers/boto.js';
import { makeBucket, s3Env, useSwift, type SwiftInfo } from '../helpers/swift.js';

async function all<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

const md5 = (b: Buffer) => `"${crypto.createHash('md5').update(b).digest('hex')}"`;

interface Subject {
  store: ObjectStore;
  /** The bytes of `key` as another reader sees them. */
  readBack(key: string): Promise<Buffer>;
}

const subjects: Record<string, () => Promise<Subject>> = {
  dir: async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'sshcast-objects-'));
    const store = new DirStore(path.join(root, 'store'));
    return {
      store,
      readBack: async (key) => fs.readFileSync(path.join(root, 'store', key)),
    };
  },
  s3: async () => {
    const swift: SwiftInfo = await useSwift();
    const bucket = await makeBucket(swift);
    const store = new S3Store(s3Settings(`s3://${bucket}/pre/fix`, s3Env(swift)));
    return { store, readBack: (key) => botoGet(swift, bucket, `pre/fix/${key}`) };
  },
};

for (const [name, make] of Object.entries(subjects)) {
  describe(`${name} store`, () => {
    let s: Subject;
    beforeAll(async () => {
      s = await make();
    }, 120_000);
    afterAll(() => s?.store.close());

    it('puts, gets whole and ranges, heads with an MD5 ETag and the store clock', async () => {
      const body = Buffer.from('0123456789abcdef');
      await s.store.put('a/one', body);
      expect(await s.store.get('a/one')).toEqual(body);
      expect((await s.store.get('a/one', { start: 3, end: 7 })).toString()).toBe('3456');
      expect(await s.readBack('a/one')).toEqual(body);
      const head = await s.store.head('a/one');
      expect(head).toMatchObject({ size: 16, etag: md5(body) });
      expect(Math.abs(head!.storeTime - Date.now())).toBeLessThan(5_000);
      expect(await s.store.head('a/none')).toBeUndefined();
      await expect(s.store.get('a/none')).rejects.toBeInstanceOf(ObjectNotFoundError);
    });

    it('lists in key order under a prefix, and names the next segments', async () => {
      for (const k of ['l/x/2', 'l/x/1', 'l/x-y', 'l/y/z/3', 'm/1'])
        await s.store.put(k, Buffer.from(k));
      expect((await all(s.store.list('l/'))).map((e) => e.key)).toEqual([
        'l/x-y',
        'l/x/1',
        'l/x/2',
        'l/y/z/3',
      ]);
      expect((await all(s.store.list('l/x/'))).map((e) => [e.key, e.size])).toEqual([
        ['l/x/1', 5],
        ['l/x/2', 5],
      ]);
      expect(await s.store.listNames('l/')).toEqual(['x', 'y']);
      await s.store.delete(['l/x/1', 'l/x/none']);
      expect((await all(s.store.list('l/x/'))).map((e) => e.key)).toEqual(['l/x/2']);
    });

    it('copies only while the source ETag matches; a self-copy keeps the ETag and renews the time', async () => {
      const body = Buffer.from('lease-nonce-1');
      await s.store.put('c/lease', body);
      const before = (await s.store.head('c/lease'))!;
      expect(await s.store.copyIfMatch('c/lease', 'c/record', md5(Buffer.from('other')))).toBe(
        false,
      );
      expect(await s.store.head('c/record')).toBeUndefined();
      expect(await s.store.copyIfMatch('c/lease', 'c/record', before.etag)).toBe(true);
      expect(await s.readBack('c/record')).toEqual(body);
      await new Promise((r) => setTimeout(r, 1100)); // S3 times have whole seconds
      expect(await s.store.copyIfMatch('c/lease', 'c/lease', before.etag)).toBe(true);
      const after = (await s.store.head('c/lease'))!;
      expect(after.etag).toBe(before.etag);
      expect(after.lastModified).toBeGreaterThan(before.lastModified);
      await s.store.put('c/lease', Buffer.from('lease-nonce-2'));
      expect(await s.store.copyIfMatch('c/lease', 'c/lease', before.etag)).toBe(false);
    });

    it('composes pieces small and large (part copies for big pieces) byte for byte', async () => {
      const big = crypto.randomBytes(MIN_PART_BYTES + 12345);
      const small = Array.from({ length: 40 }, (_, i) => crypto.randomBytes(1000 + i));
      await s.store.put('p/big', big);
      for (const [i, b] of small.entries()) await s.store.put(`p/s${i}`, b);
      const pieces = [
        ...small.slice(0, 20).map((b, i) => ({ key: `p/s${i}`, offset: 0, length: b.length })),
        { key: 'p/big', offset: 5, length: big.length - 5 },
        ...small
          .slice(20)
          .map((b, i) => ({ key: `p/s${i + 20}`, offset: 1, length: b.length - 1 })),
      ];
      const expected = Buffer.concat([
        ...small.slice(0, 20),
        big.subarray(5),
        ...small.slice(20).map((b) => b.subarray(1)),
      ]);
      await s.store.compose('p/small', pieces.slice(0, 20), 20 * 1000 + 190);
      expect(await s.readBack('p/small')).toEqual(Buffer.concat(small.slice(0, 20)));
      // Larger than one PUT: a multipart upload.
      const many = Array.from({ length: 4 }, () => pieces).flat();
      const whole = Buffer.concat(Array.from({ length: 4 }, () => expected));
      await s.store.compose('p/whole', many, whole.length);
      const back = await s.readBack('p/whole');
      expect(back.length).toBe(whole.length);
      expect(back.equals(whole)).toBe(true);
    }, 120_000);
  });
}

describe('planParts', () => {
  it('copies big pieces that start a part, groups the rest, and leaves only the last part small', () => {
    const M = MIN_PART_BYTES;
    const parts = [
      ...planParts(
        [
          { key: 'a', offset: 0, length: 100 },
          { key: 'b', offset: 0, length: 3 * M },
          { key: 'c', offset: 0, length: 2 * M },
          { key: 'd', offset: 0, length: 10 },
        ],
        2 * M,
      ),
    ];
    const sizes = parts.map((p) => p.length);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(100 + 5 * M + 10);
    for (const p of parts.slice(0, -1)) expect(p.length).toBeGreaterThanOrEqual(M);
    expect(parts.some((p) => p.copy?.key === 'c')).toBe(true);
  });
});
