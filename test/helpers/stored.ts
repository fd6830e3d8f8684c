/**
 * What the bucket holds of an upload, read with boto3 (the bytes) and laid out with the chain
 * rules (storage/chain.ts): the live content of an open upload, or the finished object.
 */
import { resolveChain } from '../../src/storage/chain.js';
import { uploadDir } from '../../src/storage/layout.js';
import { botoDump, botoGet } from './boto.js';
import type { SwiftInfo } from './swift.js';

async function readOnce(
  swift: SwiftInfo,
  bucket: string,
  prefix: string,
  id: string,
): Promise<{ bytes: Buffer; done: boolean; keys: string[] }> {
  const dir = `${prefix}${uploadDir(id)}`;
  const objects = await botoDump(swift, bucket, dir);
  const keys = objects.map((o) => o.key.slice(dir.length));
  if (keys.includes('done'))
    return { bytes: await botoGet(swift, bucket, `${prefix}${id}`), done: true, keys };
  const chain = resolveChain(
    objects.map((o) => ({
      key: o.key,
      size: o.size,
      lastModified: 0,
      rel: o.key.slice(dir.length),
    })),
  );
  // A collector finishing the upload meanwhile puts `done`, then removes the segments: a listing
  // taken in between has segments but none from byte 0, or a declared length and no segment.
  const segments = keys.filter((k) => /^d\/.*\/[0-9]{16}$/.test(k));
  const declared = keys.find((k) => /\.len([0-9]{16})$/.test(k));
  if (
    (segments.length > 0 && chain.end === 0) ||
    (declared !== undefined && !declared.endsWith('.len' + '0'.repeat(16)) && segments.length === 0)
  )
    throw new Error(`upload ${id} is being finished`);
  const bodies = new Map(objects.map((o) => [o.key, o.body]));
  return {
    bytes: Buffer.concat(
      chain.pieces.map((p) => bodies.get(p.key)!.subarray(p.offset, p.offset + p.length)),
    ),
    done: false,
    keys,
  };
}

/**
 * What the bucket holds of upload `id` (under `prefix`): its live bytes, or its object once done.
 * A collector may finish the upload while it is read (segments removed): read again then.
 */
export async function storedBytes(
  swift: SwiftInfo,
  bucket: string,
  prefix: string,
  id: string,
): Promise<{ bytes: Buffer; done: boolean; keys: string[] }> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await readOnce(swift, bucket, prefix, id);
    } catch (err) {
      if (attempt >= 9) throw err;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}
