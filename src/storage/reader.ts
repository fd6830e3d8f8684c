/**
 * Reading what the collectors stored, finished or still live, whichever collector wrote it:
 * listing every device's recordings and ledgers, and reading one's bytes. A live upload is read
 * from its segments (storage/chain.ts), so a recording is readable before its upload finishes.
 */
import { PassThrough, type Readable } from 'node:stream';
import { resolveChain, type ChainPiece } from './chain.js';
import {
  DEVICE_PATTERN,
  UPLOADS,
  finalKey,
  parseUploadId,
  receiptsKey,
  uploadDir,
  uploadKind,
  type UploadKind,
} from './layout.js';
import { ObjectNotFoundError, type ObjectStore } from './objects.js';

/** A recording or ledger in the store. */
export interface StoredEntry {
  device: string;
  /** Its name: a recording's file name, or `.sshcast/ledger-T0.jsonl`. */
  name: string;
  kind: UploadKind;
  size: number;
  /** Whether its upload is still open (read from segments). */
  live: boolean;
  /** When it was last written, ms. */
  lastModified: number;
}

/** The bytes of one stored entry. */
export interface StoredContent {
  size: number;
  live: boolean;
  lastModified: number;
  /** Bytes [position, position + length) (fewer at the end). */
  read(position: number, length: number): Promise<Buffer>;
  /** All its bytes, in order. */
  stream(): Readable;
  /** For a live upload, when each byte range was received. */
  pieces?: ChainPiece[];
}

async function uploadIds(store: ObjectStore, device?: string): Promise<string[]> {
  const ids: string[] = [];
  const devices = device ? [device] : await store.listNames(UPLOADS);
  for (const d of devices) {
    for (const name of await store.listNames(`${UPLOADS}${d}/`)) {
      if (name === '.sshcast') {
        for (const n of await store.listNames(`${UPLOADS}${d}/.sshcast/`))
          ids.push(`${d}/.sshcast/${n}`);
      } else ids.push(`${d}/${name}`);
    }
  }
  return ids.filter((id) => parseUploadId(id));
}

/** Every device's recordings and ledgers (or one device's), finished and live. */
export async function listStored(store: ObjectStore, device?: string): Promise<StoredEntry[]> {
  const out = new Map<string, StoredEntry>();
  const devices = device
    ? [device]
    : (await store.listNames('')).filter((d) => DEVICE_PATTERN.test(d));
  for (const d of devices) {
    for await (const e of store.list(`${d}/`)) {
      const name = e.key.slice(d.length + 1);
      const kind = uploadKind(name);
      if (!kind) continue;
      out.set(e.key, {
        device: d,
        name,
        kind,
        size: e.size,
        live: false,
        lastModified: e.lastModified,
      });
    }
  }
  for (const id of await uploadIds(store, device)) {
    const { device: d, name } = parseUploadId(id)!;
    const dir = uploadDir(id);
    const entries = [];
    let done = false;
    for await (const e of store.list(dir)) {
      if (e.key === `${dir}done`) done = true;
      entries.push({ ...e, rel: e.key.slice(dir.length) });
    }
    if (done) continue; // its object is listed above
    const chain = resolveChain(entries);
    if (chain.end === 0 && !out.has(id)) continue;
    out.set(id, {
      device: d,
      name,
      kind: uploadKind(name)!,
      size: chain.end,
      live: true,
      lastModified: chain.lastWrite,
    });
  }
  return [...out.values()];
}

/** Opens a stored recording or ledger by device and name; undefined if there is none. */
export async function openStored(
  store: ObjectStore,
  device: string,
  name: string,
): Promise<StoredContent | undefined> {
  const id = `${device}/${name}`;
  const dir = uploadDir(id);
  const entries = [];
  let done = false;
  for await (const e of store.list(dir)) {
    if (e.key === `${dir}done`) done = true;
    entries.push({ ...e, rel: e.key.slice(dir.length) });
  }
  const chain = entries.length > 0 && !done ? resolveChain(entries) : undefined;
  if (chain && chain.tip)
    return chainContent(store, device, name, chain.pieces, chain.end, chain.lastWrite);
  const head = await store.head(finalKey(id));
  if (!head) return undefined;
  const key = finalKey(id);
  return {
    size: head.size,
    live: false,
    lastModified: head.lastModified,
    read: (position, length) =>
      store.get(key, { start: position, end: Math.min(head.size, position + length) }),
    stream: () => {
      const out = new PassThrough();
      store.read(key).then(
        (src) => src.pipe(out),
        (err: Error) => out.destroy(err),
      );
      return out;
    },
  };
}

function chainContent(
  store: ObjectStore,
  device: string,
  name: string,
  pieces: ChainPiece[],
  size: number,
  lastModified: number,
): StoredContent {
  // A finished upload's segments are removed once its object exists: read that one instead.
  const retry = async <T>(run: () => Promise<T>, fallback: (c: StoredContent) => Promise<T>) => {
    try {
      return await run();
    } catch (err) {
      if (!(err instanceof ObjectNotFoundError)) throw err;
      const again = await openStored(store, device, name);
      if (!again || again.pieces) throw err;
      return fallback(again);
    }
  };
  const read = async (position: number, length: number): Promise<Buffer> => {
    const end = Math.min(size, position + length);
    const parts: Buffer[] = [];
    for (const p of pieces) {
      if (p.start + p.length <= position || p.start >= end) continue;
      const from = Math.max(position, p.start);
      const to = Math.min(end, p.start + p.length);
      parts.push(
        await store.get(p.key, { start: p.offset + from - p.start, end: p.offset + to - p.start }),
      );
    }
    return Buffer.concat(parts);
  };
  return {
    size,
    live: true,
    lastModified,
    pieces,
    read: (position, length) =>
      retry(
        () => read(position, length),
        (c) => c.read(position, length),
      ),
    stream: () => {
      const out = new PassThrough();
      void (async () => {
        let sent = 0;
        try {
          for (const p of pieces) {
            const chunk = await retry(
              () => store.get(p.key, { start: p.offset, end: p.offset + p.length }),
              (c) => c.read(sent, p.length),
            );
            sent += chunk.length;
            if (!out.write(chunk)) await new Promise((r) => out.once('drain', r));
          }
          out.end();
        } catch (err) {
          out.destroy(err as Error);
        }
      })();
      return out;
    },
  };
}

/** When the collector received each line of a ledger (1-based line numbers, ms). */
export interface LedgerReceipt {
  line: number;
  receivedAt: number;
}

/**
 * The receipt time of each line of a stored ledger: from the segments of a live one (a line's
 * time is that of the segment holding its last byte), from its receipts object once finished.
 */
export async function readLedgerReceipts(
  store: ObjectStore,
  device: string,
  name: string,
): Promise<LedgerReceipt[] | undefined> {
  const content = await openStored(store, device, name);
  if (!content) return undefined;
  if (!content.pieces) {
    const body = await store.get(receiptsKey(`${device}/${name}`)).catch(() => undefined);
    if (!body) return undefined;
    return body
      .toString('utf8')
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => {
        const r = JSON.parse(l) as { line: number; received: string };
        return { line: r.line, receivedAt: Date.parse(r.received) };
      });
  }
  return receiptsOf(await content.read(0, content.size), content.pieces);
}

/** Each complete line's receipt time, given the bytes and the pieces they arrived in. */
export function receiptsOf(bytes: Buffer, pieces: ChainPiece[]): LedgerReceipt[] {
  const out: LedgerReceipt[] = [];
  let p = 0;
  let line = 0;
  for (let nl = bytes.indexOf(10); nl !== -1; nl = bytes.indexOf(10, nl + 1)) {
    while (p < pieces.length - 1 && pieces[p]!.start + pieces[p]!.length <= nl) p++;
    out.push({ line: ++line, receivedAt: pieces[p]?.receivedAt ?? 0 });
  }
  return out;
}
