/**
 * `sshcast seal init [DIR] [--interval 15m] [--retention AGE] [--rotate]`: sets a recordings
 * directory up for forward-secure sealing (DESIGN section 7) and prints the verification key,
 * once, with the advice to keep it off this device.
 */
import { RecordingDirectory } from '../recording/directory.js';
import { DEFAULT_RECORDING_DIR } from '../recording/policy.js';
import {
  DEFAULT_INTERVAL,
  formatInterval,
  formatVerificationKey,
  parseDuration,
} from '../sealing/key.js';
import { initSealing } from '../sealing/setup.js';
import { parseCommandArgs, UsageError, writeOut } from './common.js';
import { escapeControl } from '../text/escape.js';

/** Usage text for `sshcast seal`. */
export const help = `Usage: sshcast seal init [DIR] [--interval 15m] [--retention AGE] [--rotate]

Set DIR (default ${DEFAULT_RECORDING_DIR}) up for sealing: from then on a server recording
into DIR seals every line of every recording, and a ledger in DIR/.sshcast records each
recording's start, growth and end, with a key that moves on every interval and cannot be moved
back. Whatever was sealed before someone became root on this machine cannot be changed,
reordered, truncated or deleted without "sshcast verify" saying so.

Prints the verification key once, on stdout: store it OFF this device (it verifies, and it
could also seal, so whoever holds it can forge). Verify with: sshcast verify DIR --key KEY.

Options:
  --interval D     how often the key moves and the ledger is sealed (default ${formatInterval(DEFAULT_INTERVAL)};
                   forms: 10s, 15m, 1h; at least 1 s)
  --retention AGE  "sshcast prune" refuses to remove a recording younger than AGE (e.g. 30d;
                   default 0, no retention)
  --rotate         start a new key on a directory already set up (after a suspected
                   compromise); the old ledger is kept as ledger-<old t0>.jsonl for the old key
  -h, --help       show this help
  -V, --version    print the version

Example:
  sshcast seal init /var/lib/tailscale/ssh-sessions --interval 15m --retention 90d
`;

function duration(flag: string, text: string | undefined, fallback: number, min: number): number {
  if (text === undefined) return fallback;
  const n = parseDuration(text);
  if (n === undefined || n < min)
    throw new UsageError(
      `seal init: ${flag} needs a duration such as 10s, 15m, 12h or 30d${min > 0 ? ` (at least ${min} s)` : ''}, not ${JSON.stringify(escapeControl(text))}`,
    );
  return n;
}

/** Runs `sshcast seal`. */
export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs('seal', args, {
    interval: { type: 'string' },
    retention: { type: 'string' },
    rotate: { type: 'boolean' },
  });
  const [action, dirArg, ...extra] = positionals;
  if (action !== 'init')
    throw new UsageError(
      `seal: ${action === undefined ? 'missing' : `unknown action ${JSON.stringify(escapeControl(action))}, not`} "init" (see sshcast seal --help)`,
    );
  if (extra.length > 0)
    throw new UsageError('seal init: takes at most one directory (see sshcast seal --help)');
  const interval = duration('--interval', values.interval, DEFAULT_INTERVAL, 1);
  const retention = duration('--retention', values.retention, 0, 0);
  const dir = dirArg ?? DEFAULT_RECORDING_DIR;
  // Created and checked as the Recorder will (0700, no symlink, not writable by others).
  RecordingDirectory.open(dir).close();
  const result = initSealing(dir, { interval, retention, rotate: values.rotate ?? false });
  await writeOut(formatVerificationKey(result.key) + '\n');
  process.stderr.write(
    `sshcast: ${dir} is set up for sealing every ${formatInterval(interval)}${retention > 0 ? `, retention ${formatInterval(retention)}` : ''}.\n` +
      (result.rotatedLedger
        ? `sshcast: the old ledger is kept as ${result.rotatedLedger}.\n`
        : '') +
      'sshcast: store the verification key above OFF this device (a password manager, another machine): it is shown only once, it verifies the recordings, and it can also seal them.\n',
  );
  return 0;
}
