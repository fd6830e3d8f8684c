/**
 * The replay web server behind `sshcast web`: a list of recordings, a replay view with
 * asciinema-player served from the installed package, and live views of recordings still being
 * written. Private by construction: every response first checks the `Host` header (421
 * otherwise, against DNS rebinding); the page's shell and scripts, which name no recording, are
 * served to anyone who gets past it; every request for data needs the token in an
 * `Authorization: Bearer` header, and a live stream a ticket got with it (401 otherwise).
 */
import fs from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { pipeline } from 'node:stream';
import type { LivenessRule } from '../live/liveness.js';
import { escapingLogger, type Logger } from '../log.js';
import { LedgerIndexReader, sealMark } from '../sealing/ledger-index.js';
import { bearerToken, hostAllowed, hostForUrl, sameSecret } from './access.js';
import { Audit, clientOf } from './audit.js';
import { loadClientModules } from './client-modules.js';
import { FileRefused, isRecordingPath, RecordingFiles } from './files.js';
import { LiveStreams, type LiveOptions } from './live-streams.js';
import { StoredRecordings } from './stored-files.js';
import type { ObjectStore } from '../storage/objects.js';
import { LIST_PAGE, PAGE_CSS, VIEW_PAGE } from './page.js';
import { SECURITY_HEADERS, send, sendJson, sendText } from './respond.js';

/** Options for {@link startWebServer}. */
export interface WebServerOptions {
  /**
   * The directory of recordings: the `*.cast` regular files directly inside it, and those one
   * level down in a device's directory (`DEVICE/NAME.cast`, a collector's `--dir`).
   */
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
  /** The secret every request for data must carry, as `Authorization: Bearer TOKEN`. */
  token: string;
  /**
   * Which recordings are still being written (the live badge, the end of a live view). Default:
   * a process on this machine writes a file directly in `dir`; a `DEVICE/` file grew within
   * two minutes (`defaultLiveness` of sshcast's live/liveness.ts).
   */
  liveness?: LivenessRule;
  /** The live views' limits. */
  live?: LiveOptions;
  /** The audit log: every replay, live view and refused request. Default: stderr. */
  log?: Logger;
}

/** A running replay server. */
export interface WebServer {
  /** The port actually bound. */
  port: number;
  /** `http://HOST:PORT/`. */
  url: string;
  /**
   * The URL to open, carrying the token in its fragment, which a browser never sends to a server:
   * `http://HOST:PORT/#token=TOKEN`.
   */
  urlWithToken: string;
  /** Stops listening, ends open connections and live views, and releases the directory. */
  close(): Promise<void>;
}

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

const TICKET_PATH = /^\/api\/live\/([^/]+)\/ticket$/;

/** Starts the server; resolves once it accepts connections. */
export async function startWebServer(options: WebServerOptions): Promise<WebServer> {
  const host = options.host ?? '127.0.0.1';
  const files = options.store
    ? new StoredRecordings(options.store, options.device)
    : RecordingFiles.open(options.dir, options.liveness);
  // A stored recording's name is DEVICE/NAME (checked by StoredRecordings), a file's a recording
  // path of the directory.
  const nameOf = options.store ? decoded : recordingPath;
  // Sealing (DESIGN section 7): each listed recording says through which line it is sealed.
  const seals = options.store ? undefined : new LedgerIndexReader(options.dir);
  let assets: Map<string, Asset>;
  try {
    assets = loadAssets();
  } catch (err) {
    files.close();
    throw err;
  }
  const audit = new Audit(escapingLogger(options.log));
  const live =
    files instanceof RecordingFiles ? new LiveStreams(files, audit, options.live) : undefined;
  let port = 0;
  const server = http.createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) sendText(res, 500, 'internal error');
      else res.destroy();
    });
  });

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    if (!hostAllowed(req.headers.host, host, port))
      return sendText(res, 421, 'misdirected request: wrong Host');
    const method = req.method ?? 'GET';
    const raw = req.url ?? '/';
    const q = raw.indexOf('?');
    const pathname = q === -1 ? raw : raw.slice(0, q);
    const client = clientOf(req.socket);
    const refuse = (status: number, why: string): void => {
      audit.refused(method, pathname, client, status, why);
      if (status === 401) return unauthorized(res);
      sendText(res, status, why);
    };
    const methodIn = (allowed: string[]): boolean => {
      if (allowed.includes(method)) return true;
      res.setHeader('Allow', allowed.join(', '));
      sendText(res, 405, 'method not allowed');
      return false;
    };

    // The shell and its scripts hold no data: a browser must load them before it can send the
    // token, which it keeps where only this origin's scripts can read it.
    const shell = pathname === '/' ? LIST_PAGE : pathname === '/view' ? VIEW_PAGE : undefined;
    const asset = assets.get(pathname);
    if (shell !== undefined || asset) {
      if (!methodIn(['GET', 'HEAD'])) return;
      if (asset) return send(res, 200, asset.type, asset.body);
      return send(res, 200, 'text/html; charset=utf-8', shell!);
    }

    // A live stream: an EventSource cannot send the token, so it shows a ticket got with it.
    if (pathname.startsWith('/live/')) {
      const name = recordingPath(pathname.slice('/live/'.length));
      const ticket = q === -1 ? null : new URLSearchParams(raw.slice(q + 1)).get('ticket');
      if (name === undefined) return refuse(401, 'ticket: unknown');
      if (ticket === null) return refuse(401, 'no ticket');
      if (!methodIn(['GET'])) return;
      if (!live) return refuse(401, 'ticket: unknown');
      return live.stream(res, name, ticket, client, refuse);
    }

    const given = bearerToken(req.headers.authorization);
    if (given === undefined) return refuse(401, 'no token');
    if (!sameSecret(given, options.token)) return refuse(401, 'wrong token');
    const ticketPath = TICKET_PATH.exec(pathname);
    if (!methodIn(ticketPath ? ['POST'] : ['GET', 'HEAD'])) return;

    if (pathname === '/api/recordings') {
      const list = await files.list();
      const index = seals?.read();
      return sendJson(
        res,
        200,
        index ? list.map((r) => ({ ...r, sealed: sealMark(index, r.file) })) : list,
      );
    }
    try {
      if (ticketPath) {
        const name = nameOf(ticketPath[1]!);
        if (name === undefined) return sendText(res, 400, 'bad recording name');
        if (!live) return sendText(res, 404, 'no live view of a store: replay what it holds');
        return await live.ticket(res, name);
      }
      if (pathname.startsWith('/api/recordings/')) {
        const name = nameOf(pathname.slice('/api/recordings/'.length));
        if (name === undefined) return sendText(res, 400, 'bad recording name');
        const summary = await files.summary(name);
        if (!summary) return sendText(res, 404, 'no such recording');
        return sendJson(res, 200, summary);
      }
      if (pathname.startsWith('/files/')) {
        const name = nameOf(pathname.slice('/files/'.length));
        if (name === undefined) return sendText(res, 400, 'bad recording name');
        const lines = await files.openComplete(name);
        res.writeHead(200, {
          ...SECURITY_HEADERS,
          'Content-Type': 'text/plain; charset=utf-8',
          'Content-Length': lines.length,
        });
        if (method === 'HEAD') {
          lines.stream.destroy();
          res.end();
          return;
        }
        audit.replay(name, client);
        pipeline(lines.stream, res, () => {});
        return;
      }
    } catch (err) {
      if (err instanceof FileRefused) return sendText(res, err.status, err.message);
      throw err;
    }
    return sendText(res, 404, 'not found');
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
    urlWithToken: `${url}#token=${options.token}`,
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      await live?.close();
      server.closeAllConnections();
      await closed;
      files.close();
    },
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

/**
 * Decodes the recording path of a URL (one segment, `/` encoded as %2F for a device's
 * recordings); undefined when it is malformed or not a recording's path.
 */
function recordingPath(raw: string): string | undefined {
  let name: string;
  try {
    name = decodeURIComponent(raw);
  } catch {
    return undefined;
  }
  return isRecordingPath(name) ? name : undefined;
}

function unauthorized(res: http.ServerResponse): void {
  sendText(res, 401, 'unauthorized: this needs the token that `sshcast web` printed');
}
