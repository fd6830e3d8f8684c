/**
 * Double entry: the device's recordings and ledgers compared with the collector's copies, name by
 * name, byte by byte (streaming, bounded memory), reported in lines. The words are those of
 * `sshcast verify --against` (DESIGN.md section 8):
 *
 * - `same`: byte-identical.
 * - `missing-remote`: not at the collector, or only its first lines: not shipped yet, or lost.
 *   Within the upload lag of the device's last write to the file this is normal (a live session).
 * - `missing-local`: at the collector, not on the device (deleted there); for a ledger also
 *   entries the collector has past the device's end (the device's ledger was cut back).
 * - `differs` at line N: the copies disagree from line N on (edited, or cut back).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import {
  LEDGER_NAME_PATTERN,
  RECORDING_NAME_PATTERN,
  ledgerName,
  type UploadKind,
} from '../storage/layout.js';
import type { ObjectStore } from '../storage/objects.js';
import { listStored, openStored } from '../storage/reader.js';
import { LEDGER_FILE, readLedgerT0 } from './uploader.js';
import { STATE_DIR } from './state.js';

export type Word = 'same' | 'missing-remote' | 'missing-local' | 'differs';

/** What the comparison found for one recording or ledger. */
export interface Finding {
  /** A recording's file name, or a ledger's remote name (`.sshcast/ledger-T0.jsonl`). */
  name: string;
  kind: UploadKind;
  word: Word;
  /**
   * `differs`: the first line that differs (1-based); `missing-remote` of a partial copy: the
   * first line the collector lacks; `missing-local` of a ledger: the first entry the device lacks.
   */
  line?: number;
  localBytes?: number;
  remoteBytes?: number;
  /** `missing-remote`: milliseconds since the device last wrote the file. */
  ageMs?: number;
  /** Whether this finding fails the comparison (exit 1). */
  fails: boolean;
}

export interface Comparison {
  findings: Finding[];
  /** No finding fails. */
  ok: boolean;
}

/** One side's copies: names, sizes, and their bytes. */
export interface Copies {
  list(): Promise<{ name: string; kind: UploadKind; size: number; mtimeMs: number }[]>;
  /** The bytes of `name`, or undefined when it is not there. */
  open(name: string): Promise<Readable | undefined>;
  /** Releases connections, if it holds any. */
  close?(): void;
}

export interface CompareOptions {
  /** A `missing-remote` younger than this is not a failure. Default 60 s. */
  uploadLagMs?: number;
  /** Now, ms since the epoch. */
  now?: number;
}

/** The device's copies in recording directory `dir`: `*.cast` files and the ledgers. */
export function localCopies(dir: string): Copies {
  const local = new Map<string, string>(); // remote name -> path
  const scan = () => {
    local.clear();
    for (const e of fs.readdirSync(dir, { withFileTypes: true }))
      if (e.isFile() && RECORDING_NAME_PATTERN.test(e.name))
        local.set(e.name, path.join(dir, e.name));
    const stateDir = path.join(dir, STATE_DIR);
    if (!fs.existsSync(stateDir)) return;
    for (const e of fs.readdirSync(stateDir, { withFileTypes: true })) {
      const remote = `${STATE_DIR}/${e.name}`;
      if (e.isFile() && LEDGER_NAME_PATTERN.test(remote))
        local.set(remote, path.join(stateDir, e.name));
    }
    const t0 = readLedgerT0(path.join(dir, LEDGER_FILE));
    if (t0 !== undefined) local.set(ledgerName(t0), path.join(dir, LEDGER_FILE));
  };
  return {
    async list() {
      scan();
      return [...local.entries()].flatMap(([name, file]) => {
        try {
          const st = fs.lstatSync(file);
          return [
            {
              name,
              kind: RECORDING_NAME_PATTERN.test(name)
                ? ('recording' as const)
                : ('ledger' as const),
              size: st.size,
              mtimeMs: st.mtimeMs,
            },
          ];
        } catch {
          return [];
        }
      });
    },
    async open(name) {
      if (local.size === 0) scan();
      const file = local.get(name);
      if (!file) return undefined;
      try {
        const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
        return fs.createReadStream('', { fd });
      } catch {
        return undefined;
      }
    },
  };
}

/** A device's copies at the collector, in its store (S3 or a collector's directory). */
export function storedCopies(store: ObjectStore, device: string): Copies {
  return {
    async list() {
      return (await listStored(store, device)).map((e) => ({
        name: e.name,
        kind: e.kind,
        size: e.size,
        mtimeMs: e.lastModified,
      }));
    },
    async open(name) {
      return (await openStored(store, device, name))?.stream();
    },
  };
}

/** Pulls chunks from a stream on demand. */
class Puller {
  readonly #it: AsyncIterator<Buffer>;
  #buf: Buffer = Buffer.alloc(0);
  #ended = false;

  constructor(stream: Readable) {
    this.#it = (stream as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
  }

  /** At least one byte, or an empty buffer at the end. */
  async peek(): Promise<Buffer> {
    while (this.#buf.length === 0 && !this.#ended) {
      const next = await this.#it.next();
      if (next.done) this.#ended = true;
      else this.#buf = next.value;
    }
    return this.#buf;
  }

  take(n: number): void {
    this.#buf = this.#buf.subarray(n);
  }

  async close(): Promise<void> {
    await this.#it.return?.();
  }
}

function countLines(b: Buffer): number {
  let n = 0;
  for (let i = b.indexOf(10); i !== -1; i = b.indexOf(10, i + 1)) n++;
  return n;
}

/**
 * Compares two byte streams: where they part, in bytes and as the 1-based line that holds the
 * first difference, and which one ended first.
 */
export async function compareStreams(
  a: Readable,
  b: Readable,
): Promise<{
  same: boolean;
  line: number;
  aEnded: boolean;
  bEnded: boolean;
  aBytes: number;
  bBytes: number;
}> {
  const pa = new Puller(a);
  const pb = new Puller(b);
  let lines = 0;
  let bytes = 0;
  try {
    for (;;) {
      const [x, y] = await Promise.all([pa.peek(), pb.peek()]);
      if (x.length === 0 || y.length === 0) {
        let aBytes = bytes;
        let bBytes = bytes;
        // Count what is left on the longer side, to report sizes.
        for (let r = x; r.length > 0; pa.take(r.length), r = await pa.peek()) aBytes += r.length;
        for (let r = y; r.length > 0; pb.take(r.length), r = await pb.peek()) bBytes += r.length;
        return {
          same: x.length === 0 && y.length === 0,
          line: lines + 1,
          aEnded: x.length === 0,
          bEnded: y.length === 0,
          aBytes,
          bBytes,
        };
      }
      const n = Math.min(x.length, y.length);
      const xs = x.subarray(0, n);
      const ys = y.subarray(0, n);
      if (!xs.equals(ys)) {
        let i = 0;
        while (xs[i] === ys[i]) i++;
        return {
          same: false,
          line: lines + countLines(xs.subarray(0, i)) + 1,
          aEnded: false,
          bEnded: false,
          aBytes: bytes + i,
          bBytes: bytes + i,
        };
      }
      lines += countLines(xs);
      bytes += n;
      pa.take(n);
      pb.take(n);
    }
  } finally {
    await Promise.all([pa.close(), pb.close()]);
  }
}

/** Compares the device's copies with the collector's, name by name. */
export async function compareCopies(
  local: Copies,
  remote: Copies,
  options: CompareOptions = {},
): Promise<Comparison> {
  const lag = options.uploadLagMs ?? 60_000;
  const now = options.now ?? Date.now();
  const mine = new Map((await local.list()).map((e) => [e.name, e]));
  const theirs = new Map((await remote.list()).map((e) => [e.name, e]));
  const names = [...new Set([...mine.keys(), ...theirs.keys()])].sort();
  const findings: Finding[] = [];
  for (const name of names) {
    const l = mine.get(name);
    const r = theirs.get(name);
    const kind = (l ?? r)!.kind;
    if (!r) {
      const ageMs = Math.max(0, now - l!.mtimeMs);
      findings.push({
        name,
        kind,
        word: 'missing-remote',
        localBytes: l!.size,
        ageMs,
        fails: ageMs > lag,
      });
      continue;
    }
    if (!l) {
      findings.push({ name, kind, word: 'missing-local', remoteBytes: r.size, fails: true });
      continue;
    }
    const [ls, rs] = await Promise.all([local.open(name), remote.open(name)]);
    if (!ls || !rs) {
      ls?.destroy();
      rs?.destroy();
      findings.push({ name, kind, word: ls ? 'missing-remote' : 'missing-local', fails: true });
      continue;
    }
    const c = await compareStreams(ls, rs);
    const sizes = { localBytes: c.aBytes, remoteBytes: c.bBytes };
    if (c.same) findings.push({ name, kind, word: 'same', ...sizes, fails: false });
    else if (c.bEnded && !c.aEnded) {
      // The collector has the first part: the rest is on its way, or lost.
      const ageMs = Math.max(0, now - l.mtimeMs);
      findings.push({
        name,
        kind,
        word: 'missing-remote',
        line: c.line,
        ...sizes,
        ageMs,
        fails: ageMs > lag,
      });
    } else if (c.aEnded && !c.bEnded && kind === 'ledger') {
      findings.push({ name, kind, word: 'missing-local', line: c.line, ...sizes, fails: true });
    } else findings.push({ name, kind, word: 'differs', line: c.line, ...sizes, fails: true });
  }
  return { findings, ok: findings.every((f) => !f.fails) };
}

/** One line per finding, as `sshcast verify --against` prints them. */
export function describeFinding(f: Finding): string {
  const what = f.kind === 'ledger' ? `ledger ${f.name}` : f.name;
  switch (f.word) {
    case 'same':
      return `${what}: same`;
    case 'differs':
      return `${what}: differs at line ${f.line}`;
    case 'missing-local':
      return f.line
        ? `${what}: missing-local from line ${f.line} (the collector has entries the device no longer has)`
        : `${what}: missing-local (deleted on the device)`;
    case 'missing-remote': {
      const age = `last written ${Math.round((f.ageMs ?? 0) / 1000)} s ago`;
      return f.line
        ? `${what}: missing-remote from line ${f.line} (${age}${f.fails ? '' : ', still shipping'})`
        : `${what}: missing-remote (${age}${f.fails ? '' : ', still shipping'})`;
    }
  }
}
