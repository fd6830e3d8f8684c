/**
 * `sshcast verify [DIR] --key KEY | --key-file FILE [--json]`: checks a sealed directory's ledger
 * and recordings with the verification key `sshcast seal init` printed (DESIGN section 7). One
 * line per recording with its name and one word, one line for the ledger; exit 1 when anything
 * sealed was changed, 0 otherwise (warnings allowed), 2 for a usage error.
 */
import fs from 'node:fs';
import { SealingError } from '../errors.js';
import { DEFAULT_RECORDING_DIR } from '../recording/policy.js';
import { parseVerificationKey, type VerificationKey } from '../sealing/key.js';
import type { EpochRange, LedgerCheck, RecordingVerdict, VerifyReport } from '../sealing/verify.js';
import { verifyDirectory } from '../sealing/verify-directory.js';
import {
  describeFsError,
  parseCommandArgs,
  positiveNumber,
  terminalJson,
  UsageError,
  writeOut,
} from './common.js';
import { escapeControl } from '../text/escape.js';

/** Usage text for `sshcast verify`. */
export const help = `Usage: sshcast verify [DIR] --key KEY | --key-file FILE [--json]
       sshcast verify [DIR] --against DIR2|URL|s3://BUCKET/PREFIX[/DEVICE] [--key KEY | --key-file FILE]
                      [--device NAME] [--token-file FILE] [--upload-lag SECONDS] [--json]

Check the sealed recordings in DIR (default ${DEFAULT_RECORDING_DIR}) with the verification
key that "sshcast seal init" printed (sshcast-fss1:<t0>:<interval>:<hex>). Every ledger entry is
checked, then every recording against its entries. One line per recording, its name and one word:

  ok                    sealed through line N
  unsealed-tail         N lines after its last seal (a live session, or a crash)
  pruned                removed by "sshcast prune" after the sealed retention
  not-in-ledger         never sealed: made before sealing was set up (a warning), or planted
  modified              changed after line A, at or before line B
  truncated             fewer lines than were sealed
  appended-after-close  lines or entries after its close
  deleted               sealed, then removed without "sshcast prune"
  pruned-early          pruned sooner than the sealed retention
  sealed-late           first sealed long after it started (what a forger with a later key makes)
  unverifiable          it has entries at or after a ledger entry that fails

and one line for the ledger: how many entries verified, any entry that fails, any gap (epochs
without a tick: a crash, or entries removed), and when the last tick was.

With --against, compare DIR's recordings and ledgers with the collector's copies (double entry),
one line each: same, missing-remote (not shipped yet, or lost at the collector), missing-local
(deleted on the device; for a ledger, entries the device no longer has), differs at line N.
Uploads still open count, so a live session is missing-remote "still shipping" within the upload
lag. The target is a bucket (s3://, the AWS_* variables), a collector's --dir (or a plain copy
of DIR), or a collector's http(s):// address read with its read token ("@read TOKEN" in its
tokens file; a device's token cannot read). The device is the target's last segment, --device,
or the name DIR's uploader ships as. No key is needed; with the key, DIR and the collector's
ledger copy (which a compromised device cannot touch) are verified too.

Options:
  --key KEY        the verification key
  --key-file FILE  read the key from FILE (its first line holding one)
  --json           print one JSON object instead
  --against TARGET compare with the collector's copies (see above)
  --device NAME    the device at the target
  --token-file FILE
                   the collector's read token, for an http(s):// target (mode 0600)
  --upload-lag SECONDS
                   how long a recording may be missing-remote before it fails (60)
  -h, --help       show this help
  -V, --version    print the version

Exit status: 0 when nothing sealed was changed (warnings allowed), 1 when something was or the
key does not open the ledger, 2 for a usage error. With --against, also 1 for any copy that is
not the same, but a missing-remote younger than the upload lag.

Example:
  sshcast verify /var/lib/tailscale/ssh-sessions --key-file /media/usb/sshcast.key
  sshcast verify /var/lib/tailscale/ssh-sessions --against s3://recordings/fleet
`;

/** The collector's read token from `file`: its first line; a file open to others is refused. */
export function readTokenFile(file: string): string {
  let fd: number;
  try {
    fd = fs.openSync(
      file,
      fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK,
    );
  } catch (err) {
    throw new UsageError(`verify: --token-file ${file}: ${describeFsError(err)}`);
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) throw new UsageError(`verify: --token-file ${file}: not a regular file`);
    if ((st.mode & 0o077) !== 0)
      throw new UsageError(
        `verify: --token-file ${file} is open to group or others (mode ${(st.mode & 0o777).toString(8).padStart(4, '0')}): chmod 600 ${file}`,
      );
    const token = fs.readFileSync(fd, 'utf8').split('\n')[0]!.trim();
    if (token === '')
      throw new UsageError(`verify: --token-file ${file}: no token on its first line`);
    return token;
  } finally {
    fs.closeSync(fd);
  }
}

/** Reads the key from `--key` or `--key-file`; a problem is a UsageError. */
export function keyFromFlags(values: { key?: string; 'key-file'?: string }): VerificationKey {
  if ((values.key === undefined) === (values['key-file'] === undefined))
    throw new UsageError(
      'verify: give one of --key KEY or --key-file FILE (see sshcast verify --help)',
    );
  let text = values.key;
  if (text === undefined) {
    const file = values['key-file']!;
    try {
      text =
        fs
          .readFileSync(file, 'utf8')
          .split('\n')
          .find((l) => l.includes('sshcast-fss1:')) ?? '';
    } catch (err) {
      throw new UsageError(`verify: --key-file ${file}: ${describeFsError(err)}`);
    }
  }
  try {
    return parseVerificationKey(text);
  } catch (err) {
    throw new UsageError(`verify: ${(err as Error).message}`);
  }
}

/** `name: word detail`, the name escaped for the terminal. */
export function formatVerdict(v: RecordingVerdict): string {
  return `${escapeControl(v.file)}: ${v.finding}${v.detail ? ` ${v.detail}` : ''}`;
}

/** Epochs as `[2, 3, 4]`, long runs as ranges: `[2, 3, 10-4000]`. */
export function formatEpochs(gaps: EpochRange[]): string {
  const parts: string[] = [];
  for (const g of gaps) {
    if (g.to - g.from >= 4) parts.push(`${g.from}-${g.to}`);
    else for (let e = g.from; e <= g.to; e++) parts.push(String(e));
  }
  return `[${parts.join(', ')}]`;
}

/** A span of seconds as `42 s`, `5 min`, `3 h`, `12 days`. */
export function formatAgo(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  if (s < 172800) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86400)} days`;
}

function isoSeconds(t: number): string {
  return new Date(t * 1000).toISOString().replace('.000Z', 'Z');
}

/** The ledger's line. */
export function formatLedger(check: LedgerCheck, now: number): string {
  const f = check.failure;
  if (check.wrongKey)
    return `ledger: not sealed with this key: a wrong key, or a replaced ledger (entry 0: ${f!.reason})`;
  let head: string;
  const n = check.entries.length;
  if (f) head = `ledger: entry ${f.index}: ${f.reason}; ${n} of ${check.total} entries verified`;
  else if (check.gaps.length > 0)
    head = `ledger: gap in epochs ${formatEpochs(check.gaps)}; ${n} entries`;
  else head = `ledger: ok, ${n} entries${check.cutShort ? ' (cut short)' : ''}`;
  const tick = check.lastTick;
  return tick
    ? `${head}; last tick ${isoSeconds(tick.time)} (${formatAgo(now - tick.time)} ago)`
    : `${head}; no tick yet`;
}

/** The `--json` form of a report. */
export function reportJson(r: VerifyReport, now: number): object {
  const l = r.ledger;
  return {
    exit: r.exitCode,
    ledger: {
      file: r.ledgerFile,
      ok: !l.failure && l.gaps.length === 0,
      entries: l.total,
      verified: l.entries.length,
      cutShort: l.cutShort,
      wrongKey: l.wrongKey,
      failure: l.failure ?? null,
      gaps: l.gaps,
      lastTick: l.lastTick ? { ...l.lastTick, ago: now - l.lastTick.time } : null,
      summary: formatLedger(l, now),
    },
    recordings: r.recordings.map((v) => ({
      file: v.file,
      finding: v.finding,
      detail: v.detail,
      failed: v.failed,
      sealedLines: v.sealedLines ?? null,
      lines: v.lines ?? null,
    })),
  };
}

/** Runs `sshcast verify`. */
export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs('verify', args, {
    key: { type: 'string' },
    'key-file': { type: 'string' },
    json: { type: 'boolean' },
    against: { type: 'string' },
    device: { type: 'string' },
    'token-file': { type: 'string' },
    'upload-lag': { type: 'string' },
  });
  if (positionals.length > 1)
    throw new UsageError('verify: takes at most one directory (see sshcast verify --help)');
  const dir = positionals[0] ?? DEFAULT_RECORDING_DIR;
  if (values.against === undefined) {
    for (const flag of ['device', 'token-file', 'upload-lag'] as const)
      if (values[flag] !== undefined)
        throw new UsageError(`verify: --${flag} goes with --against (see sshcast verify --help)`);
  } else {
    const url = /^https?:\/\//i.test(values.against);
    const tokenFile = values['token-file'];
    if (url && tokenFile === undefined)
      throw new UsageError(
        "verify: --against URL needs --token-file FILE (the collector's read token)",
      );
    if (!url && tokenFile !== undefined)
      throw new UsageError("verify: --token-file goes with a collector's http(s):// address");
    const hasKey = values.key !== undefined || values['key-file'] !== undefined;
    const key = hasKey ? keyFromFlags(values) : undefined;
    const lag =
      values['upload-lag'] !== undefined
        ? positiveNumber('verify', '--upload-lag', values['upload-lag'], true)
        : 60;
    if (!fs.existsSync(dir)) throw new SealingError(`${dir}: no such directory`);
    const { runAgainst } = await import('./verify-against.js');
    return runAgainst({
      dir,
      against: values.against,
      device: values.device,
      ...(tokenFile !== undefined ? { readToken: () => readTokenFile(tokenFile) } : {}),
      uploadLagMs: lag * 1000,
      key,
      json: values.json === true,
    });
  }
  const key = keyFromFlags(values);
  if (!fs.existsSync(dir)) throw new SealingError(`${dir}: no such directory`);
  const now = Math.floor(Date.now() / 1000);
  const r = await verifyDirectory(dir, key, { now });
  if (values.json) {
    await writeOut(terminalJson(reportJson(r, now)));
  } else {
    const lines = r.recordings.map(formatVerdict);
    lines.push(formatLedger(r.ledger, now));
    await writeOut(lines.join('\n') + '\n');
  }
  return r.exitCode;
}
