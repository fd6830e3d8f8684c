/**
 * A device's copies read through a collector (`GET /copies/DEVICE/…` with the read token,
 * collect/read.ts), for `sshcast verify --against http(s)://HOST:PORT[/DEVICE]` where the
 * verifier has no keys to the bucket. Bytes are streamed, never held whole.
 */
import http from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';
import { SshcastError } from '../errors.js';
import type { CopyListing } from '../collect/read.js';
import type { Copies } from './compare.js';

/** A collector answered a read with an error, or did not answer. */
export class CollectorReadError extends SshcastError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_COLLECTOR_READ', message, options);
  }
}

export interface CollectorCopiesOptions {
  /** The collector, `http(s)://HOST:PORT` as `sshcast collect` printed it. */
  url: string;
  device: string;
  /** The collector's read token (`@read` in its tokens file). */
  token: string;
  /** Extra CA certificates (PEM) to trust for https. */
  ca?: string | Buffer;
  /** Give up on a request that is silent this long. Default 30 s. */
  timeoutMs?: number;
}

/** The copies of `device` that the collector at `url` reads from its store. */
export function collectorCopies(options: CollectorCopiesOptions): Copies {
  const base = new URL(options.url);
  const lib = base.protocol === 'https:' ? https : http;
  const agent =
    base.protocol === 'https:'
      ? new https.Agent({ keepAlive: true, ...(options.ca ? { ca: options.ca } : {}) })
      : new http.Agent({ keepAlive: true });
  const timeoutMs = options.timeoutMs ?? 30_000;
  const get = (name: string): Promise<http.IncomingMessage> =>
    new Promise((resolve, reject) => {
      // `DEVICE/` lists; `DEVICE/NAME` reads (a ledger's NAME holds a `/`).
      const segments = [options.device, ...(name === '' ? [''] : name.split('/'))];
      const target = new URL(`/copies/${segments.map(encodeURIComponent).join('/')}`, base);
      const req = lib.request(target, {
        agent,
        headers: { authorization: `Bearer ${options.token}` },
      });
      req.setTimeout(timeoutMs, () =>
        req.destroy(new CollectorReadError(`no answer in ${timeoutMs} ms`)),
      );
      req.once('error', (err) =>
        reject(new CollectorReadError(`${base.host}: ${err.message}`, { cause: err })),
      );
      req.once('response', resolve);
      req.end();
    });
  const failed = async (res: http.IncomingMessage, what: string): Promise<never> => {
    let text = '';
    for await (const chunk of res) if (text.length < 500) text += String(chunk);
    const why = text.trim().split('\n')[0] ?? '';
    throw new CollectorReadError(
      `${base.host}: ${what}: HTTP ${res.statusCode}${why ? ` (${why})` : ''}`,
    );
  };
  return {
    async list() {
      const res = await get('');
      if (res.statusCode !== 200) return failed(res, `listing ${options.device}`);
      let text = '';
      for await (const chunk of res) text += String(chunk);
      const list = JSON.parse(text) as CopyListing[];
      return list.map((e) => ({
        name: e.name,
        kind: e.kind,
        size: e.size,
        mtimeMs: e.lastModified,
      }));
    },
    async open(name): Promise<Readable | undefined> {
      const res = await get(name);
      if (res.statusCode === 404) {
        res.resume();
        return undefined;
      }
      if (res.statusCode !== 200) return failed(res, `reading ${name}`);
      return res;
    },
    close() {
      agent.destroy();
    },
  };
}
