#!/usr/bin/env node
/**
 * The `sshcast` command: dispatches to one module per subcommand. Each module exports `help` (its
 * usage text) and `run(args)`, which resolves to the exit status. `--help` and `--version` work
 * everywhere; any error becomes one line `sshcast: <message>` on stderr and a non-zero exit.
 */
import { UsageError, packageVersion, stdoutErrors } from './common.js';
import { escapeControl } from '../text/escape.js';

/** The shape of a subcommand module (src/cli/<name>.ts). */
export interface Subcommand {
  help: string;
  run(args: string[]): Promise<number>;
}

const WEB = './web.js';

const commands: Record<string, { summary: string; load: () => Promise<Subcommand> }> = {
  ls: { summary: 'list recordings, newest first', load: () => import('./ls.js') },
  play: { summary: 'replay a recording in the terminal', load: () => import('./play.js') },
  cat: {
    summary: 'print the output stream (or, with --text, plain text)',
    load: () => import('./cat.js'),
  },
  validate: {
    summary: 'check recordings against the asciicast format',
    load: () => import('./validate.js'),
  },
  rec: { summary: 'record a local command through a pty', load: () => import('./rec.js') },
  // Sealing (DESIGN section 7).
  seal: { summary: 'set up sealing: seal init [DIR]', load: () => import('./seal.js') },
  verify: {
    summary: 'check sealed recordings with the verification key',
    load: () => import('./verify.js'),
  },
  prune: {
    summary: 'remove old recordings, sealing each removal',
    load: () => import('./prune.js'),
  },
  collect: {
    summary: 'receive recordings from devices and store them (S3 or a directory)',
    load: () => import('./collect.js'),
  },
  // A variable specifier: web.ts is written separately and may be missing from a partial build.
  web: {
    summary: 'browse and replay recordings in a web page',
    load: () => import(WEB) as Promise<Subcommand>,
  },
};

/** The top-level usage text. */
export const help = `Usage: sshcast COMMAND [OPTIONS]

Record, list, replay, check and seal asciicast v2 session recordings.

Commands:
${Object.entries(commands)
  .map(([name, c]) => `  ${name.padEnd(10)}${c.summary}`)
  .join('\n')}

Options:
  -h, --help     show this help (or a command's: sshcast COMMAND --help)
  -V, --version  print the version

Errors are one line on stderr; the exit status is 0 on success, 1 on failure, 2 on a usage error.
`;

function flagBeforeDashDash(args: string[], ...flags: string[]): boolean {
  for (const a of args) {
    if (a === '--') return false;
    if (flags.includes(a)) return true;
  }
  return false;
}

/** Runs the command line `args` (without node and the script) and resolves to the exit status. */
export async function main(args: string[]): Promise<number> {
  const [name, ...rest] = args;
  if (name === undefined || name === '-h' || name === '--help' || name === 'help') {
    const topic = name === 'help' ? rest[0] : undefined;
    if (topic && commands[topic]) {
      process.stdout.write((await commands[topic].load()).help);
      return 0;
    }
    (name === undefined ? process.stderr : process.stdout).write(help);
    return name === undefined ? 2 : 0;
  }
  if (name === '-V' || name === '--version') {
    process.stdout.write(`sshcast ${packageVersion()}\n`);
    return 0;
  }
  const entry = Object.hasOwn(commands, name) ? commands[name] : undefined;
  if (!entry) {
    const guess = closest(name, Object.keys(commands));
    throw new UsageError(
      `unknown command ${JSON.stringify(escapeControl(name))}${guess ? `; did you mean ${guess}?` : ''} (see sshcast --help)`,
    );
  }
  const mod = await entry.load();
  if (flagBeforeDashDash(rest, '-h', '--help')) {
    process.stdout.write(mod.help);
    return 0;
  }
  if (flagBeforeDashDash(rest, '-V', '--version')) {
    process.stdout.write(`sshcast ${packageVersion()}\n`);
    return 0;
  }
  return mod.run(rest);
}

/**
 * The command `typed` was most likely meant to be: the one within two edits (an insertion,
 * deletion, substitution or swap of neighbours), and nearer than every other; else undefined.
 */
export function closest(typed: string, names: readonly string[]): string | undefined {
  const word = typed.toLowerCase();
  if (word.length > 32) return undefined;
  let best: string | undefined;
  let bestDistance = 3;
  let tie = false;
  for (const name of names) {
    const d = editDistance(word, name);
    if (d < bestDistance) [best, bestDistance, tie] = [name, d, false];
    else if (d === bestDistance) tie = true;
  }
  // Only one nearest name is a suggestion, and not when every letter would have to change.
  return tie || bestDistance >= Math.max(word.length, 2) ? undefined : best;
}

/** Optimal string alignment distance: Levenshtein, with a swap of neighbours as one edit. */
function editDistance(a: string, b: string): number {
  const rows = Array.from({ length: a.length + 1 }, (_, i) => [
    i,
    ...Array<number>(b.length).fill(0),
  ]);
  for (let j = 1; j <= b.length; j++) rows[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(rows[i - 1]![j]! + 1, rows[i]![j - 1]! + 1, rows[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        d = Math.min(d, rows[i - 2]![j - 2]! + 1);
      rows[i]![j] = d;
    }
  }
  return rows[a.length]![b.length]!;
}

function oneLine(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return escapeControl(message.split('\n')[0] ?? '').slice(0, 2000) || 'unknown error';
}

function fail(err: unknown): never {
  process.stderr.write(`sshcast: ${oneLine(err)}\n`);
  process.exit(err instanceof UsageError ? 2 : 1);
}

// Only run when executed as the bin, not when a test imports this module.
const invokedAs = process.argv[1] ?? '';
if (/(?:^|[\\/])(?:main\.[cm]?[jt]s|sshcast)$/.test(invokedAs)) {
  // A reader that went away (`sshcast cat FILE | head`) is not an error.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (stdoutErrors.ignore) return; // the command handles it (rec keeps recording)
    if (err.code === 'EPIPE') process.exit(0);
    fail(err);
  });
  process.on('uncaughtException', fail);
  process.on('unhandledRejection', fail);
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  }, fail);
}
