/**
 * The replay web server behind `sshcast web`: a list of recordings and a replay view with
 * asciinema-player, served from the installed package. Private by construction: every response
 * first checks the `Host` header (421 otherwise, against DNS rebinding), then the token (401).
 */
import fs from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { pipeline } from 'node:stream';
import {
  cookieName,
  hostAllowed,
  hostForUrl,
  readCookie,
  sameSecret,
  tokenCookie,
} from './access.js';
import { LedgerIndexReader, sealMark } from '../sealing/ledger-index.js';
import { loadClientModules } from './client-modules.js';
import { FileRefused, RecordingFiles } from './files.js';
import { StoredRecordings } from './stored-files.js';
import type { ObjectStore } from '../storage/objects.js';
import { LIST_PAGE, PAGE_CSS, VIEW_PAGE } from './page.js';

/** Options for {@link startWebServer}. */
export interface WebServerOptions {
  /** The directory of recordings; only `*.cast` regular files directly inside it are served. */
  dir: string;
  /**
   * A collectors' store (an S3 bucket or a collector's `--dir`) to serve instead of `dir`: every
   * device's recordings, named `DEVICE/NAME`. The server owns it from then on and closes it.
   */
  store?: ObjectStore;
  /** With `store`, serve only this device's recordings. */
  device?: string;
  /** Address to listen on; loopback by default. */
  host?: string;
  /** Port; 0 picks a free one (see {@link WebServer.port}). */
  port?: number;
  /** The secret every request must carry (query once, then cookie). */
  token: string;
}

/** A running replay server. */
export interface WebServer {
  /** The port actually bound. */
  port: number;
  /** `http://HOST:PORT/`. */
  url: string;
  /** The URL to open, carrying the token: `http://HOST:PORT/?token=TOKEN`. */
  urlWithToken: string;
  /** Stops listening, ends open connections and releases the directory. */
  close(): Promise<void>;
}

/** The Content-Security-Policy of every response: no inline script; the player needs WebAssembly. */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self' 'wasm-unsafe-eval'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const SECURITY_HEADERS: Record<string, string> = {
  'Content-Security-Policy': CONTENT_SECURITY_POLICY,
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-store',
  'X-Frame-Options': 'DENY',
  'Cross-Origin-Resource-Policy': 'same-origin',
};

interface Asset {
  type: string;
  body: Buffer;
}

function loadAssets(): Map<string, Asset> {
  const require = createRequire(import.meta.url);
  const read = (path: string): Buffer => fs.readFileSync(path);
  const js = 'text/javascript; charset=utf-8';
  const css = 'text/css; charset=utf-8';
  return new Map<string, Asset>([
    [
      '/assets/player.js',
      {
        type: js,
        body: read(require.resolve('asciinema-player/dist/bundle/asciinema-player.min.js')),
      },
    ],
    [
      '/assets/player.css',
      {
        type: css,
        body: read(require.resolve('asciinema-player/dist/bundle/asciinema-player.css')),
      },
    ],
    ['/assets/app.css', { type: css, body: Buffer.from(PAGE_CSS) }],
    ...[...loadClientModules()].map(([p, body]): [string, Asset] => [p, { type: js, body }]),
  ]);
}

/** Starts the server; resolves once it accepts connections. */
export async function startWebServer(options: WebServerOptions): Promise<WebServer> {
  const host = options.host ?? '127.0.0.1';
  const files = options.store
    ? new StoredRecordings(options.store, options.device)
    : RecordingFiles.open(options.dir);
  // A stored recording's name is DEVICE/NAME (checked by StoredRecordings), a file's one segment.
  const nameOf = options.store ? decoded : segment;
  // Sealing (DESIGN section 7): each listed recording says through which line it is sealed.
  const seals = options.store ? undefined : new LedgerIndexReader(options.dir);
  let assets: Map<string, Asset>;
  try {
    assets = loadAssets();
  } catch (err) {
    files.close();
    throw err;
  }
  let port = 0;
  const server = http.createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) send(res, 500, 'text/plain; charset=utf-8', 'internal error\n');
      else res.destroy();
    });
  });

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    if (!hostAllowed(req.headers.host, host, port)) {
      return send(res, 421, 'text/plain; charset=utf-8', 'misdirected request: wrong Host\n');
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      return send(res, 405, 'text/plain; charset=utf-8', 'method not allowed\n');
    }
    const raw = req.url ?? '/';
    const q = raw.indexOf('?');
    const pathname = q === -1 ? raw : raw.slice(0, q);
    const query = new URLSearchParams(q === -1 ? '' : raw.slice(q + 1));

    const given = query.get('token');
    if (given !== null) {
      if (!sameSecret(given, options.token)) return unauthorized(res);
      query.delete('token');
      const rest = query.toString();
      // A path such as `//evil.example` would make the redirect leave this site.
      const path = /^\/(?![/\\])/.test(pathname) ? pathname : '/';
      res.setHeader('Set-Cookie', tokenCookie(port, options.token));
      res.setHeader('Location', rest ? `${path}?${rest}` : path);
      return send(res, 303, 'text/plain; charset=utf-8', 'see other\n');
    }
    const cookie = readCookie(req.headers.cookie, cookieName(port));
    if (cookie === undefined || !sameSecret(cookie, options.token)) return unauthorized(res);

    if (pathname === '/') return send(res, 200, 'text/html; charset=utf-8', LIST_PAGE);
    if (pathname === '/view') return send(res, 200, 'text/html; charset=utf-8', VIEW_PAGE);
    const asset = assets.get(pathname);
    if (asset) return send(res, 200, asset.type, asset.body);
    if (pathname === '/api/recordings') {
      const list = await files.list();
      const index = seals?.read();
      const body = index ? list.map((r) => ({ ...r, sealed: sealMark(index, r.file) })) : list;
      return send(res, 200, 'application/json; charset=utf-8', JSON.stringify(body));
    }
    if (pathname.startsWith('/api/recordings/')) {
      const name = nameOf(pathname.slice('/api/recordings/'.length));
      if (name === undefined)
        return send(res, 400, 'text/plain; charset=utf-8', 'bad recording name\n');
      try {
        const summary = await files.summary(name);
        if (!summary) return send(res, 404, 'text/plain; charset=utf-8', 'no such recording\n');
        return send(res, 200, 'application/json; charset=utf-8', JSON.stringify(summary));
      } catch (err) {
        if (err instanceof FileRefused)
          return send(res, err.status, 'text/plain; charset=utf-8', `${err.message}\n`);
        throw err;
      }
    }
    if (pathname.startsWith('/files/')) {
      const name = nameOf(pathname.slice('/files/'.length));
      if (name === undefined)
        return send(res, 400, 'text/plain; charset=utf-8', 'bad recording name\n');
      let lines;
      try {
        lines = await files.openComplete(name);
      } catch (err) {
        if (err instanceof FileRefused)
          return send(res, err.status, 'text/plain; charset=utf-8', `${err.message}\n`);
        throw err;
      }
      res.writeHead(200, {
        ...SECURITY_HEADERS,
        'Content-Type': 'text/plain; charset=utf-8',
        'Content-Length': lines.length,
      });
      if (req.method === 'HEAD') {
        lines.stream.destroy();
        res.end();
        return;
      }
      pipeline(lines.stream, res, () => {});
      return;
    }
    return send(res, 404, 'text/plain; charset=utf-8', 'not found\n');
  };

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 8080, host, () => {
      server.off('error', reject);
      resolve();
    });
  }).catch((err: unknown) => {
    files.close();
    throw err;
  });
  port = (server.address() as AddressInfo).port;
  const url = `http://${hostForUrl(host)}:${port}/`;
  return {
    port,
    url,
    urlWithToken: `${url}?token=${options.token}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => {
          files.close();
          resolve();
        });
        server.closeAllConnections();
      }),
  };
}

/** Decodes a path part; undefined when it is malformed or empty. */
function decoded(raw: string): string | undefined {
  try {
    const text = decodeURIComponent(raw);
    return text === '' || text.includes('\0') ? undefined : text;
  } catch {
    return undefined;
  }
}

/** Decodes one path segment; undefined when it is malformed or holds a separator after decoding. */
function segment(raw: string): string | undefined {
  let name: string;
  try {
    name = decodeURIComponent(raw);
  } catch {
    return undefined;
  }
  if (name === '' || name.includes('/') || name.includes('\\') || name.includes('\0'))
    return undefined;
  return name;
}

function send(res: http.ServerResponse, status: number, type: string, body: string | Buffer): void {
  const bytes = typeof body === 'string' ? Buffer.from(body) : body;
  res.writeHead(status, {
    ...SECURITY_HEADERS,
    'Content-Type': type,
    'Content-Length': bytes.length,
  });
  res.end(bytes);
}

function unauthorized(res: http.ServerResponse): void {
  send(
    res,
    401,
    'text/plain; charset=utf-8',
    'unauthorized: open the URL with the token that `sshcast web` printed\n',
  );
}
