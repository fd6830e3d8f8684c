/**
 * The collector's read side, for `sshcast verify --against URL` on a machine that has no keys to
 * the bucket: `GET /copies/DEVICE/` lists what the store holds of one device (finished and live
 * uploads), `GET /copies/DEVICE/NAME` gives one copy's bytes as the store has them now. Only the
 * read token (`@read` in the tokens file) opens it. A device's token never reads anything back,
 * its own uploads included (a compromised device must not learn what the collector holds), and
 * the metrics token reads only /metrics.
 */
import type http from 'node:http';
import { pipeline } from 'node:stream';
import { DEVICE_PATTERN, uploadKind } from '../storage/layout.js';
import type { ObjectStore } from '../storage/objects.js';
import { listStored, openStored } from '../storage/reader.js';
import { bearer, type Tokens } from './tokens.js';

/** The path the stored copies are read under. */
export const COPIES_PATH = '/copies';

/** One entry of a `GET /copies/DEVICE/` answer. */
export interface CopyListing {
  /** A recording's file name, or a ledger's remote name (`.sshcast/ledger-T0.jsonl`). */
  name: string;
  kind: 'recording' | 'ledger';
  size: number;
  /** Whether its upload is still open (its bytes read from the segments so far). */
  live: boolean;
  /** When it was last written, ms since the epoch (the store's clock). */
  lastModified: number;
}

function reply(res: http.ServerResponse, status: number, text: string, headers = {}): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', ...headers });
  res.end(`${text}\n`);
}

/** `DEVICE` and `NAME` (undefined for the listing) of a /copies/ path; undefined if malformed. */
export function parseCopiesPath(
  path: string,
): { device: string; name: string | undefined } | undefined {
  const rest = path.slice(COPIES_PATH.length + 1);
  let parts: string[];
  try {
    parts = rest.split('/').map(decodeURIComponent);
  } catch {
    return undefined;
  }
  const device = parts[0] ?? '';
  if (!DEVICE_PATTERN.test(device)) return undefined;
  const name = parts.slice(1).join('/');
  if (name === '') return { device, name: undefined };
  return uploadKind(name) ? { device, name } : undefined;
}

/** Answers one request below {@link COPIES_PATH}. */
export async function serveCopies(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  store: ObjectStore,
  tokens: Tokens,
): Promise<void> {
  if (req.method !== 'GET' && req.method !== 'HEAD')
    return reply(res, 405, 'GET only', { allow: 'GET, HEAD' });
  const token = bearer(req.headers.authorization);
  if (!token || !tokens.reader(token))
    return reply(res, 401, 'the read token is needed', { 'www-authenticate': 'Bearer' });
  const where = parseCopiesPath((req.url ?? '/').split('?')[0]!);
  if (!where) return reply(res, 404, 'not a device, recording or ledger');
  if (where.name === undefined) {
    const list: CopyListing[] = (await listStored(store, where.device)).map((e) => ({
      name: e.name,
      kind: e.kind,
      size: e.size,
      live: e.live,
      lastModified: e.lastModified,
    }));
    const body = Buffer.from(JSON.stringify(list));
    res.writeHead(200, {
      'content-type': 'application/json',
      'content-length': body.length,
      'cache-control': 'no-store',
    });
    return void res.end(req.method === 'HEAD' ? undefined : body);
  }
  const content = await openStored(store, where.device, where.name);
  if (!content) return reply(res, 404, 'no such copy');
  res.writeHead(200, {
    'content-type': 'application/octet-stream',
    'content-length': content.size,
    'last-modified': new Date(content.lastModified).toUTCString(),
    'x-sshcast-live': content.live ? '1' : '0',
    'cache-control': 'no-store',
  });
  if (req.method === 'HEAD') return void res.end();
  // A failure midway cuts the answer short of its Content-Length: the client sees it as one.
  pipeline(content.stream(), res, () => {});
}
