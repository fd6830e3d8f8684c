/**
 * `sshcast prune [DIR] --older-than AGE [--max-total SIZE] [--dry-run]`: removes finished
 * recordings, writing a sealed `prune` entry for each in a sealed directory (DESIGN section 7).
 */
import { ConfigError } from '../errors.js';
import { DEFAULT_RECORDING_DIR, parseSize } from '../recording/policy.js';
import { parseDuration } from '../sealing/key.js';
import { pruneRecordings } from '../recording/prune.js';
import { parseCommandArgs, UsageError, writeOut } from './common.js';
import { formatStart } from './ls.js';
import { escapeControl } from '../text/escape.js';
import { formatSize } from '../text/units.js';

/** Usage text for `sshcast prune`. */
export const help = `Usage: sshcast prune [DIR] --older-than AGE [--max-total SIZE] [--dry-run]

Remove finished recordings from DIR (default ${DEFAULT_RECORDING_DIR}) whose last event is at
least AGE old (forms: 90d, 12h, 30m, 45s). With --max-total, then remove the oldest finished
recordings until those left take at most SIZE bytes (K, M, G suffixes). A recording still being
written is never removed.

In a directory set up with "sshcast seal init", each removal first gets a sealed "prune" entry
in the ledger, so "sshcast verify" reports it as pruned, not deleted; prune refuses an AGE below
the retention sealed at setup, and keeps any recording younger than it. It works beside a
running server and on a stopped one (then it writes its own start and stop entries): run it
from cron.

Options:
  --older-than AGE  the age (required)
  --max-total SIZE  the most the recordings may take
  --dry-run         print what would be removed; remove nothing
  -h, --help        show this help
  -V, --version     print the version

Example:
  sshcast prune /var/lib/tailscale/ssh-sessions --older-than 90d --max-total 20G
`;

/** Runs `sshcast prune`. */
export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs('prune', args, {
    'older-than': { type: 'string' },
    'max-total': { type: 'string' },
    'dry-run': { type: 'boolean' },
  });
  if (positionals.length > 1)
    throw new UsageError('prune: takes at most one directory (see sshcast prune --help)');
  const ageText = values['older-than'];
  if (ageText === undefined)
    throw new UsageError('prune: --older-than AGE is required (see sshcast prune --help)');
  const olderThan = parseDuration(ageText);
  if (olderThan === undefined)
    throw new UsageError(
      `prune: --older-than needs a duration such as 90d, 12h, 30m or 45s, not ${JSON.stringify(escapeControl(ageText))}`,
    );
  let maxTotal: number | undefined;
  if (values['max-total'] !== undefined) {
    try {
      maxTotal = parseSize(values['max-total'], '--max-total');
    } catch (err) {
      if (err instanceof ConfigError) throw new UsageError(`prune: ${err.message}`);
      throw err;
    }
  }
  const dir = positionals[0] ?? DEFAULT_RECORDING_DIR;
  const dryRun = values['dry-run'] ?? false;
  const result = await pruneRecordings(dir, {
    olderThan,
    ...(maxTotal !== undefined ? { maxTotal } : {}),
    dryRun,
  });
  const verb = dryRun ? 'would remove' : 'removed';
  const lines = result.removed.map(
    (r) =>
      `${verb} ${escapeControl(r.file)} (${formatSize(r.size)}, ended ${formatStart(r.ended)}${r.why === 'size' ? ', over --max-total' : ''})`,
  );
  for (const f of result.retained)
    lines.push(`kept ${escapeControl(f)} (younger than the sealed retention)`);
  const freed = result.removed.reduce((n, r) => n + r.size, 0);
  lines.push(
    `${dryRun ? 'would prune' : 'pruned'} ${result.removed.length} recording${result.removed.length === 1 ? '' : 's'} (${formatSize(freed)})${result.sealed ? ', each sealed in the ledger' : ''}; ${formatSize(result.remainingBytes)} left`,
  );
  await writeOut(lines.join('\n') + '\n');
  return 0;
}
