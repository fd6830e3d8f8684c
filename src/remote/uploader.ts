/**
 * The device side of off-device copies: ships each recording, and the sealing ledger, to a
 * collector (`sshcast collect`) over tus while it grows. The local file is the spool: nothing is
 * held in memory but counters, whatever the backlog; a batch is read from the file as it is sent.
 *
 * - Batches: bytes are sent within `batchMs` (250 ms) of being written; while a request is in
 *   flight, later writes wait and go together (bigger batches when behind), up to `maxBatchBytes`.
 * - Resuming: after any failure the offset is asked of the collector (HEAD), never guessed;
 *   retries back off exponentially up to `backoffMaxMs` (30 s).
 * - Collectors: tried in order; the one that answers is kept. Every request is built from the
 *   configured collector URL and the upload's id (`DEVICE/NAME`), never from a `Location` header.
 * - Restarts: uploads not known to be complete are listed in `.sshcast/uploads.json` (state.ts);
 *   `Uploader.open` finishes them.
 * - Lag: `progress(name).lagMs` is how long the oldest unacknowledged byte has waited; a
 *   `lagging` event fires when it passes `maxLagMs` (30 s), for a policy that ends sessions then.
 *
 * The Recorder calls {@link Uploader.opened} when a recording's file is created,
 * {@link Uploader.grew} after each write with the bytes of complete lines in the file, and
 * {@link Uploader.closed} when it is finished.
 */
import { EventEmitter, setMaxListeners } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import { ConfigError, SshcastError } from '../errors.js';
import { DEVICE_PATTERN, LEDGER_NAME_PATTERN, ledgerName, uploadKind } from '../storage/layout.js';
import { NetworkError, send, type Response } from './http.js';
import { sendOffThread } from './http-thread.js';
import { DeviceState, STATE_DIR, type PendingUpload } from './state.js';
import { escapingLogger, type Logger } from '../log.js';

/** The ledger's path in the recording directory (DESIGN.md section 7). */
export const LEDGER_FILE = `${STATE_DIR}/ledger.jsonl`;

export interface UploaderOptions {
  /** Collector URLs (`http(s)://HOST:PORT`, as `sshcast collect` prints), tried in order. */
  urls: string[];
  /** This device's token at the collectors. */
  token: string;
  /** This device's name at the collectors (its tokens file line). */
  device: string;
  /** The recording directory: recordings, and `.sshcast/` for the ledger and the upload state. */
  dir: string;
  /** Longest wait between a write and the request that ships it. Default 250 ms. */
  batchMs?: number;
  /** Biggest request body. Default 8 MiB. */
  maxBatchBytes?: number;
  /** First retry delay. Default 250 ms. */
  backoffMinMs?: number;
  /** Longest retry delay. Default 30 s. */
  backoffMaxMs?: number;
  /** A request with no progress for this long has failed. Default 10 s. */
  requestTimeoutMs?: number;
  /** Lag past which `lagging` fires. Default 30 s. */
  maxLagMs?: number;
  /** CA certificates (PEM) to trust for https collectors. */
  ca?: string | Buffer;
  /** Receives one line per problem (`upload: …`). Default: stderr ({@link defaultLog}). */
  log?: Logger;
  /** Milliseconds, monotonic; injectable for tests. */
  now?: () => number;
  /**
   * Send on the process's upload thread (reading batches back from their files and writing them
   * to the collector's connection off the calling thread). Default true.
   */
  thread?: boolean;
}

/** How far one upload has got. */
export interface UploadProgress {
  /** Bytes the device has written (that the uploader was told of). */
  written: number;
  /** Bytes a collector acknowledged (the last answer; -1 before the first). */
  acknowledged: number;
  /** How long the oldest unacknowledged byte has waited, ms (0 when all are acknowledged). */
  lagMs: number;
  /** Whether the upload is complete at a collector. */
  shipped: boolean;
}

export interface UploaderEvents {
  /** `name` is complete at a collector. */
  shipped: [name: string];
  /** `name`'s acknowledged bytes lag by more than maxLagMs. */
  lagging: [name: string, lagMs: number];
  /** `name`'s lag is back within maxLagMs after lagging. */
  'caught-up': [name: string];
}

/** A collector did not accept an upload in time (`accepted()`). */
export class UploadStartError extends SshcastError {
  constructor(message: string) {
    super('ERR_UPLOAD_START', message);
  }
}

/** A collector's answer the uploader acts on. */
class HttpStatus extends SshcastError {
  readonly status: number;
  constructor(status: number, what: string, body: string) {
    const detail = body.trim() ? ` (${body.trim().split('\n')[0]})` : '';
    super('ERR_UPLOAD', `${what}: HTTP ${status}${detail}`);
    this.status = status;
  }
}

/** Write times by end offset, coalesced to a bounded number of entries (conservatively early). */
class WriteTimes {
  readonly #ends: number[] = [];
  readonly #times: number[] = [];

  add(end: number, at: number): void {
    const last = this.#ends.length - 1;
    if (last >= 0 && this.#ends[last]! >= end) return;
    this.#ends.push(end);
    this.#times.push(at);
    if (this.#ends.length > 512) {
      // Merge pairs: each keeps the later end and the earlier time, so lag is never understated.
      const ends: number[] = [];
      const times: number[] = [];
      for (let i = 0; i < this.#ends.length; i += 2) {
        ends.push(this.#ends[Math.min(i + 1, this.#ends.length - 1)]!);
        times.push(this.#times[i]!);
      }
      this.#ends.splice(0, Infinity, ...ends);
      this.#times.splice(0, Infinity, ...times);
    }
  }

  /** Drops what `acked` covers. */
  acknowledge(acked: number): void {
    let n = 0;
    while (n < this.#ends.length && this.#ends[n]! <= acked) n++;
    this.#ends.splice(0, n);
    this.#times.splice(0, n);
  }

  /** When the oldest byte after `acked` was written, or undefined when none is known. */
  oldestAfter(acked: number): number | undefined {
    for (let i = 0; i < this.#ends.length; i++) if (this.#ends[i]! > acked) return this.#times[i];
    return undefined;
  }
}

interface AcceptWaiter {
  resolve(): void;
  reject(why: string): void;
}

interface Shipment {
  local: string;
  remote: string;
  file: string;
  /** Bytes available to send. */
  size: number;
  length?: number;
  created: boolean;
  /** The collector's offset; undefined when it must be asked. */
  acked?: number;
  lastAcked: number;
  /** Whether the collector knows the length. */
  declared: boolean;
  shipped: boolean;
  lagging: boolean;
  writes: WriteTimes;
  wake?: () => void;
  acceptedWaiters: AcceptWaiter[];
  /** The device state lists it. */
  saved: Promise<void>;
  /** Forgotten: stop. */
  cancelled?: boolean;
  flushWaiters: { target: number; resolve: () => void }[];
  running?: Promise<void>;
}

const b64 = (s: string) => Buffer.from(s).toString('base64');
const enc = (s: string) => s.split('/').map(encodeURIComponent).join('/');

export class Uploader extends EventEmitter<UploaderEvents> {
  /** One line to the log, escaped, as `upload: …`. */
  readonly #log: Logger;
  readonly #o: Required<Omit<UploaderOptions, 'ca'>> & { ca?: string | Buffer };
  readonly #state: DeviceState;
  readonly #shipments = new Map<string, Shipment>();
  #current = 0;
  #closed = false;
  readonly #stop = new AbortController();
  #lagTimer: NodeJS.Timeout | undefined;
  #ledgerTimer: NodeJS.Timeout | undefined;
  #ledgerSize = -1;
  #resumed: Promise<void> = Promise.resolve();

  private constructor(options: UploaderOptions, state: DeviceState) {
    super();
    const log = escapingLogger(options.log);
    this.#log = (m) => log(`upload: ${m}`);
    this.#o = {
      batchMs: 250,
      maxBatchBytes: 8 * 1024 * 1024,
      backoffMinMs: 250,
      backoffMaxMs: 30_000,
      requestTimeoutMs: 10_000,
      maxLagMs: 30_000,
      now: () => performance.now(),
      thread: true,
      ...options,
      log: this.#log,
    };
    this.#state = state;
    // Every request in flight listens to it: one per upload, any number of them.
    setMaxListeners(0, this.#stop.signal);
  }

  /**
   * Opens the uploader for recording directory `dir` and resumes every upload its state lists
   * (recordings the last run did not finish shipping are finished at their size on disk).
   */
  static async open(options: UploaderOptions): Promise<Uploader> {
    const uploader = Uploader.create(options);
    await uploader.#resumed;
    return uploader;
  }

  /**
   * {@link Uploader.open} without waiting: the options and the state file are checked at once
   * (a ConfigError), the unfinished uploads resumed in the background.
   */
  static create(options: UploaderOptions): Uploader {
    if (options.urls.length === 0) throw new ConfigError('no collector URL');
    for (const u of options.urls)
      if (!/^https?:\/\/[^/]+\/?$/.test(u))
        throw new ConfigError(`collector URL ${u}: expected http(s)://HOST:PORT`);
    if (!DEVICE_PATTERN.test(options.device))
      throw new ConfigError(`device name ${JSON.stringify(options.device)} is not allowed`);
    const uploader = new Uploader(options, DeviceState.open(options.dir, options.device));
    uploader.#resumed = uploader.#resume().catch((err: unknown) => {
      uploader.#log(`resuming: ${err instanceof Error ? err.message : String(err)}`);
    });
    uploader.#lagTimer = setInterval(() => uploader.#checkLag(), 1000);
    uploader.#lagTimer.unref();
    // The ledger (section 7) grows without telling anyone: look at its size as often as a
    // batch goes out.
    uploader.#ledgerTimer = setInterval(() => uploader.#pollLedger(), uploader.#o.batchMs);
    uploader.#ledgerTimer.unref();
    return uploader;
  }

  async #resume(): Promise<void> {
    const ledgerT0 = readLedgerT0(path.join(this.#o.dir, LEDGER_FILE));
    for (const p of this.#state.pending()) {
      const u = { ...p };
      if (u.local === LEDGER_FILE && ledgerT0 !== undefined && ledgerName(ledgerT0) !== u.remote) {
        // Rotated since: the old ledger was kept as the name it has at the collector.
        u.local = u.remote;
      }
      const file = path.join(this.#o.dir, u.local);
      let size: number;
      try {
        size = fs.statSync(file).size;
      } catch {
        this.#log(`${u.local} is gone from the device; what the collector has of it stays`);
        await this.#state.remove(u.remote);
        continue;
      }
      // A recording open when the last run ended is over: ship it as it is.
      if (u.local !== LEDGER_FILE && u.length === undefined) u.length = size;
      await this.#state.set(u);
      this.#start(u, size);
    }
  }

  #url(s: Shipment): string {
    return `${this.#o.urls[this.#current]!.replace(/\/$/, '')}/files/${enc(`${this.#o.device}/${s.remote}`)}`;
  }

  /**
   * Starts shipping recording `name` (a file directly in the directory), at once; resolves once
   * the device state lists it (so a restart will finish it).
   */
  opened(name: string): Promise<void> {
    if (this.#closed) return Promise.reject(new UploadStartError('the uploader is closed'));
    if (!uploadKind(name) || name.includes('/'))
      return Promise.reject(new ConfigError(`${name}: not a recording file name`));
    const existing = this.#shipments.get(name);
    if (existing) return existing.saved;
    const u: PendingUpload = { local: name, remote: name };
    return this.#start(u, 0, this.#state.set(u)).saved;
  }

  /**
   * Resolves when a collector has accepted the upload of `name` (created it). Rejects with an
   * UploadStartError when every collector failed to, or after `timeoutMs`.
   */
  accepted(name: string, timeoutMs: number): Promise<void> {
    const s = this.#shipments.get(name);
    if (!s) return Promise.reject(new UploadStartError(`${name} is not being uploaded`));
    if (s.created) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => waiter.reject(`no collector accepted ${name} within ${timeoutMs} ms`),
        timeoutMs,
      );
      const settle = () => {
        clearTimeout(timer);
        s.acceptedWaiters.splice(s.acceptedWaiters.indexOf(waiter), 1);
      };
      const waiter: AcceptWaiter = {
        resolve: () => {
          settle();
          resolve();
        },
        reject: (why) => {
          settle();
          reject(new UploadStartError(why));
        },
      };
      s.acceptedWaiters.push(waiter);
    });
  }

  /**
   * Stops shipping `name` and forgets it (a recording whose session was refused, its file
   * removed); what a collector already has of it stays there.
   */
  async forget(name: string): Promise<void> {
    const s = this.#shipments.get(name);
    if (!s) return;
    s.cancelled = true;
    s.wake?.();
    this.#shipments.delete(name);
    await s.running;
    await this.#state.remove(name);
  }

  /**
   * The file `name` (a recording, or `.sshcast/ledger.jsonl`) now holds `bytes` bytes that will
   * not change (complete lines).
   */
  grew(name: string, bytes: number): void {
    if (this.#closed) return;
    const s = name === LEDGER_FILE ? this.#ledger() : this.#shipments.get(name);
    if (!s || bytes <= s.size) return;
    s.size = bytes;
    s.writes.add(bytes, this.#o.now());
    s.wake?.();
  }

  /** Recording `name` is finished at `bytes` bytes: ship the rest and complete the upload. */
  closed(name: string, bytes: number): void {
    const s = this.#shipments.get(name);
    if (!s || this.#closed) return;
    this.grew(name, bytes);
    s.length = bytes;
    this.#save({ local: s.local, remote: s.remote, length: bytes, created: s.created });
    s.wake?.();
  }

  /** How far `name` has got, or undefined if it is not being uploaded. */
  progress(name: string): UploadProgress | undefined {
    const s = this.#shipments.get(name);
    if (!s) return undefined;
    const oldest = s.writes.oldestAfter(s.lastAcked);
    return {
      written: s.size,
      acknowledged: s.lastAcked,
      lagMs: s.shipped || oldest === undefined ? 0 : Math.max(0, this.#o.now() - oldest),
      shipped: s.shipped,
    };
  }

  /** The recording directory. */
  get dir(): string {
    return this.#o.dir;
  }

  /** The names being uploaded. */
  names(): string[] {
    return [...this.#shipments.keys()];
  }

  /** Resolves when every byte written so far is acknowledged (and finished uploads shipped). */
  async flush(): Promise<void> {
    await Promise.all(
      [...this.#shipments.values()].map((s) => {
        const target = s.size;
        if (s.shipped || s.lastAcked >= target) return undefined;
        return new Promise<void>((resolve) => s.flushWaiters.push({ target, resolve }));
      }),
    );
  }

  /** Stops; unfinished uploads stay in the state for the next `open`. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#stop.abort();
    clearInterval(this.#lagTimer);
    clearInterval(this.#ledgerTimer);
    for (const s of this.#shipments.values()) s.wake?.();
    await Promise.all([...this.#shipments.values()].map((s) => s.running));
  }

  // The ledger's complete lines: its size up to the last newline, read only past what was seen.
  #pollLedger(): void {
    if (this.#closed) return;
    const file = path.join(this.#o.dir, LEDGER_FILE);
    let size: number;
    try {
      size = fs.statSync(file).size;
    } catch {
      return;
    }
    if (size === this.#ledgerSize) return;
    this.#ledgerSize = size;
    const whole = completeLines(file, size);
    if (whole > 0) this.grew(LEDGER_FILE, whole);
  }

  #ledger(): Shipment | undefined {
    const t0 = readLedgerT0(path.join(this.#o.dir, LEDGER_FILE));
    if (t0 === undefined) return undefined;
    const remote = ledgerName(t0);
    const existing = this.#shipments.get(remote);
    if (existing) return existing;
    // A new ledger (sealing set up, or rotated): the previous one, if any, is complete.
    for (const s of this.#shipments.values()) {
      if (s.local === LEDGER_FILE && LEDGER_NAME_PATTERN.test(s.remote)) {
        s.local = s.remote;
        s.file = path.join(this.#o.dir, s.local);
        try {
          s.length = fs.statSync(s.file).size;
        } catch {
          s.length = s.size;
        }
        this.#save({ local: s.local, remote: s.remote, length: s.length, created: s.created });
        s.wake?.();
      }
    }
    const u: PendingUpload = { local: LEDGER_FILE, remote };
    this.#save(u);
    return this.#start(u, 0);
  }

  #save(u: PendingUpload): void {
    this.#state
      .set(u)
      .catch((err: unknown) =>
        this.#log(`saving the upload state: ${err instanceof Error ? err.message : String(err)}`),
      );
  }

  #start(u: PendingUpload, size: number, saved: Promise<void> = Promise.resolve()): Shipment {
    const s: Shipment = {
      local: u.local,
      remote: u.remote,
      file: path.join(this.#o.dir, u.local),
      size,
      ...(u.length !== undefined ? { length: u.length } : {}),
      created: u.created ?? false,
      lastAcked: -1,
      declared: false,
      shipped: false,
      lagging: false,
      writes: new WriteTimes(),
      acceptedWaiters: [],
      flushWaiters: [],
      saved,
    };
    if (size > 0) s.writes.add(size, this.#o.now());
    this.#shipments.set(u.remote, s);
    s.running = this.#run(s);
    return s;
  }

  #headers(extra: Record<string, string> = {}): Record<string, string> {
    return { authorization: `Bearer ${this.#o.token}`, 'tus-resumable': '1.0.0', ...extra };
  }

  async #request(
    s: Shipment,
    method: string,
    target: string,
    headers: Record<string, string>,
    file?: { path: string; start: number; end: number },
  ): Promise<Response> {
    return (this.#o.thread ? sendOffThread : send)(target, {
      method,
      headers: this.#headers(headers),
      timeoutMs: this.#o.requestTimeoutMs,
      signal: this.#stop.signal,
      ...(file ? { file } : {}),
      ...(this.#o.ca ? { ca: this.#o.ca } : {}),
    });
  }

  async #create(s: Shipment): Promise<void> {
    const base = this.#o.urls[this.#current]!.replace(/\/$/, '');
    const res = await this.#request(s, 'POST', `${base}/files`, {
      'upload-defer-length': '1',
      'upload-metadata': `name ${b64(s.remote)},device ${b64(this.#o.device)}`,
    });
    if (res.status !== 201 && res.status !== 409)
      throw new HttpStatus(res.status, `creating ${s.remote}`, res.body);
    // 409: created before (an answer lost, or a restart); the offset is asked next.
    s.created = true;
    s.acked = undefined;
    await this.#state.set({
      local: s.local,
      remote: s.remote,
      created: true,
      ...(s.length !== undefined ? { length: s.length } : {}),
    });
    for (const w of [...s.acceptedWaiters]) w.resolve();
  }

  async #head(s: Shipment): Promise<void> {
    const res = await this.#request(s, 'HEAD', this.#url(s), {});
    if (res.status === 404 || res.status === 410) {
      s.created = false;
      throw new HttpStatus(res.status, `asking ${s.remote}'s offset`, '');
    }
    if (res.status !== 200)
      throw new HttpStatus(res.status, `asking ${s.remote}'s offset`, res.body);
    const offset = Number(res.headers['upload-offset']);
    if (!Number.isSafeInteger(offset) || offset < 0)
      throw new HttpStatus(502, `asking ${s.remote}'s offset`, 'no Upload-Offset');
    s.declared = res.headers['upload-length'] !== undefined;
    this.#acknowledged(s, offset);
  }

  async #patch(s: Shipment, start: number, end: number): Promise<void> {
    const declare = s.length !== undefined && end === s.length && !s.declared;
    const res = await this.#request(
      s,
      'PATCH',
      this.#url(s),
      {
        'upload-offset': String(start),
        'content-type': 'application/offset+octet-stream',
        ...(declare ? { 'upload-length': String(s.length) } : {}),
      },
      { path: s.file, start, end },
    );
    if (res.status !== 204) {
      s.acked = undefined;
      throw new HttpStatus(res.status, `sending ${s.remote} at ${start}`, res.body);
    }
    const offset = Number(res.headers['upload-offset']);
    if (!Number.isSafeInteger(offset) || offset < start || offset > end) {
      s.acked = undefined;
      throw new HttpStatus(502, `sending ${s.remote}`, `bad Upload-Offset ${offset}`);
    }
    if (declare) s.declared = true;
    this.#acknowledged(s, offset);
  }

  #acknowledged(s: Shipment, offset: number): void {
    s.acked = offset;
    s.lastAcked = offset;
    s.writes.acknowledge(offset);
    s.flushWaiters = s.flushWaiters.filter((w) =>
      w.target <= offset ? (w.resolve(), false) : true,
    );
    const oldest = s.writes.oldestAfter(offset);
    if (s.lagging && (oldest === undefined || this.#o.now() - oldest <= this.#o.maxLagMs)) {
      s.lagging = false;
      this.emit('caught-up', s.remote);
    }
  }

  async #sleep(s: Shipment, ms: number): Promise<void> {
    if (this.#closed) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        s.wake = undefined;
        resolve();
      }
      s.wake = done;
    });
  }

  async #run(s: Shipment): Promise<void> {
    let failures = 0;
    let tried = 0;
    try {
      await s.saved; // listed in the state before its first request
    } catch (err) {
      this.#log(`saving the upload state: ${err instanceof Error ? err.message : String(err)}`);
    }
    while (!this.#closed && !s.cancelled) {
      try {
        if (!s.created) await this.#create(s);
        if (s.acked === undefined) await this.#head(s);
        const acked = s.acked!;
        if (s.length !== undefined && acked === s.length && s.declared) {
          await this.#finished(s);
          return;
        }
        const end = Math.min(s.size, acked + this.#o.maxBatchBytes, s.length ?? Infinity);
        const mustDeclare = s.length !== undefined && end === s.length && !s.declared;
        if (end > acked || mustDeclare) {
          const oldest = s.writes.oldestAfter(acked);
          const wait = oldest === undefined ? 0 : oldest + this.#o.batchMs - this.#o.now();
          if (wait > 0 && end - acked < this.#o.maxBatchBytes && s.length === undefined) {
            await this.#sleep(s, wait);
            continue;
          }
          await this.#patch(s, acked, end);
        } else {
          await this.#sleep(s, 60_000);
        }
        failures = 0;
        tried = 0;
      } catch (err) {
        if (this.#closed || s.cancelled) return;
        const status = err instanceof HttpStatus ? err.status : undefined;
        s.acked = undefined;
        if (status === 409) continue; // the offset moved: ask it
        if (status === 404 || status === 410) continue; // not there: create it
        if (err instanceof NetworkError || (status !== undefined && status >= 500)) {
          // This collector failed: the next one, at once; after a full round, wait.
          this.#current = (this.#current + 1) % this.#o.urls.length;
          if (++tried < this.#o.urls.length) continue;
          tried = 0;
          // Every collector failed: one waiting for a collector to accept it is told so.
          if (!s.created)
            for (const w of [...s.acceptedWaiters])
              w.reject(`no collector accepted ${s.remote}: ${(err as Error).message}`);
        } else if (status !== 423 && status !== 429) {
          // (423: another collector holds the upload's lease; 429: this device has too many
          // requests open at that collector. Both mean later: those wait, quietly.)
          this.#log((err as Error).message);
          if (!s.created)
            for (const w of [...s.acceptedWaiters])
              w.reject(`no collector accepted ${s.remote}: ${(err as Error).message}`);
        }
        const delay = Math.min(this.#o.backoffMaxMs, this.#o.backoffMinMs * 2 ** failures++);
        await this.#sleep(s, delay * (0.5 + Math.random() / 2));
      }
    }
  }

  async #finished(s: Shipment): Promise<void> {
    s.shipped = true;
    s.lastAcked = s.length!;
    for (const w of s.flushWaiters.splice(0)) w.resolve();
    this.#shipments.delete(s.remote);
    await this.#state.remove(s.remote);
    this.emit('shipped', s.remote);
  }

  #checkLag(): void {
    for (const s of this.#shipments.values()) {
      const lag = this.progress(s.remote)?.lagMs ?? 0;
      if (!s.lagging && lag > this.#o.maxLagMs) {
        s.lagging = true;
        this.emit('lagging', s.remote, lag);
      }
    }
  }
}

/** The bytes of `file` (of `size` bytes) up to and including its last newline; 0 if none. */
function completeLines(file: string, size: number): number {
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  } catch {
    return 0;
  }
  try {
    const buf = Buffer.alloc(Math.min(size, 64 * 1024));
    for (let end = size; end > 0;) {
      const start = Math.max(0, end - buf.length);
      const n = fs.readSync(fd, buf, 0, end - start, start);
      const nl = buf.subarray(0, n).lastIndexOf(10);
      if (nl >= 0) return start + nl + 1;
      end = start;
    }
    return 0;
  } finally {
    fs.closeSync(fd);
  }
}

/** The `time` of a ledger's first (init) entry, or undefined when it has no complete first line. */
export function readLedgerT0(file: string): number | undefined {
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  } catch {
    return undefined;
  }
  try {
    const buf = Buffer.alloc(4096);
    const n = fs.readSync(fd, buf, 0, buf.length, 0);
    const nl = buf.subarray(0, n).indexOf(10);
    if (nl < 0) return undefined;
    const entry = JSON.parse(buf.toString('utf8', 0, nl)) as { seq?: unknown; time?: unknown };
    return entry.seq === 0 && Number.isSafeInteger(entry.time) ? (entry.time as number) : undefined;
  } catch {
    return undefined;
  } finally {
    fs.closeSync(fd);
  }
}
