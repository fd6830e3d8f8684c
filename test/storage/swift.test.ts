import { describe, expect, it } from 'vitest';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { botoGet, botoList } from '../helpers/boto.js';
import { makeBucket, s3Client, useSwift } from '../helpers/swift.js';

describe('the test Swift', () => {
  it('stores through our SDK client and reads back through boto3', async () => {
    const swift = await useSwift();
    const bucket = await makeBucket(swift);
    const client = s3Client(swift);
    const body = Buffer.from('hello\u0000\u00ff world');
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'a/b', Body: body }));
    client.destroy();
    expect(await botoGet(swift, bucket, 'a/b')).toEqual(body);
    expect(await botoList(swift, bucket)).toEqual([{ key: 'a/b', size: body.length }]);
  });
});
