/**
 * One HTTP(S) request for the uploader, with a body streamed from a file (memory stays bounded
 * whatever the batch size) and a timeout on silence, so a collector that stops answering (stalled,
 * or a network that stopped forwarding) is given up on instead of waited for.
 */
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { SshcastError } from '../errors.js';

export interface RequestOptions {
  method: string;
  headers: Record<string, string>;
  /** The body: bytes [start, end) of a file. */
  file?: { path: string; start: number; end: number };
  /** Give up when nothing moves for this long. */
  timeoutMs: number;
  /** Extra CA certificates (PEM) to trust for https. */
  ca?: string | Buffer;
  signal?: AbortSignal;
}

export interface Response {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** The request failed before an answer came: refused, reset, timed out, aborted. */
export class NetworkError extends SshcastError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_UPLOAD', message, options);
  }
}

/** Bytes read from the file at a time for a request body. */
const READ_CHUNK = 1024 * 1024;
/** Read buffers kept for reuse, over all requests. */
const POOL_MAX = 4;
const pool: Buffer[] = [];

/**
 * Writes bytes [start, end) of the file into `req` and ends it, from reused 1 MiB buffers: two
 * per request at most, one being read while the other is written. A flood of uploads then
 * allocates nothing per batch (a fresh buffer for every read, as a file stream makes, was memory
 * the garbage collector had to chase at the rate of the upload).
 */
async function sendFile(
  file: { path: string; start: number; end: number },
  req: http.ClientRequest,
) {
  const fh = await fs.promises.open(file.path, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  const taken: Buffer[] = [];
  const take = () => {
    const b = pool.pop() ?? Buffer.allocUnsafeSlow(READ_CHUNK);
    taken.push(b);
    return b;
  };
  const written = new Map<Buffer, Promise<void>>();
  // A request that is torn down may never call its write callbacks: stop waiting for them.
  const closed = new Promise<void>((resolve) => req.once('close', resolve));
  try {
    let pos = file.start;
    let i = 0;
    const bufs = [take(), file.end - file.start > READ_CHUNK ? take() : undefined];
    while (pos < file.end) {
      const buf = bufs[i++ % 2] ?? bufs[0]!;
      // Its last piece is in the socket (or the request is gone): it can be read into again.
      if (written.has(buf)) await Promise.race([written.get(buf), closed]);
      if (req.destroyed) return;
      const { bytesRead } = await fh.read(buf, 0, Math.min(READ_CHUNK, file.end - pos), pos);
      if (bytesRead === 0)
        throw new SshcastError('ERR_UPLOAD', `file ends before byte ${file.end}`);
      pos += bytesRead;
      written.set(
        buf,
        new Promise<void>((resolve) => req.write(buf.subarray(0, bytesRead), () => resolve())),
      );
    }
    await Promise.race([Promise.all(written.values()), closed]);
    if (!req.destroyed) req.end();
  } finally {
    await fh.close();
    for (const b of taken) if (pool.length < POOL_MAX) pool.push(b);
  }
}

const agents = new Map<string, http.Agent>();

function agentFor(url: URL, ca: string | Buffer | undefined): http.Agent {
  const key = `${url.protocol}${ca ? ':ca' : ''}`;
  let agent = agents.get(key);
  if (!agent) {
    agent =
      url.protocol === 'https:'
        ? new https.Agent({ keepAlive: true, ...(ca ? { ca } : {}) })
        : new http.Agent({ keepAlive: true });
    agents.set(key, agent);
  }
  return agent;
}

/** Sends one request; resolves with the answer (any status), rejects with a NetworkError. */
export function send(target: string, options: RequestOptions): Promise<Response> {
  const url = new URL(target);
  const lib = url.protocol === 'https:' ? https : http;
  return new Promise<Response>((resolve, reject) => {
    let settled = false;
    const fail = (message: string) => {
      if (settled) return;
      settled = true;
      req.destroy();
      reject(new NetworkError(message));
    };
    const length = options.file ? options.file.end - options.file.start : 0;
    const req = lib.request(url, {
      method: options.method,
      agent: agentFor(url, options.ca),
      headers: {
        ...options.headers,
        ...(options.file || options.method === 'POST' || options.method === 'PATCH'
          ? { 'content-length': String(length) }
          : {}),
      },
    });
    req.setTimeout(options.timeoutMs, () =>
      fail(`no answer from ${url.host} in ${options.timeoutMs} ms`),
    );
    const onAbort = () => fail('aborted');
    options.signal?.addEventListener('abort', onAbort, { once: true });
    req.once('error', (err) => fail(`${url.host}: ${err.message}`));
    req.once('response', (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        if (size < 4096) chunks.push(c);
        size += c.length;
      });
      res.once('error', (err) => fail(`${url.host}: ${err.message}`));
      res.once('end', () => {
        if (settled) return;
        settled = true;
        options.signal?.removeEventListener('abort', onAbort);
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString('utf8').slice(0, 4096),
        });
      });
    });
    if (options.file && length > 0) {
      const file = options.file;
      sendFile(file, req).catch((err: unknown) =>
        fail(`reading ${file.path}: ${err instanceof Error ? err.message : String(err)}`),
      );
    } else {
      req.end();
    }
  });
}
