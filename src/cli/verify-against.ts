/**
 * `sshcast verify [DIR] --against DIR2|URL|s3://BUCKET/PREFIX[/DEVICE] [--key KEY]`: double entry
 * (DESIGN.md section 8). Compares the device's recordings and ledgers with the collector's copies,
 * name by name (remote/compare.ts); with the key, also verifies the device's directory and the
 * collector's ledger copy, which a compromised device cannot touch, with its recordings.
 */
import type { Readable } from 'node:stream';
import { ledgerName } from '../storage/layout.js';
import { openAgainst, type AgainstTarget } from '../remote/against.js';
import {
  compareCopies,
  describeFinding,
  localCopies,
  type Comparison,
  type Copies,
  type Finding,
} from '../remote/compare.js';
import type { VerificationKey } from '../sealing/key.js';
import {
  checkLedger,
  judgeRecordings,
  verifyReport,
  type RecordingSource,
  type VerifyReport,
} from '../sealing/verify.js';
import { verifyDirectory } from '../sealing/verify-directory.js';
import { escapeControl } from '../text/escape.js';
import { terminalJson, writeOut } from './common.js';
import { formatLedger, formatVerdict, reportJson } from './verify.js';

export interface AgainstRun {
  dir: string;
  against: string;
  device?: string | undefined;
  /** The collector's read token, for a URL. */
  readToken?: () => string;
  ca?: string | Buffer | undefined;
  uploadLagMs: number;
  key?: VerificationKey | undefined;
  json: boolean;
}

/** A recording source over one side's copies, for the sealing verifier. */
export function copiesSource(copies: Copies): RecordingSource {
  return {
    async names() {
      return (await copies.list()).filter((e) => e.kind === 'recording').map((e) => e.name);
    },
    read(name) {
      return (async function* () {
        const stream = await copies.open(name);
        if (!stream) return;
        try {
          for await (const chunk of stream as AsyncIterable<Buffer>) yield chunk;
        } finally {
          stream.destroy();
        }
      })();
    },
  };
}

async function readAll(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of stream as AsyncIterable<Buffer>) parts.push(chunk);
  return Buffer.concat(parts);
}

/** The collector's copy of the ledger of `key`, verified, with its recordings judged by it. */
async function verifyCollectorCopy(
  target: AgainstTarget,
  key: VerificationKey,
  now: number,
): Promise<VerifyReport | string> {
  const name = ledgerName(key.t0);
  const stream = await target.copies.open(name);
  if (!stream) return `ledger: the collector has no ${name} (the ledger of this key)`;
  const ledger = checkLedger(await readAll(stream), key, { now });
  const verdicts = await judgeRecordings(ledger, copiesSource(target.copies));
  return verifyReport(`${target.label}/${name}`, ledger, verdicts);
}

async function verifyDevice(
  dir: string,
  key: VerificationKey,
  now: number,
): Promise<VerifyReport | string> {
  try {
    return await verifyDirectory(dir, key, { now });
  } catch (err) {
    // A ledger gone from the device is what the collector's copy is for: report, go on.
    return `ledger: cannot verify: ${(err as Error).message}`;
  }
}

/** `N same, M differs, ...`. */
function tally(c: Comparison): string {
  const counts = new Map<string, number>();
  for (const f of c.findings) counts.set(f.word, (counts.get(f.word) ?? 0) + 1);
  return [...counts].map(([w, n]) => `${n} ${w}`).join(', ') || 'nothing on either side';
}

function findingJson(f: Finding): object {
  return {
    name: f.name,
    kind: f.kind,
    word: f.word,
    line: f.line ?? null,
    localBytes: f.localBytes ?? null,
    remoteBytes: f.remoteBytes ?? null,
    ageMs: f.ageMs ?? null,
    failed: f.fails,
    summary: describeFinding(f),
  };
}

function reportLines(r: VerifyReport | string, now: number): string[] {
  if (typeof r === 'string') return [escapeControl(r)];
  return [...r.recordings.map(formatVerdict), formatLedger(r.ledger, now)];
}

const failed = (r: VerifyReport | string | undefined) =>
  r !== undefined && (typeof r === 'string' || r.exitCode !== 0);

/** Runs the comparison and prints it; resolves to the exit status. */
export async function runAgainst(o: AgainstRun): Promise<number> {
  const target = await openAgainst(o.against, {
    dir: o.dir,
    device: o.device,
    ...(o.readToken ? { readToken: o.readToken } : {}),
    ca: o.ca,
  });
  try {
    const nowMs = Date.now();
    const now = Math.floor(nowMs / 1000);
    const comparison = await compareCopies(localCopies(o.dir), target.copies, {
      uploadLagMs: o.uploadLagMs,
      now: nowMs,
    });
    const device = o.key ? await verifyDevice(o.dir, o.key, now) : undefined;
    const collector = o.key ? await verifyCollectorCopy(target, o.key, now) : undefined;
    const exit = !comparison.ok || failed(device) || failed(collector) ? 1 : 0;
    if (o.json) {
      const asJson = (r: VerifyReport | string | undefined) =>
        r === undefined
          ? undefined
          : typeof r === 'string'
            ? { exit: 1, error: r }
            : reportJson(r, now);
      await writeOut(
        terminalJson({
          exit,
          against: {
            target: target.label,
            device: target.device ?? null,
            ok: comparison.ok,
            findings: comparison.findings.map(findingJson),
          },
          ...(device !== undefined ? { device: asJson(device) } : {}),
          ...(collector !== undefined ? { collector: asJson(collector) } : {}),
        }),
      );
      return exit;
    }
    const label = escapeControl(target.label);
    const compared = [
      ...comparison.findings.map((f) => escapeControl(describeFinding(f))),
      `against ${label}: ${tally(comparison)}`,
    ];
    const out =
      device === undefined || collector === undefined
        ? compared
        : [
            `${escapeControl(o.dir)}, with the key:`,
            ...reportLines(device, now).map((l) => `  ${l}`),
            `${escapeControl(o.dir)} against ${label}:`,
            ...compared.slice(0, -1).map((l) => `  ${l}`),
            `  ${tally(comparison)}`,
            `${label}, with the key:`,
            ...reportLines(collector, now).map((l) => `  ${l}`),
          ];
    await writeOut(out.join('\n') + '\n');
    return exit;
  } finally {
    target.close();
  }
}
