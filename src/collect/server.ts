/**
 * The collector: an HTTP(S) server speaking tus 1.0 (creation, creation-defer-length; no
 * termination) with `@tus/server`, our store (tus-store.ts), locker (locker.ts) and id handling,
 * GET /metrics, and GET /copies/ for the read token (read.ts). Devices authenticate with a bearer
 * token; a device may only create uploads under its own name and append to them: nothing is read
 * back with a device's token, nothing deleted.
 *
 * Upload URLs are `/files/DEVICE/NAME`; the id is `DEVICE/NAME` (storage/layout.ts). The device
 * names NAME in the POST's `Upload-Metadata` (`name`); the collector puts DEVICE, from the token,
 * in front. So a device knows its uploads' ids without asking, and builds each request from its
 * own configured collector URL.
 */
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { Server as TusServer } from '@tus/server';
import { TusError } from './errors.js';
import type { FaultHook } from './faults.js';
import { Finisher } from './finisher.js';
import { Leases } from './leases.js';
import { LeaseLocker } from './locker.js';
import { COPIES_PATH, serveCopies } from './read.js';
import { CollectorMetrics } from './metrics.js';
import { bearer, type Tokens } from './tokens.js';
import { UploadStore } from './tus-store.js';
import { parseUploadId, uploadId, uploadKind } from '../storage/layout.js';
import type { ObjectStore } from '../storage/objects.js';
import { escapingLogger, type Logger } from '../log.js';

/** The path uploads live under. */
export const UPLOAD_PATH = '/files';

export interface CollectorOptions {
  store: ObjectStore;
  tokens: Tokens;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0: a free port. */
  port?: number;
  /** PEM certificate and key: serve HTTPS. */
  tls?: { cert: string | Buffer; key: string | Buffer };
  /** Lease time (leases.ts). Default 10 s. */
  leaseMs?: number;
  /** Takeover settle time (leases.ts). Default 500 ms. */
  settleMs?: number;
  /** An open upload silent this long is copied to its object. Default one hour. */
  idleMs?: number;
  /** How often to sweep the store for work a crashed collector left. Default 60 s; 0: never. */
  sweepMs?: number;
  /** Biggest segment (tus-store.ts). */
  segmentBytes?: number;
  /** PATCH bytes held in memory at once. */
  bufferBytes?: number;
  /** Uploads composed at once (finisher.ts). Default 8. */
  finishing?: number;
  /**
   * Requests one device may have open at once; past it, 429 with `Retry-After`. A device's
   * uploader has one request open per recording being shipped, so this is a device's concurrent
   * sessions (and its ledger); a device's token cannot take more of the collector than that.
   * Default 256.
   */
  maxRequestsPerDevice?: number;
  faults?: FaultHook;
  log?: Logger;
  /** Milliseconds, monotonic, for lease renewals; injectable for simulations. */
  now?: () => number;
}

export interface Collector {
  /** `http(s)://HOST:PORT`, what devices are given. */
  readonly url: string;
  readonly port: number;
  readonly metrics: CollectorMetrics;
  readonly finisher: Finisher;
  /** Stops accepting requests and ends open ones. */
  close(): Promise<void>;
}

function reply(res: http.ServerResponse, status: number, text: string, headers = {}): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', ...headers });
  res.end(text.endsWith('\n') ? text : `${text}\n`);
}

/** Starts a collector; resolves once it accepts connections. */
export async function startCollector(options: CollectorOptions): Promise<Collector> {
  const logTo = escapingLogger(options.log);
  const log: Logger = (m) => logTo(`collect: ${m}`);
  const { store, tokens } = options;
  const leases = new Leases(store, {
    ...(options.now ? { now: options.now } : {}),
    ...(options.leaseMs !== undefined ? { leaseMs: options.leaseMs } : {}),
    ...(options.settleMs !== undefined ? { settleMs: options.settleMs } : {}),
    ...(options.faults ? { faults: options.faults } : {}),
    log,
  });
  const metrics = new CollectorMetrics();
  let finisher!: Finisher;
  const uploads = new UploadStore({
    store,
    leases,
    ...(options.segmentBytes !== undefined ? { segmentBytes: options.segmentBytes } : {}),
    ...(options.bufferBytes !== undefined ? { bufferBytes: options.bufferBytes } : {}),
    ...(options.faults ? { faults: options.faults } : {}),
    events: {
      received: (device, bytes) => metrics.received(device, bytes),
      complete: (id) => void finisher.finish(id),
    },
  });
  finisher = new Finisher({
    store,
    leases,
    uploads,
    log,
    ...(options.idleMs !== undefined ? { idleMs: options.idleMs } : {}),
    ...(options.finishing !== undefined ? { concurrency: options.finishing } : {}),
    ...(options.faults ? { faults: options.faults } : {}),
  });

  const deviceOf = (authorization: string | null | undefined): string => {
    const token = bearer(authorization);
    const device = token ? tokens.device(token) : undefined;
    if (!device) throw new TusError(401, 'a valid device token is needed');
    return device;
  };

  const tus = new TusServer({
    path: UPLOAD_PATH,
    datastore: uploads,
    locker: new LeaseLocker(uploads),
    relativeLocation: true,
    allowedOrigins: [],
    namingFunction: (req, metadata) => {
      const device = deviceOf(req.headers.get('authorization'));
      const name = metadata?.name ?? '';
      // A device says whose upload it makes: a token of another device is refused, not filed
      // under that other device's name.
      if (metadata?.device !== undefined && metadata.device !== device)
        throw new TusError(403, `this token is not ${metadata.device ?? 'that device'}'s`);
      if (!uploadKind(name))
        throw new TusError(400, 'Upload-Metadata "name" must be a recording or ledger name');
      const id = uploadId(device, name);
      uploads.creating.add(id);
      return id;
    },
    getFileIdFromRequest: (req) => {
      const path = new URL(req.url).pathname;
      if (!path.startsWith(`${UPLOAD_PATH}/`)) return undefined;
      let id: string;
      try {
        id = path
          .slice(UPLOAD_PATH.length + 1)
          .split('/')
          .map(decodeURIComponent)
          .join('/');
      } catch {
        return undefined;
      }
      return parseUploadId(id) ? id : undefined;
    },
    onUploadCreate: async (_req, upload) => {
      if (await uploads.info(upload.id)) {
        uploads.creating.delete(upload.id);
        throw new TusError(409, 'this upload exists already');
      }
      return {};
    },
    onIncomingRequest: async (req, id) => {
      const device = deviceOf(req.headers.get('authorization'));
      if (parseUploadId(id)?.device !== device) {
        uploads.creating.delete(id);
        throw new TusError(403, "another device's upload");
      }
    },
  });

  const maxOpen = options.maxRequestsPerDevice ?? 256;
  const open = new Map<string, number>();

  const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0]!;
    if (path === '/metrics') {
      if (req.method !== 'GET') return reply(res, 405, 'GET only', { allow: 'GET' });
      const token = bearer(req.headers.authorization);
      if (!token || !tokens.metrics(token))
        return reply(res, 401, 'the metrics token is needed', { 'www-authenticate': 'Bearer' });
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
      return res.end(metrics.render());
    }
    if (path.startsWith(`${COPIES_PATH}/`)) {
      serveCopies(req, res, store, tokens).catch((err: unknown) => {
        log(`read failed: ${err instanceof Error ? err.message : String(err)}`);
        if (!res.headersSent) reply(res, 500, 'internal error');
        else res.destroy();
      });
      return;
    }
    if (path !== UPLOAD_PATH && !path.startsWith(`${UPLOAD_PATH}/`))
      return reply(res, 404, 'not found');
    if (req.method === 'DELETE' || req.method === 'GET')
      return reply(res, 405, 'uploads cannot be read or deleted', {
        allow: 'OPTIONS, HEAD, POST, PATCH',
        'tus-resumable': '1.0.0',
      });
    let device: string;
    if (req.method !== 'OPTIONS') {
      try {
        device = deviceOf(req.headers.authorization);
      } catch {
        return reply(res, 401, 'a valid device token is needed', {
          'www-authenticate': 'Bearer',
          'tus-resumable': '1.0.0',
        });
      }
      metrics.heard(device);
      const opened = open.get(device) ?? 0;
      if (opened >= maxOpen) {
        metrics.refusedBusy(device);
        return reply(res, 429, `more than ${maxOpen} requests from ${device} at once; retry`, {
          'retry-after': '1',
          'tus-resumable': '1.0.0',
        });
      }
      open.set(device, opened + 1);
      res.once('close', () => {
        const n = open.get(device)! - 1;
        if (n > 0) open.set(device, n);
        else open.delete(device);
      });
      if (req.method === 'PATCH') {
        const started = performance.now();
        res.once('finish', () => {
          if (res.statusCode === 204) metrics.acknowledged(device, performance.now() - started);
        });
      }
    }
    tus.handle(req, res).catch((err: unknown) => {
      log(`request failed: ${err instanceof Error ? err.message : String(err)}`);
      if (!res.headersSent) reply(res, 500, 'internal error');
      else res.destroy();
    });
  };

  const server = options.tls
    ? https.createServer({ cert: options.tls.cert, key: options.tls.key }, handler)
    : http.createServer(handler);
  // A long PATCH may take minutes; an idle connection may not.
  server.requestTimeout = 0;
  server.headersTimeout = 30_000;
  server.timeout = 60_000;
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;

  let sweeping: Promise<void> | undefined;
  const sweepMs = options.sweepMs ?? 60_000;
  const sweepTimer =
    sweepMs > 0
      ? setInterval(() => {
          sweeping ??= finisher
            .sweep()
            .catch((err: unknown) =>
              log(`sweep: ${err instanceof Error ? err.message : String(err)}`),
            )
            .finally(() => (sweeping = undefined));
        }, sweepMs)
      : undefined;
  sweepTimer?.unref();

  const shownHost = host.includes(':') ? `[${host}]` : host;
  return {
    url: `${options.tls ? 'https' : 'http'}://${shownHost}:${port}`,
    port,
    metrics,
    finisher,
    close: async () => {
      if (sweepTimer) clearInterval(sweepTimer);
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await sweeping;
      await finisher.idle();
    },
  };
}
