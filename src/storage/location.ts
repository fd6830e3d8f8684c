/**
 * Where recordings are stored off the device: `s3://BUCKET/PREFIX` (settings from the standard
 * AWS variables) or a directory.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../errors.js';
import { DirStore } from './dir.js';
import { UPLOADS } from './layout.js';
import type { ObjectStore } from './objects.js';
import type { S3Settings } from './s3.js';

/** Whether `spec` names a bucket rather than a directory. */
export function isS3Url(spec: string): boolean {
  return spec.startsWith('s3://');
}

/**
 * Parses `s3://BUCKET[/PREFIX]` and reads `AWS_ENDPOINT_URL` (or `AWS_ENDPOINT_URL_S3`),
 * `AWS_REGION` (or `AWS_DEFAULT_REGION`, else us-east-1), `AWS_ACCESS_KEY_ID`,
 * `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN` from `env`. The prefix gets a final `/`.
 */
export function s3Settings(url: string, env: NodeJS.ProcessEnv = process.env): S3Settings {
  const m = /^s3:\/\/([^/]+)(?:\/(.*))?$/.exec(url);
  const bucket = m?.[1];
  if (!bucket || !/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket))
    throw new ConfigError(`${url}: not an s3://BUCKET/PREFIX address with a valid bucket name`);
  let prefix = m?.[2] ?? '';
  if (prefix !== '' && !prefix.endsWith('/')) prefix += '/';
  if (
    prefix
      .split('/')
      .slice(0, -1)
      .some((s) => s === '' || s === '.' || s === '..')
  )
    throw new ConfigError(`${url}: the prefix has an empty, "." or ".." segment`);
  const endpoint = env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL || undefined;
  if (endpoint !== undefined && !/^https?:\/\/[^/]/.test(endpoint))
    throw new ConfigError(`AWS_ENDPOINT_URL must be an http(s):// address, not ${endpoint}`);
  const region = env.AWS_REGION || env.AWS_DEFAULT_REGION || 'us-east-1';
  const accessKeyId = env.AWS_ACCESS_KEY_ID;
  const secretAccessKey = env.AWS_SECRET_ACCESS_KEY;
  if (Boolean(accessKeyId) !== Boolean(secretAccessKey))
    throw new ConfigError('set both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or neither');
  return {
    bucket,
    prefix,
    region,
    ...(endpoint ? { endpoint } : {}),
    ...(accessKeyId && secretAccessKey
      ? {
          credentials: {
            accessKeyId,
            secretAccessKey,
            ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}),
          },
        }
      : {}),
  };
}

/**
 * Whether `dir` is a collector's `--dir` rather than a device's recording directory: a collector
 * keeps its uploads in `.uploads/` (and its recordings one level down, in DEVICE/).
 */
export function isCollectorDir(dir: string): boolean {
  try {
    return fs.lstatSync(path.join(dir, UPLOADS)).isDirectory();
  } catch {
    return false;
  }
}

/** Opens the store `spec` names: an s3:// address or a directory. */
export async function openStore(
  spec: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<ObjectStore> {
  if (!isS3Url(spec)) return new DirStore(spec);
  // The S3 SDK is loaded only when a bucket is used: it takes a while to load.
  const { S3Store } = await import('./s3.js');
  return new S3Store(s3Settings(spec, env));
}
