/**
 * What an upload holds, worked out from a listing of its keys (layout.ts). Pure: no I/O.
 *
 * Writers take turns in generations. A generation's record (created by a copy the store performs
 * only while that writer's lease is current) says from which byte it writes and which generation
 * came before; its segments are valid from that byte up to where the next generation begins.
 * So bytes a stalled writer stores after it lost its lease are never part of the upload, even
 * though the store let it write them: the next generation began before them.
 */
import {
  NO_GEN,
  genName,
  parseDataKey,
  parseGenKey,
  sameGen,
  type GenId,
  type GenRecord,
} from './layout.js';
import type { ObjectEntry } from './objects.js';

/** A run of upload bytes held by one object. */
export interface ChainPiece {
  key: string;
  /** Where the run starts in the object. */
  offset: number;
  /** Where it starts in the upload. */
  start: number;
  length: number;
  /** When the store received it (the object's time), ms. */
  receivedAt: number;
}

/** An upload's state. */
export interface Chain {
  /** The bytes from 0 that the upload holds. */
  end: number;
  /** The declared total length, once known. */
  length?: number;
  /** The pieces of [0, end) in order. */
  pieces: ChainPiece[];
  /** The latest generation, whose writer may go on from `end`. */
  tip?: GenRecord;
  /** The highest generation number seen (a new writer takes the next). */
  maxGen: number;
  /** When the last segment was stored, ms (0 if none). */
  lastWrite: number;
  /** Things that should not be there (a missing generation record, a hole). */
  problems: string[];
}

/** Resolves the state of an upload from the entries below its directory (`rel` keys). */
export function resolveChain(entries: Iterable<ObjectEntry & { rel: string }>): Chain {
  const gens = new Map<string, GenRecord>();
  const data = new Map<string, { start: number; entry: ObjectEntry }[]>();
  const lengths = new Map<string, { at: number; length: number }[]>();
  let maxGen = 0;
  for (const e of entries) {
    const g = parseGenKey(e.rel);
    if (g) {
      gens.set(genName(g.gen), g);
      maxGen = Math.max(maxGen, g.gen.num);
      continue;
    }
    const d = parseDataKey(e.rel);
    if (!d) continue;
    const name = genName(d.gen);
    if (d.length !== undefined) {
      const list = lengths.get(name) ?? [];
      list.push({ at: d.start, length: d.length });
      lengths.set(name, list);
    } else {
      const list = data.get(name) ?? [];
      list.push({ start: d.start, entry: e });
      data.set(name, list);
    }
  }
  const chain: Chain = { end: 0, pieces: [], maxGen, lastWrite: 0, problems: [] };
  if (gens.size === 0) return chain;

  // The tip: the highest generation (a tie means two takeovers overlapped: keep the larger nonce).
  let tip: GenRecord | undefined;
  for (const g of gens.values()) {
    if (
      !tip ||
      g.gen.num > tip.gen.num ||
      (g.gen.num === tip.gen.num && g.gen.nonce > tip.gen.nonce)
    )
      tip = g;
  }
  const path: GenRecord[] = [];
  for (let g: GenRecord | undefined = tip; g;) {
    path.unshift(g);
    if (sameGen(g.prev, NO_GEN)) break;
    const prev = gens.get(genName(g.prev));
    if (!prev) {
      chain.problems.push(`generation ${genName(g.prev)} is missing`);
      break;
    }
    if (prev.gen.num >= g.gen.num) {
      chain.problems.push(`generation ${genName(g.gen)} follows a later one`);
      break;
    }
    g = prev;
  }
  const onPath = new Set(path.map((g) => genName(g.gen)));
  const orphans = [...gens.keys()].filter((k) => !onPath.has(k));
  if (orphans.length > 0) chain.problems.push(`generations off the chain: ${orphans.join(', ')}`);
  chain.tip = tip;

  let cursor = 0;
  let declared: number | undefined;
  for (const [i, g] of path.entries()) {
    if (g.start !== cursor) {
      chain.problems.push(
        `generation ${genName(g.gen)} starts at byte ${g.start}, but the upload holds ${cursor}`,
      );
      if (g.start > cursor) break;
    }
    cursor = g.start;
    const limit = path[i + 1]?.start ?? Infinity;
    const segments = (data.get(genName(g.gen)) ?? []).sort((a, b) => a.start - b.start);
    const declarations = lengths.get(genName(g.gen)) ?? [];
    for (const s of segments) {
      if (cursor >= limit) break;
      if (s.start < cursor) continue; // an empty segment or an overlap: nothing new
      if (s.start > cursor) break; // a hole: nothing after it is reachable
      const length = Math.min(s.entry.size, limit - cursor);
      if (length > 0)
        chain.pieces.push({
          key: s.entry.key,
          offset: 0,
          start: cursor,
          length,
          receivedAt: s.entry.lastModified,
        });
      chain.lastWrite = Math.max(chain.lastWrite, s.entry.lastModified);
      cursor += length;
    }
    for (const d of declarations) if (d.at <= Math.min(cursor, limit)) declared = d.length;
  }
  chain.end = cursor;
  // A declared length the data has passed was a stale writer's: ignore it.
  if (declared !== undefined && declared >= chain.end) chain.length = declared;
  return chain;
}

/** The writer generation that comes after `chain`'s tip. */
export function nextGeneration(chain: Chain, nonce: string): GenRecord {
  return {
    gen: { num: chain.maxGen + 1, nonce },
    start: chain.end,
    prev: chain.tip?.gen ?? NO_GEN,
  };
}

export type { GenId };
