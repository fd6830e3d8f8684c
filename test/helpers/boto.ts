/**
 * A second S3 client for reading back what the collector stored: Debian's python3-boto3, so our
 * own S3 code never grades itself.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import type { SwiftInfo } from './swift.js';

const PYTHON = '/usr/bin/python3';

const SCRIPT = `
import base64, json, sys
import boto3
from botocore.config import Config
endpoint, region, key, secret, op, bucket = sys.argv[1:7]
args = sys.argv[7:]
s3 = boto3.client('s3', endpoint_url=endpoint, region_name=region, aws_access_key_id=key,
                  aws_secret_access_key=secret, config=Config(s3={'addressing_style': 'path'}))
if op == 'get':
    sys.stdout.buffer.write(s3.get_object(Bucket=bucket, Key=args[0])['Body'].read())
elif op == 'list':
    out = []
    for page in s3.get_paginator('list_objects_v2').paginate(Bucket=bucket, Prefix=args[0]):
        out += [{'key': o['Key'], 'size': o['Size']} for o in page.get('Contents', [])]
    print(json.dumps(out))
elif op == 'dump':
    out = []
    for page in s3.get_paginator('list_objects_v2').paginate(Bucket=bucket, Prefix=args[0]):
        for o in page.get('Contents', []):
            try:
                body = s3.get_object(Bucket=bucket, Key=o['Key'])['Body'].read()
            except s3.exceptions.NoSuchKey:
                continue
            out.append({'key': o['Key'], 'size': o['Size'], 'body': base64.b64encode(body).decode()})
    print(json.dumps(out))
elif op == 'delete':
    s3.delete_object(Bucket=bucket, Key=args[0])
elif op == 'put':
    s3.put_object(Bucket=bucket, Key=args[0], Body=sys.stdin.buffer.read())
elif op == 'uploads':
    r = s3.list_multipart_uploads(Bucket=bucket, Prefix=args[0])
    print(json.dumps([u['Key'] for u in r.get('Uploads', [])]))
`;

function boto(info: SwiftInfo, op: string, bucket: string, args: string[], input?: Buffer) {
  if (!fs.existsSync(PYTHON))
    throw new Error(`${PYTHON} is missing (apt-get install python3-boto3)`);
  return new Promise<Buffer>((resolve, reject) => {
    const child = execFile(
      PYTHON,
      [
        '-c',
        SCRIPT,
        info.endpoint,
        info.region,
        info.accessKeyId,
        info.secretAccessKey,
        op,
        bucket,
        ...args,
      ],
      { encoding: 'buffer', maxBuffer: 1 << 30, timeout: 60_000 },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`boto3 ${op} ${args.join(' ')}: ${stderr.toString().trim()}`));
        else resolve(stdout);
      },
    );
    child.stdin!.end(input);
  });
}

/** The bytes of one object, read by boto3. */
export function botoGet(info: SwiftInfo, bucket: string, key: string): Promise<Buffer> {
  return boto(info, 'get', bucket, [key]);
}

/** Every object under `prefix`, as boto3 lists them. */
export async function botoList(
  info: SwiftInfo,
  bucket: string,
  prefix = '',
): Promise<{ key: string; size: number }[]> {
  return JSON.parse((await boto(info, 'list', bucket, [prefix])).toString('utf8')) as {
    key: string;
    size: number;
  }[];
}

/** Every object under `prefix` with its bytes, listed and read by boto3 in one process. */
export async function botoDump(
  info: SwiftInfo,
  bucket: string,
  prefix: string,
): Promise<{ key: string; size: number; body: Buffer }[]> {
  const out = JSON.parse((await boto(info, 'dump', bucket, [prefix])).toString('utf8')) as {
    key: string;
    size: number;
    body: string;
  }[];
  return out.map((o) => ({ ...o, body: Buffer.from(o.body, 'base64') }));
}

/** Deletes one object with boto3 (an operator, or an attacker with the bucket's keys). */
export async function botoDelete(info: SwiftInfo, bucket: string, key: string): Promise<void> {
  await boto(info, 'delete', bucket, [key]);
}

/** Keys of the multipart uploads in progress under `prefix`. */
export async function botoMultipartUploads(
  info: SwiftInfo,
  bucket: string,
  prefix = '',
): Promise<string[]> {
  return JSON.parse((await boto(info, 'uploads', bucket, [prefix])).toString('utf8')) as string[];
}
