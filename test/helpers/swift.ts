/**
 * The tests' Swift (src/testing/swift.ts): the suite starts one for every test file in the
 * background (swift-global.ts); a file gets it with {@link useSwift} and makes buckets of its own
 * in it. S3 clients and settings for it.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import { inject } from 'vitest';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { requireSwift, startSwift, type SwiftInfo } from '../../src/testing/swift.js';

export {
  requireSwift,
  startSwift,
  type SwiftInfo,
  type SwiftServer,
} from '../../src/testing/swift.js';

/** An S3 client of the SDK for `info`, set up as STACK.md says Swift needs. */
export function s3Client(info: SwiftInfo): S3Client {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  return new S3Client({
    endpoint: info.endpoint,
    region: info.region,
    forcePathStyle: true,
    credentials: { accessKeyId: info.accessKeyId, secretAccessKey: info.secretAccessKey },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

/** The environment a collector or CLI reads its S3 settings from. */
export function s3Env(info: SwiftInfo): Record<string, string> {
  return {
    AWS_ENDPOINT_URL: info.endpoint,
    AWS_REGION: info.region,
    AWS_ACCESS_KEY_ID: info.accessKeyId,
    AWS_SECRET_ACCESS_KEY: info.secretAccessKey,
  };
}

declare module 'vitest' {
  export interface ProvidedContext {
    /** Where swift-global.ts writes the shared Swift's SwiftInfo (or `{ error }`) once known. */
    swiftStateFile: string;
  }
}

let shared: Promise<SwiftInfo> | undefined;

/**
 * The suite's shared Swift (waiting for it to be ready), or, when the test file runs without the
 * global setup, one started for this file and stopped when the process exits.
 */
export function useSwift(timeoutMs = 90_000): Promise<SwiftInfo> {
  shared ??= (async () => {
    requireSwift();
    let stateFile: string | undefined;
    try {
      stateFile = inject('swiftStateFile');
    } catch {
      stateFile = undefined;
    }
    if (!stateFile) {
      const own = await startSwift();
      process.once('exit', () => void own.stop());
      return own;
    }
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (fs.existsSync(stateFile)) {
        const state = JSON.parse(fs.readFileSync(stateFile, 'utf8')) as SwiftInfo & {
          error?: string;
        };
        if (state.error) throw new Error(`the shared Swift did not start: ${state.error}`);
        return state;
      }
      if (Date.now() > deadline)
        throw new Error(`the shared Swift was not ready in ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  return shared;
}

/** Creates a bucket with a fresh random name and returns the name. */
export async function makeBucket(info: SwiftInfo, prefix = 'sshcast'): Promise<string> {
  const name = `${prefix}-${crypto.randomBytes(6).toString('hex')}`;
  const client = s3Client(info);
  try {
    // A Swift just started, on a loaded machine, may answer 503 ("Please reduce your request
    // rate") while its container server settles: ask again, a bounded number of times.
    for (let attempt = 1; ; attempt++) {
      try {
        await client.send(new CreateBucketCommand({ Bucket: name }));
        break;
      } catch (err) {
        const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata
          ?.httpStatusCode;
        if (status !== 503 || attempt >= 10) throw err;
        await new Promise((r) => setTimeout(r, 500 * attempt));
      }
    }
  } finally {
    client.destroy();
  }
  return name;
}
