/**
 * A compromised device's token, against the stock setup first (@tus/server's defaults with
 * @tus/s3-store, as its docs show, naming uploads by the file name the device gives) and then
 * against sshcast collect, both on a real Swift: DELETE, a re-POST of an existing upload, a PATCH
 * at an offset already written, another device's upload (HEAD, GET, PATCH), and the tokens.
 * Each attack works against the stock setup and is refused by ours, the stored bytes unchanged.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Server as TusServer } from '@tus/server';
import { S3Store as StockS3Store } from '@tus/s3-store';
import { startCollector, type Collector } from '../../src/collect/server.js';
import { parseTokens } from '../../src/collect/tokens.js';
import { s3Settings } from '../../src/storage/location.js';
import { S3Store } from '../../src/storage/s3.js';
import { botoMultipartUploads } from '../helpers/boto.js';
import { DEVICES, TOKENS_TEXT } from '../helpers/collector.js';
import { storedBytes } from '../helpers/stored.js';
import { makeBucket, s3Env, useSwift, type SwiftInfo } from '../helpers/swift.js';

let swift: SwiftInfo;
let bucket: string;
const closers: (() => Promise<void> | void)[] = [];

beforeAll(async () => {
  swift = await useSwift();
  bucket = await makeBucket(swift);
}, 120_000);
afterAll(async () => {
  for (const c of closers.reverse()) await c();
});

const NAME = 'ssh-session-1700000000000000000-abcdef.cast';
const b64 = (s: string) => Buffer.from(s).toString('base64');
const tus = { 'tus-resumable': '1.0.0' };
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const A = bearer(DEVICES.a.token);
const B = bearer(DEVICES.b.token);

async function req(
  url: string,
  method: string,
  headers: Record<string, string> = {},
  body?: string,
): Promise<{ status: number; offset: string | null; text: string }> {
  const r = await fetch(url, {
    method,
    headers: {
      ...tus,
      ...(body !== undefined ? { 'content-type': 'application/offset+octet-stream' } : {}),
      ...headers,
    },
    ...(body !== undefined ? { body } : {}),
  });
  return { status: r.status, offset: r.headers.get('upload-offset'), text: await r.text() };
}

/** A PATCH whose body arrives in two halves; `between` runs after the first half is sent. */
function slowPatch(
  url: string,
  offset: number,
  headers: Record<string, string>,
  body: string,
  between: () => Promise<void>,
): Promise<number> {
  return new Promise((resolve, reject) => {
    const r = http.request(url, {
      method: 'PATCH',
      headers: {
        ...tus,
        ...headers,
        'upload-offset': String(offset),
        'content-type': 'application/offset+octet-stream',
        'content-length': String(body.length),
      },
    });
    r.on('response', (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode!));
    });
    r.on('error', reject);
    r.write(body.slice(0, body.length / 2));
    setTimeout(() => {
      between().then(() => r.end(body.slice(body.length / 2)), reject);
    }, 300);
  });
}

/** The stock setup: @tus/server's defaults, @tus/s3-store, uploads named by the device's name. */
async function stockServer(prefix: string): Promise<string> {
  const datastore = new StockS3Store({
    s3ClientConfig: {
      bucket,
      endpoint: swift.endpoint,
      region: swift.region,
      forcePathStyle: true,
      credentials: { accessKeyId: swift.accessKeyId, secretAccessKey: swift.secretAccessKey },
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    },
  });
  const server = new TusServer({
    path: '/files',
    datastore,
    namingFunction: (_req, metadata) => `${prefix}${metadata?.name ?? 'x'}`,
  });
  const h = http.createServer((q, s) => void server.handle(q, s));
  await new Promise<void>((r) => h.listen(0, '127.0.0.1', r));
  closers.push(() => new Promise<void>((r) => h.close(() => r())));
  return `http://127.0.0.1:${(h.address() as AddressInfo).port}`;
}

async function ours(prefix: string): Promise<Collector> {
  const store = new S3Store(s3Settings(`s3://${bucket}/${prefix}`, s3Env(swift)));
  const c = await startCollector({
    store,
    tokens: parseTokens(TOKENS_TEXT),
    settleMs: 50,
    sweepMs: 0,
    log: () => {},
  });
  closers.push(async () => {
    await c.close();
    store.close();
  });
  return c;
}

/** Creates an upload of device A at a collector of ours, with `text` at offset 0. */
async function shipped(base: string, text: string): Promise<string> {
  const created = await req(`${base}/files`, 'POST', {
    ...A,
    'upload-defer-length': '1',
    'upload-metadata': `name ${b64(NAME)}`,
  });
  expect(created.status).toBe(201);
  const url = `${base}/files/${DEVICES.a.device}/${NAME}`;
  expect((await req(url, 'PATCH', { ...A, 'upload-offset': '0' }, text)).status).toBe(204);
  return url;
}

let stockCount = 0;

/** A stock upload with `text` at 0; returns its URL and the key its bytes are under. */
async function stockUpload(text: string): Promise<{ base: string; url: string; tag: string }> {
  const tag = `stock${stockCount++}-${Date.now()}-`;
  const base = await stockServer(tag);
  expect(
    (
      await req(`${base}/files`, 'POST', {
        'upload-defer-length': '1',
        'upload-metadata': `name ${b64(NAME)}`,
      })
    ).status,
  ).toBe(201);
  const url = `${base}/files/${tag}${NAME}`;
  expect((await req(url, 'PATCH', { 'upload-offset': '0' }, text)).status).toBe(204);
  return { base, url, tag };
}

describe('the stock @tus/server + @tus/s3-store setup lets a device erase or rewrite what it shipped', () => {
  it('no token is asked: anyone reads the offset of, and appends to, any upload', async () => {
    const { url } = await stockUpload('shipped\n');
    const head = await req(url, 'HEAD');
    expect([head.status, head.offset]).toEqual([200, '8']);
    expect((await req(url, 'PATCH', { 'upload-offset': '8' }, 'forged\n')).status).toBe(204);
  });

  // 5 MiB and more go to a multipart upload's part (less to a .part object).
  const big = 'x'.repeat(5 * 1024 * 1024) + 'tail\n';

  it('a re-POST of the same name starts it over: the shipped part is gone from the upload', async () => {
    const { base, url, tag } = await stockUpload(big);
    expect((await req(url, 'HEAD')).offset).toBe(String(big.length));
    const again = await req(`${base}/files`, 'POST', {
      'upload-defer-length': '1',
      'upload-metadata': `name ${b64(NAME)}`,
    });
    expect(again.status).toBe(201);
    // Asked of another process (no cache): nothing is left of 5 MiB acknowledged.
    const other = await stockServer(tag);
    expect((await req(`${other}/files/${tag}${NAME}`, 'HEAD')).offset).toBe('0');
  });

  it('DELETE aborts the upload: its shipped part is destroyed', async () => {
    const { url, tag } = await stockUpload(big);
    expect(await botoMultipartUploads(swift, bucket, tag)).toEqual([`${tag}${NAME}`]);
    // On Swift the response is a 500 (the SDK's multi-delete checksum), after the abort.
    expect([204, 500]).toContain((await req(url, 'DELETE')).status);
    expect(await botoMultipartUploads(swift, bucket, tag)).toEqual([]);
  });

  it('a finished upload is read back with GET', async () => {
    const { url } = await stockUpload('shipped\n');
    expect(
      (await req(url, 'PATCH', { 'upload-offset': '8', 'upload-length': '8' }, '')).status,
    ).toBe(204);
    const got = await req(url, 'GET');
    expect([got.status, got.text]).toEqual([200, 'shipped\n']);
  });

  it('two collector processes both acknowledge different bytes at offset 0', async () => {
    const tag = `stock-two-${Date.now()}-`;
    const one = await stockServer(tag);
    const two = await stockServer(tag); // another process: its own in-memory locker
    expect(
      (
        await req(`${one}/files`, 'POST', {
          'upload-defer-length': '1',
          'upload-metadata': `name ${b64(NAME)}`,
        })
      ).status,
    ).toBe(201);
    const path = `/files/${tag}${NAME}`;
    let second = 0;
    const first = await slowPatch(`${one}${path}`, 0, {}, 'AAAAAAAA', async () => {
      second = (await req(`${two}${path}`, 'PATCH', { 'upload-offset': '0' }, 'BBBB')).status;
    });
    // Both wrote at 0 and were told so: one of the two acknowledged writes is not what is stored.
    expect([first, second]).toEqual([204, 204]);
  });
});

describe('sshcast collect refuses the same attacks; the stored bytes stay as shipped', () => {
  const prefix = `ours-${Date.now()}/`;
  let c: Collector;
  let url: string;
  const id = `${DEVICES.a.device}/${NAME}`;
  const stored = async () => (await storedBytes(swift, bucket, prefix, id)).bytes.toString();

  beforeAll(async () => {
    c = await ours(prefix);
    url = await shipped(c.url, 'shipped bytes\n');
    expect(await stored()).toBe('shipped bytes\n');
  });

  it('DELETE: 405', async () => {
    expect((await req(url, 'DELETE', A)).status).toBe(405);
    expect(await stored()).toBe('shipped bytes\n');
  });

  it('a re-POST of an existing upload: 409', async () => {
    const again = await req(`${c.url}/files`, 'POST', {
      ...A,
      'upload-defer-length': '1',
      'upload-metadata': `name ${b64(NAME)}`,
    });
    expect(again.status).toBe(409);
    expect((await req(url, 'HEAD', A)).offset).toBe('14');
    expect(await stored()).toBe('shipped bytes\n');
  });

  it('a PATCH at an offset already written: 409', async () => {
    expect((await req(url, 'PATCH', { ...A, 'upload-offset': '0' }, 'REWRITTEN\n')).status).toBe(
      409,
    );
    expect((await req(url, 'PATCH', { ...A, 'upload-offset': '3' }, 'x')).status).toBe(409);
    expect(await stored()).toBe('shipped bytes\n');
  });

  it('a second collector refuses a PATCH at 0 while the first writes it; the first’s bytes are stored', async () => {
    const p2 = `ours2-${Date.now()}/`;
    const one = await ours(p2);
    const two = await ours(p2);
    const created = await req(`${one.url}/files`, 'POST', {
      ...A,
      'upload-defer-length': '1',
      'upload-metadata': `name ${b64(NAME)}`,
    });
    expect(created.status).toBe(201);
    const path = `/files/${id}`;
    let second = 0;
    const first = await slowPatch(`${one.url}${path}`, 0, A, 'AAAAAAAA', async () => {
      second = (await req(`${two.url}${path}`, 'PATCH', { ...A, 'upload-offset': '0' }, 'BBBB'))
        .status;
    });
    expect([first, second]).toEqual([204, 423]);
    expect((await storedBytes(swift, bucket, p2, id)).bytes.toString()).toBe('AAAAAAAA');
  });

  it("another device's token: HEAD, PATCH and POST of device A's upload are 403; GET is 405", async () => {
    expect((await req(url, 'HEAD', B)).status).toBe(403);
    expect((await req(url, 'PATCH', { ...B, 'upload-offset': '14' }, 'evil\n')).status).toBe(403);
    expect((await req(url, 'GET', B)).status).toBe(405);
    expect((await req(url, 'GET', A)).status).toBe(405); // no reading back, not even one's own
    // B's POST names B's own upload, whatever it asks for: A's stays as it is.
    const post = await req(`${c.url}/files`, 'POST', {
      ...B,
      'upload-defer-length': '1',
      'upload-metadata': `name ${b64(NAME)}`,
    });
    expect(post.status).toBe(201);
    expect(await stored()).toBe('shipped bytes\n');
  });

  it('no token and a wrong token: 401', async () => {
    expect((await req(url, 'HEAD')).status).toBe(401);
    expect((await req(url, 'HEAD', bearer('x'.repeat(40)))).status).toBe(401);
    expect((await req(url, 'PATCH', { 'upload-offset': '14' }, 'evil\n')).status).toBe(401);
    expect((await req(`${c.url}/files`, 'POST', { 'upload-defer-length': '1' })).status).toBe(401);
    expect(await stored()).toBe('shipped bytes\n');
  });

  it('what a device may do still works: append to its own upload at its end', async () => {
    expect((await req(url, 'PATCH', { ...A, 'upload-offset': '14' }, 'more\n')).status).toBe(204);
    expect(await stored()).toBe('shipped bytes\nmore\n');
  });
});
