/**
 * Where things are in the off-device store (keys relative to its prefix; docs/collector.md):
 *
 * ```
 * DEVICE/NAME                              a finished recording (or ledger), byte-identical
 * .uploads/DEVICE/NAME/info                the upload, created once (POST); never deleted
 * .uploads/DEVICE/NAME/lease               which collector writes it now (a nonce; its ETag fences)
 * .uploads/DEVICE/NAME/g/GEN-NONCE-START-PREVGEN-PREVNONCE
 *                                          one per writer generation: from which byte it writes
 * .uploads/DEVICE/NAME/d/GEN-NONCE/START   a segment: the bytes one PATCH brought, at START
 * .uploads/DEVICE/NAME/d/GEN-NONCE/START.lenLENGTH
 *                                          the upload's length, declared when it was at START
 * .uploads/DEVICE/NAME/snapshot            the length copied to DEVICE/NAME while still open
 * .uploads/DEVICE/NAME/done                the length, once DEVICE/NAME holds it all
 * DEVICE/.sshcast/ledger-T0.received.jsonl a finished ledger's receipt time per line
 * ```
 *
 * NAME is a recording's file name or `.sshcast/ledger-T0.jsonl` for a ledger. Numbers are
 * zero-padded so that key order is numeric order.
 */

/** A device name: letters, digits, `.`, `_`, `-`; not starting with `.` or `-`; at most 64. */
export const DEVICE_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,63}$/;
/** A recording's file name as sshcast makes them (any `*.cast` name of safe characters). */
export const RECORDING_NAME_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,250}\.cast$/;
/** A ledger's remote name: the name a rotated ledger has on the device. */
export const LEDGER_NAME_PATTERN = /^\.sshcast\/ledger-([0-9]{1,20})\.jsonl$/;

export const UPLOADS = '.uploads/';

/** What an upload holds. */
export type UploadKind = 'recording' | 'ledger';

/** The kind of upload `name` is, or undefined for a name no device may upload. */
export function uploadKind(name: string): UploadKind | undefined {
  if (RECORDING_NAME_PATTERN.test(name)) return 'recording';
  if (LEDGER_NAME_PATTERN.test(name)) return 'ledger';
  return undefined;
}

/** The remote name of the ledger whose `init` entry has time `t0`. */
export function ledgerName(t0: number): string {
  return `.sshcast/ledger-${t0}.jsonl`;
}

/** An upload's id, `DEVICE/NAME`, split; undefined when either part is not allowed. */
export function parseUploadId(id: string): { device: string; name: string } | undefined {
  const slash = id.indexOf('/');
  if (slash < 0) return undefined;
  const device = id.slice(0, slash);
  const name = id.slice(slash + 1);
  if (!DEVICE_PATTERN.test(device) || uploadKind(name) === undefined) return undefined;
  return { device, name };
}

/** The id of `name` uploaded by `device`. */
export function uploadId(device: string, name: string): string {
  return `${device}/${name}`;
}

/** The key of a finished object. */
export function finalKey(id: string): string {
  return id;
}

/**
 * The key of a finished ledger's receipts: one JSON line per ledger line,
 * `{"line":N,"received":"ISO time"}`, when the collector received it.
 */
export function receiptsKey(id: string): string {
  return id.replace(/\.jsonl$/, '.received.jsonl');
}

/** The key prefix of an upload's state (ends with `/`). */
export function uploadDir(id: string): string {
  return `${UPLOADS}${id}/`;
}

const pad = (n: number, width: number) => String(n).padStart(width, '0');

/** A writer generation: a number that grows with each takeover, and a random nonce. */
export interface GenId {
  num: number;
  nonce: string;
}

/** The first generation's predecessor. */
export const NO_GEN: GenId = { num: 0, nonce: '0'.repeat(16) };

export function genName(g: GenId): string {
  return `${pad(g.num, 10)}-${g.nonce}`;
}

/** A generation record: generation `gen` writes from byte `start`, after `prev`. */
export interface GenRecord {
  gen: GenId;
  start: number;
  prev: GenId;
}

export function genKey(id: string, r: GenRecord): string {
  return `${uploadDir(id)}g/${genName(r.gen)}-${pad(r.start, 16)}-${genName(r.prev)}`;
}

const GEN_RE = /^g\/([0-9]{10})-([0-9a-f]{16})-([0-9]{16})-([0-9]{10})-([0-9a-f]{16})$/;

/** Parses a key below an upload's directory as a generation record. */
export function parseGenKey(rel: string): GenRecord | undefined {
  const m = GEN_RE.exec(rel);
  if (!m) return undefined;
  return {
    gen: { num: Number(m[1]), nonce: m[2]! },
    start: Number(m[3]),
    prev: { num: Number(m[4]), nonce: m[5]! },
  };
}

export function segmentKey(id: string, gen: GenId, start: number): string {
  return `${uploadDir(id)}d/${genName(gen)}/${pad(start, 16)}`;
}

export function lengthKey(id: string, gen: GenId, at: number, length: number): string {
  return `${segmentKey(id, gen, at)}.len${pad(length, 16)}`;
}

const DATA_RE = /^d\/([0-9]{10})-([0-9a-f]{16})\/([0-9]{16})(?:\.len([0-9]{16}))?$/;

/** A segment, or a length declaration when `length` is set. */
export interface DataKey {
  gen: GenId;
  start: number;
  length?: number;
}

export function parseDataKey(rel: string): DataKey | undefined {
  const m = DATA_RE.exec(rel);
  if (!m) return undefined;
  const out: DataKey = { gen: { num: Number(m[1]), nonce: m[2]! }, start: Number(m[3]) };
  if (m[4] !== undefined) out.length = Number(m[4]);
  return out;
}

export function sameGen(a: GenId, b: GenId): boolean {
  return a.num === b.num && a.nonce === b.nonce;
}
