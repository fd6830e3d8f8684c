import { describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { closest } from '../../src/cli/main.js';
import { cliPath, isOneLineError, root, runCli, tempDir } from './helpers.js';

const version = (
  JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string }
).version;
const commands = ['ls', 'play', 'cat', 'validate', 'rec', 'web'];

describe('sshcast (built, under plain node)', () => {
  it('starts with a node shebang so the bin runs directly', () => {
    expect(fs.readFileSync(cliPath, 'utf8').startsWith('#!/usr/bin/env node\n')).toBe(true);
  });

  it('prints the version', async () => {
    for (const args of [['--version'], ['-V']]) {
      const r = await runCli(args);
      expect(r.code).toBe(0);
      expect(r.stdout).toBe(`sshcast ${version}\n`);
    }
  });

  it('lists every command in its help', async () => {
    const r = await runCli(['--help']);
    expect(r.code).toBe(0);
    for (const c of commands) expect(r.stdout).toMatch(new RegExp(`^  ${c} `, 'm'));
  });

  it('with no command prints the help on stderr and fails', async () => {
    const r = await runCli([]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('Usage: sshcast');
  });

  for (const c of commands) {
    it(`${c} --help and --version`, async () => {
      const h = await runCli([c, '--help']);
      expect(h.code).toBe(0);
      expect(h.stdout).toMatch(new RegExp(`^Usage: sshcast ${c}`));
      expect(h.stderr).toBe('');
      const v = await runCli([c, '--version']);
      expect(v.code).toBe(0);
      expect(v.stdout).toBe(`sshcast ${version}\n`);
    });
  }

  for (const c of commands) {
    it(`${c} with an unknown flag fails with one line`, async () => {
      const r = await runCli([c, '--no-such-flag', 'x']);
      expect(r.code).not.toBe(0);
      expect(isOneLineError(r.stderr)).toBe(true);
      expect(r.stderr).toContain('--no-such-flag');
    });
  }

  it('an unknown command fails with one line', async () => {
    const r = await runCli(['frobnicate']);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('sshcast: unknown command "frobnicate" (see sshcast --help)\n');
  });

  it('a mistyped command gets the one it most likely meant', async () => {
    const r = await runCli(['lss', './recordings']);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      'sshcast: unknown command "lss"; did you mean ls? (see sshcast --help)\n',
    );
    expect(closest('vaildate', commands)).toBe('validate'); // two letters swapped
    expect(closest('pley', commands)).toBe('play');
    expect(closest('WEB', commands)).toBe('web');
    expect(closest('x', commands)).toBeUndefined(); // as near to ls as to anything: no guess
    expect(closest('convert', commands)).toBeUndefined();
  });

  for (const args of [
    ['cat', '/nonexistent/x.cast'],
    ['cat', '--text', '/nonexistent/x.cast'],
    ['play', '/nonexistent/x.cast'],
    ['ls', '/nonexistent'],
  ]) {
    it(`${args.join(' ')}: a missing file is one line, exit 1`, async () => {
      const r = await runCli(args);
      expect(r.code).toBe(1);
      expect(r.stderr).toBe(`sshcast: ${args[args.length - 1]}: no such file or directory\n`);
    });
  }

  it('validate of a missing file says so and exits 1', async () => {
    const r = await runCli(['validate', '/nonexistent/x.cast']);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('/nonexistent/x.cast: cannot read: no such file or directory\n');
  });

  it('missing arguments are usage errors', async () => {
    for (const args of [['cat'], ['play'], ['validate'], ['rec'], ['play', 'x', '-s', 'fast']]) {
      const r = await runCli(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(isOneLineError(r.stderr), r.stderr).toBe(true);
    }
  });

  it('control characters in an argument are not echoed raw in errors', async () => {
    const r = await runCli(['cat', '/nonexistent/\u001b]52;c;aGk=\u0007']);
    expect(r.code).toBe(1);
    expect(r.stderr).not.toContain('\u001b');
    expect(r.stderr).toContain('\\e]52');
  });

  it('a reader that goes away (| head) is not an error', () => {
    const { dir, cleanup } = tempDir();
    try {
      const file = path.join(dir, 'big.cast');
      const line = JSON.stringify('x'.repeat(1000) + '\r\n');
      fs.writeFileSync(
        file,
        '{"version":2,"width":80,"height":24}\n' + `[0.1,"o",${line}]\n`.repeat(5000),
      );
      const r = spawnSync(
        'bash',
        [
          '-c',
          `"$0" "$1" cat "$2" | head -c 10; echo " status=\${PIPESTATUS[0]}" >&2`,
          process.execPath,
          cliPath,
          file,
        ],
        {
          encoding: 'utf8',
        },
      );
      expect(r.stdout).toBe('x'.repeat(10));
      expect(r.stderr).toBe(' status=0\n');
    } finally {
      cleanup();
    }
  });
});
