/**
 * The sealing commands as users run them (the built CLI under plain node): help, one-line usage
 * errors with exit 2, `verify --json` and `--key-file` on the shared vectors, `ls` and the web
 * page's list saying through which line each recording is sealed, without the key.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isOneLineError, runCli, type CliResult } from '../cli/helpers.js';
import { authedGet, serve } from '../web/serve.js';
import { tempDir, VECTORS, vectors } from './helpers.js';

let work: string;

function expectOneLineError(r: CliResult, message: RegExp): void {
  expect(r.stderr).toMatch(message);
  expect(isOneLineError(r.stderr)).toBe(true);
}

beforeAll(() => {
  work = tempDir();
});
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

describe('sshcast seal, verify and prune: help and usage errors', () => {
  for (const cmd of ['seal', 'verify', 'prune']) {
    it(`${cmd} --help`, async () => {
      const r = await runCli([cmd, '--help']);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`^Usage: sshcast ${cmd} `));
    });
  }

  const bad: [string[], RegExp][] = [
    [['seal'], /^sshcast: seal: missing "init"/],
    [['seal', 'open', 'x'], /^sshcast: seal: unknown action "open", not "init"/],
    [['seal', 'init', 'x', '--interval', '0s'], /--interval needs a duration .*at least 1 s/],
    [['seal', 'init', 'x', '--interval', 'soon'], /--interval needs a duration/],
    [['verify', 'x'], /give one of --key KEY or --key-file FILE/],
    [['verify', 'x', '--key', 'sshcast-fss1:1:1:00'], /not a verification key/],
    [
      ['verify', 'x', '--key-file', '/nonexistent/key'],
      /--key-file \/nonexistent\/key: no such file/,
    ],
    [['prune', 'x'], /--older-than AGE is required/],
    [['prune', 'x', '--older-than', '3 days'], /--older-than needs a duration/],
    [['prune', 'x', '--older-than', '1d', '--max-total', 'lots'], /invalid --max-total/],
  ];
  for (const [args, message] of bad) {
    it(`${args.join(' ')}: one line, exit 2`, async () => {
      const r = await runCli(args);
      expectOneLineError(r, message);
      expect(r.code).toBe(2);
    });
  }

  it('verify on a directory that is not sealed: one line, exit 1', async () => {
    const r = await runCli(['verify', work, '--key', vectors.verificationKey]);
    expectOneLineError(r, /is not set up for sealing/);
    expect(r.code).toBe(1);
  });
});

describe('sshcast verify output', () => {
  it('prints one line per recording and one for the ledger', async () => {
    const r = await runCli([
      'verify',
      path.join(VECTORS, 'edited'),
      '--key',
      vectors.verificationKey,
    ]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(
      /^ssh-session-1767225601000000000-abc123\.cast: modified after line 1, at or before line 2\nledger: ok, 10 entries; last tick 2026-01-01T00:00:59Z \(\d+ days ago\)\n$/,
    );
  });

  it('--json and --key-file', async () => {
    const keyFile = path.join(work, 'key');
    fs.writeFileSync(keyFile, `# stored off the device\n${vectors.verificationKey}\n`);
    const r = await runCli([
      'verify',
      path.join(VECTORS, 'crash-gap'),
      '--key-file',
      keyFile,
      '--json',
    ]);
    expect(r.code).toBe(1);
    const j = JSON.parse(r.stdout) as {
      exit: number;
      ledger: { gaps: unknown; verified: number; ok: boolean };
      recordings: { finding: string }[];
    };
    expect(j.exit).toBe(1);
    expect(j.ledger).toMatchObject({ ok: false, verified: 9, gaps: [{ from: 2, to: 4 }] });
    expect(j.recordings.map((x) => x.finding)).toEqual(['ok']);
  });

  it('a hostile recording name is escaped', async () => {
    const dir = path.join(work, 'hostile');
    fs.cpSync(path.join(VECTORS, 'base'), dir, { recursive: true });
    fs.writeFileSync(
      path.join(dir, 'x\u001b]52;c;aGk=\u0007.cast'),
      '{"version":2,"width":80,"height":24,"timestamp":1767225630}\n',
    );
    const r = await runCli(['verify', dir, '--key', vectors.verificationKey]);
    expect(r.stdout).toContain('x\\e]52;c;aGk=\\x07.cast: not-in-ledger header time 1767225630');
    expect(r.stdout).not.toContain('\u001b');
    expect(r.code).toBe(1);
  });
});

describe('listings say whether each recording is sealed, without the key', () => {
  let dir: string;
  beforeAll(() => {
    dir = path.join(work, 'listed');
    fs.cpSync(path.join(VECTORS, 'unsealed-tail'), dir, { recursive: true });
    fs.chmodSync(dir, 0o700);
    fs.writeFileSync(
      path.join(dir, 'ssh-session-1767224600000000000-000000.cast'),
      fs.readFileSync(
        path.join(VECTORS, 'older-than-sealing/ssh-session-1767224600000000000-000000.cast'),
      ),
    );
  });

  it('sshcast ls has a SEALED column and --json a sealed field', async () => {
    const r = await runCli(['ls', dir]);
    expect(r.code).toBe(0);
    const [head, ...rows] = r.stdout.trimEnd().split('\n');
    expect(head).toMatch(/ STATUS +SEALED +COMMAND$/);
    expect(rows.find((l) => l.includes('abc123'))).toMatch(/ 4 closed /);
    expect(rows.find((l) => l.includes('eee000'))).toMatch(/ 1 open /);
    expect(rows.find((l) => l.includes('000000.cast'))).toMatch(/ no /);
    const j = JSON.parse((await runCli(['ls', dir, '--json'])).stdout) as {
      file: string;
      sealed: unknown;
    }[];
    expect(Object.fromEntries(j.map((x) => [x.file.slice(32, 38), x.sealed]))).toEqual({
      eee000: { lines: 1, closed: false, pruned: false },
      abc123: { lines: 4, closed: true, pruned: false },
      '000000': null,
    });
  });

  it('sshcast ls of a directory never sealed has no SEALED column', async () => {
    const plain = path.join(work, 'plain');
    fs.mkdirSync(plain, { mode: 0o700 });
    fs.copyFileSync(
      path.join(dir, 'ssh-session-1767224600000000000-000000.cast'),
      path.join(plain, 'a.cast'),
    );
    const r = await runCli(['ls', plain]);
    expect(r.stdout.split('\n')[0]).toMatch(/ STATUS +COMMAND$/);
    expect(
      (JSON.parse((await runCli(['ls', plain, '--json'])).stdout) as object[])[0],
    ).not.toHaveProperty('sealed');
  });

  it("the web page's list gives each recording's seal", async () => {
    const s = await serve(dir);
    try {
      const r = await authedGet(s, '/api/recordings');
      expect(r.status).toBe(200);
      const list = JSON.parse(r.body.toString()) as { file: string; sealed: unknown }[];
      expect(list.find((x) => x.file.includes('abc123'))!.sealed).toEqual({
        lines: 4,
        closed: true,
        pruned: false,
      });
      expect(list.find((x) => x.file.endsWith('-000000.cast'))!.sealed).toBeNull();
    } finally {
      await s.stop();
    }
  });
});

describe('sshcast prune --dry-run and --max-total', () => {
  /** A finished recording named for its start (seconds) with `n` output lines. */
  function cast(dir: string, start: number, n: number): string {
    const name = `ssh-session-${start}000000000-${String(start).slice(-6)}.cast`;
    const events = Array.from({ length: n }, (_, i) => `[${i + 1}.0,"o","line ${i}\\r\\n"]\n`);
    fs.writeFileSync(
      path.join(dir, name),
      `{"version":2,"width":80,"height":24,"timestamp":${start}}\n${events.join('')}[${n + 1}.0,"x","0"]\n`,
      { mode: 0o600 },
    );
    return name;
  }

  it('--dry-run in a sealed directory removes nothing and writes no ledger entry', async () => {
    const dir = path.join(work, 'dry');
    fs.cpSync(path.join(VECTORS, 'base'), dir, { recursive: true });
    const ledger = path.join(dir, '.sshcast/ledger.jsonl');
    const before = fs.readFileSync(ledger);
    const [name] = fs.readdirSync(dir).filter((f) => f.endsWith('.cast'));
    const r = await runCli(['prune', dir, '--older-than', '1d', '--dry-run']);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(
      new RegExp(
        `^would remove ${name!.replace('.', '\\.')} \\(\\d+B, ended 2026-01-01 [\\d:]+\\)\\nwould prune 1 recording \\(\\d+B\\), each sealed in the ledger; \\d+B left\\n$`,
      ),
    );
    expect(r.code).toBe(0);
    expect(fs.existsSync(path.join(dir, name!))).toBe(true);
    expect(fs.readFileSync(ledger).equals(before)).toBe(true);
  });

  it('--max-total then removes the oldest finished recordings until the rest fit', async () => {
    const dir = path.join(work, 'total');
    fs.mkdirSync(dir, { mode: 0o700 });
    const now = Math.floor(Date.now() / 1000);
    const oldest = cast(dir, now - 7200, 40);
    const middle = cast(dir, now - 3600, 40);
    const newest = cast(dir, now - 1800, 40);
    const size = fs.statSync(path.join(dir, newest)).size; // about 1 KiB
    // Nothing is a day old: only the size cap removes, oldest first, until one recording is left.
    const r = await runCli(['prune', dir, '--older-than', '1d', '--max-total', String(size)]);
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n').filter((l) => l.startsWith('removed '))).toEqual([
      expect.stringMatching(
        new RegExp(`^removed ${oldest.replace('.', '\\.')} .*, over --max-total\\)$`),
      ),
      expect.stringMatching(
        new RegExp(`^removed ${middle.replace('.', '\\.')} .*, over --max-total\\)$`),
      ),
    ]);
    expect(r.stdout).toMatch(/\npruned 2 recordings \([\d.]+K\); 1\.0K left\n$/);
    expect(fs.readdirSync(dir)).toEqual([newest]);
  });
});
