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
      const src = fs.createReadStream(options.file.path, {
        start: options.file.start,
        end: options.file.end - 1,
      });
      src.once('error', (err) => fail(`reading ${options.file!.path}: ${err.message}`));
      src.pipe(req);
    } else {
      req.end();
    }
  });
}
