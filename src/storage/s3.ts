/**
 * An {@link ObjectStore} on an S3-compatible bucket, with `@aws-sdk/client-s3`. Set up so that
 * stores other than AWS take it (STACK.md, measured against Swift): path-style addressing when an
 * endpoint is given, and checksums only where an operation requires them (streamed uploads would
 * otherwise use aws-chunked encoding, which Swift answers with 501).
 */
import { PassThrough, Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
  UploadPartCopyCommand,
  type CompletedPart,
} from '@aws-sdk/client-s3';
import {
  ObjectNotFoundError,
  ObjectStoreError,
  checkKey,
  countRequest,
  newStats,
  type ObjectEntry,
  type ObjectHead,
  type ObjectRange,
  type ObjectStore,
  type Piece,
  type StoreStats,
} from './objects.js';

/** Where and how to reach the bucket. */
export interface S3Settings {
  bucket: string;
  /** Key prefix ('' or ending in `/`). */
  prefix: string;
  /** An endpoint other than AWS's (Swift, MinIO, Ceph); path-style addressing is used with it. */
  endpoint?: string;
  region: string;
  /** Static credentials; when absent the SDK's default chain is used. */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
}

/** S3 requires every part but the last to be at least this big. */
export const MIN_PART_BYTES = 5 * 1024 * 1024;
/** The part size {@link S3Store.compose} aims for. */
const PART_BYTES = 8 * 1024 * 1024;
const MAX_PARTS = 10_000;
/** Objects up to this size are written by compose with one PUT. */
const SINGLE_PUT_BYTES = 16 * 1024 * 1024;

interface SdkError {
  name?: string;
  Code?: string;
  $metadata?: { httpStatusCode?: number };
  message?: string;
}

function status(err: unknown): number | undefined {
  return (err as SdkError)?.$metadata?.httpStatusCode;
}

function isNotFound(err: unknown): boolean {
  const e = err as SdkError;
  return (
    status(err) === 404 ||
    e?.name === 'NoSuchKey' ||
    e?.name === 'NotFound' ||
    e?.Code === 'NoSuchKey'
  );
}

function describe(err: unknown): string {
  const e = err as SdkError;
  const code = status(err);
  return `${e?.name ?? 'error'}${code ? ` (HTTP ${code})` : ''}: ${e?.message ?? String(err)}`;
}

/**
 * Creates the SDK client. The SDK prints a NodeVersionSupportWarning on Node 20 (its releases
 * after early January 2027 need Node 22); its own switch turns that off unless the user set it.
 */
export function createS3Client(settings: S3Settings): S3Client {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  return new S3Client({
    region: settings.region,
    ...(settings.endpoint ? { endpoint: settings.endpoint, forcePathStyle: true } : {}),
    ...(settings.credentials ? { credentials: settings.credentials } : {}),
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    requestHandler: { connectionTimeout: 5_000, requestTimeout: 60_000 },
  });
}

export class S3Store implements ObjectStore {
  readonly location: string;
  readonly stats: StoreStats = newStats();
  readonly #client: S3Client;
  readonly #bucket: string;
  readonly #prefix: string;

  constructor(settings: S3Settings, client: S3Client = createS3Client(settings)) {
    this.#bucket = settings.bucket;
    this.#prefix = settings.prefix;
    this.location = `s3://${settings.bucket}/${settings.prefix}`;
    this.#client = client;
    // The store's clock, from each response's Date header, for lease expiry (collect/leases.ts).
    this.#client.middlewareStack.add(
      (next) => async (args) => {
        const result = await next(args);
        const date = (result.response as { headers?: Record<string, string> })?.headers?.date;
        if (date && result.output) (result.output as { $date?: string }).$date = date;
        return result;
      },
      { step: 'deserialize', name: 'sshcastStoreDate' },
    );
  }

  #key(key: string): string {
    return this.#prefix + checkKey(key);
  }

  async #send<T>(kind: string, what: string, run: () => Promise<T>): Promise<T> {
    countRequest(this.stats, kind);
    try {
      return await run();
    } catch (err) {
      if (isNotFound(err)) throw new ObjectNotFoundError(what, { cause: err });
      throw new ObjectStoreError(`${kind} ${this.location}${what}: ${describe(err)}`, {
        cause: err,
      });
    }
  }

  async put(key: string, body: Buffer): Promise<void> {
    await this.#send('put', key, () =>
      this.#client.send(
        new PutObjectCommand({ Bucket: this.#bucket, Key: this.#key(key), Body: body }),
      ),
    );
    this.stats.uploadedBytes += body.length;
  }

  async read(key: string, range?: ObjectRange): Promise<Readable> {
    if (range && range.end <= range.start) return Readable.from([]);
    const out = await this.#send('get', key, () =>
      this.#client.send(
        new GetObjectCommand({
          Bucket: this.#bucket,
          Key: this.#key(key),
          ...(range ? { Range: `bytes=${range.start}-${range.end - 1}` } : {}),
        }),
      ),
    );
    if (!(out.Body instanceof Readable))
      throw new ObjectStoreError(`get ${key}: the SDK gave no stream`);
    return out.Body;
  }

  async get(key: string, range?: ObjectRange): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for await (const chunk of await this.read(key, range)) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }

  async head(key: string): Promise<ObjectHead | undefined> {
    try {
      const out = await this.#send('head', key, () =>
        this.#client.send(new HeadObjectCommand({ Bucket: this.#bucket, Key: this.#key(key) })),
      );
      const date = Date.parse((out as { $date?: string }).$date ?? '');
      return {
        size: out.ContentLength ?? 0,
        etag: out.ETag ?? '',
        lastModified: out.LastModified?.getTime() ?? 0,
        storeTime: Number.isNaN(date) ? Date.now() : date,
      };
    } catch (err) {
      if (err instanceof ObjectNotFoundError) return undefined;
      throw err;
    }
  }

  async *list(prefix: string): AsyncIterable<ObjectEntry> {
    let token: string | undefined;
    do {
      const out = await this.#send('list', prefix, () =>
        this.#client.send(
          new ListObjectsV2Command({
            Bucket: this.#bucket,
            Prefix: this.#prefix + prefix,
            ContinuationToken: token,
          }),
        ),
      );
      for (const o of out.Contents ?? []) {
        if (!o.Key) continue;
        yield {
          key: o.Key.slice(this.#prefix.length),
          size: o.Size ?? 0,
          lastModified: o.LastModified?.getTime() ?? 0,
        };
      }
      token = out.IsTruncated ? out.NextContinuationToken : undefined;
    } while (token);
  }

  async listNames(prefix: string): Promise<string[]> {
    const names: string[] = [];
    let token: string | undefined;
    do {
      const out = await this.#send('list', prefix, () =>
        this.#client.send(
          new ListObjectsV2Command({
            Bucket: this.#bucket,
            Prefix: this.#prefix + prefix,
            Delimiter: '/',
            ContinuationToken: token,
          }),
        ),
      );
      for (const p of out.CommonPrefixes ?? [])
        if (p.Prefix) names.push(p.Prefix.slice(this.#prefix.length + prefix.length, -1));
      token = out.IsTruncated ? out.NextContinuationToken : undefined;
    } while (token);
    return names;
  }

  async delete(keys: string[]): Promise<void> {
    // One DeleteObject per key, a few at a time: DeleteObjects needs a Content-MD5 that not every
    // S3 implementation accepts in the SDK's newer checksum form.
    const queue = [...keys];
    const worker = async () => {
      for (let key = queue.shift(); key !== undefined; key = queue.shift()) {
        const k = key;
        try {
          await this.#send('delete', k, () =>
            this.#client.send(new DeleteObjectCommand({ Bucket: this.#bucket, Key: this.#key(k) })),
          );
        } catch (err) {
          if (!(err instanceof ObjectNotFoundError)) throw err;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(8, keys.length) }, worker));
  }

  #copySource(key: string, range?: ObjectRange): { CopySource: string; CopySourceRange?: string } {
    const source = `${this.#bucket}/${this.#key(key).split('/').map(encodeURIComponent).join('/')}`;
    return range
      ? { CopySource: source, CopySourceRange: `bytes=${range.start}-${range.end - 1}` }
      : { CopySource: source };
  }

  async copyIfMatch(src: string, dst: string, etag: string): Promise<boolean> {
    try {
      await this.#send('copy', src, () =>
        this.#client.send(
          new CopyObjectCommand({
            Bucket: this.#bucket,
            Key: this.#key(dst),
            ...this.#copySource(src),
            CopySourceIfMatch: etag,
            // REPLACE with fresh metadata: a copy of an object onto itself must change something.
            MetadataDirective: 'REPLACE',
            Metadata: { copied: String(Date.now()) },
          }),
        ),
      );
      return true;
    } catch (err) {
      if (err instanceof ObjectNotFoundError) return false; // the source is gone: no match
      const cause = (err as { cause?: unknown }).cause;
      if (status(cause) === 412 || (cause as SdkError)?.name === 'PreconditionFailed') return false;
      throw err;
    }
  }

  async compose(key: string, pieces: Piece[], length: number): Promise<void> {
    if (length <= SINGLE_PUT_BYTES) {
      await this.#send('put', key, () => {
        const abort = new AbortController();
        return this.#client.send(
          new PutObjectCommand({
            Bucket: this.#bucket,
            Key: this.#key(key),
            Body: concatPieces(this, pieces, abort),
            ContentLength: length,
          }),
          { abortSignal: abort.signal },
        );
      });
      this.stats.uploadedBytes += length;
      return;
    }
    const partBytes = Math.max(PART_BYTES, Math.ceil(length / (MAX_PARTS - 1)));
    const created = await this.#send('create-multipart', key, () =>
      this.#client.send(
        new CreateMultipartUploadCommand({ Bucket: this.#bucket, Key: this.#key(key) }),
      ),
    );
    const uploadId = created.UploadId!;
    const parts: CompletedPart[] = [];
    try {
      for (const part of planParts(pieces, partBytes)) {
        const PartNumber = parts.length + 1;
        if (part.copy) {
          const { key: from, offset, length: n } = part.copy;
          const out = await this.#send('part-copy', key, () =>
            this.#client.send(
              new UploadPartCopyCommand({
                Bucket: this.#bucket,
                Key: this.#key(key),
                UploadId: uploadId,
                PartNumber,
                ...this.#copySource(from, { start: offset, end: offset + n }),
              }),
            ),
          );
          this.stats.copiedBytes += n;
          parts.push({ PartNumber, ETag: out.CopyPartResult?.ETag });
        } else {
          const out = await this.#send('part', key, () => {
            const abort = new AbortController();
            return this.#client.send(
              new UploadPartCommand({
                Bucket: this.#bucket,
                Key: this.#key(key),
                UploadId: uploadId,
                PartNumber,
                Body: concatPieces(this, part.pieces, abort),
                ContentLength: part.length,
              }),
              { abortSignal: abort.signal },
            );
          });
          this.stats.uploadedBytes += part.length;
          parts.push({ PartNumber, ETag: out.ETag });
        }
      }
      await this.#send('complete-multipart', key, () =>
        this.#client.send(
          new CompleteMultipartUploadCommand({
            Bucket: this.#bucket,
            Key: this.#key(key),
            UploadId: uploadId,
            MultipartUpload: { Parts: parts },
          }),
        ),
      );
    } catch (err) {
      await this.#client
        .send(
          new AbortMultipartUploadCommand({
            Bucket: this.#bucket,
            Key: this.#key(key),
            UploadId: uploadId,
          }),
        )
        .catch(() => {});
      throw err;
    }
  }

  close(): void {
    this.#client.destroy();
  }
}

type PlannedPart =
  | { copy: Piece; pieces?: undefined; length: number }
  | { copy?: undefined; pieces: Piece[]; length: number };

/**
 * Groups pieces into parts of at least `partBytes` (the last may be smaller): a piece of at least
 * the S3 minimum that starts a part is copied by the store; smaller pieces are uploaded together.
 */
export function* planParts(pieces: Piece[], partBytes: number): Generator<PlannedPart> {
  let group: Piece[] = [];
  let size = 0;
  for (const piece of pieces) {
    let { offset, length } = piece;
    while (length > 0) {
      if (size === 0 && length >= MIN_PART_BYTES) {
        const n = Math.min(length, partBytes * 2);
        // Leave no tail below the minimum unless it is the piece's end.
        const take = length - n > 0 && length - n < MIN_PART_BYTES ? length : n;
        yield { copy: { key: piece.key, offset, length: take }, length: take };
        offset += take;
        length -= take;
        continue;
      }
      const take = Math.min(length, partBytes - size);
      group.push({ key: piece.key, offset, length: take });
      size += take;
      offset += take;
      length -= take;
      if (size >= partBytes) {
        yield { pieces: group, length: size };
        group = [];
        size = 0;
      }
    }
  }
  if (size > 0) yield { pieces: group, length: size };
}

/** One stream of the pieces' bytes in order, each read from the store when its turn comes. */
export function concatPieces(
  store: ObjectStore,
  pieces: Piece[],
  abort?: AbortController,
): Readable {
  const out = new PassThrough();
  // A read that fails after the request consuming `out` gave up would be an 'error' nobody
  // listens to, which ends the process (seen with a Swift too loaded to accept connections):
  // the failure goes to `abort`, which cancels that request.
  out.on('error', () => {});
  void (async () => {
    try {
      for (const p of pieces) {
        if (p.length === 0) continue;
        const src = await store.read(p.key, { start: p.offset, end: p.offset + p.length });
        let got = 0;
        for await (const chunk of src) {
          got += (chunk as Buffer).length;
          if (!out.write(chunk)) await new Promise((r) => out.once('drain', r));
        }
        if (got !== p.length)
          throw new ObjectStoreError(`${p.key}: read ${got} bytes where ${p.length} were expected`);
      }
      out.end();
    } catch (err) {
      out.destroy(err as Error);
      abort?.abort(err);
    }
  })();
  return out;
}
