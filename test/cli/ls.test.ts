import { describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { encodeCast, encodeHeader } from '../../src/asciicast/encoder.js';
import type { Event, Header } from '../../src/asciicast/event.js';
import { listRecordings, summarizeRecording } from '../../src/cli/ls.js';
import { brokenDir, CONTROL_EXCEPT_LF, goldenDir, runCli, tempDir } from './helpers.js';

function cast(header: Partial<Header>, events: Event[]): string {
  return encodeCast({ version: 2, width: 80, height: 24, ...header }, events);
}

const exit0: Event = { time: 2_500_000, code: 'x', data: '0' };

describe('sshcast ls', () => {
  it('lists recordings newest first with start, duration, size, user and command', async () => {
    const { dir, cleanup } = tempDir();
    try {
      fs.writeFileSync(
        path.join(dir, 'old.cast'),
        cast({ timestamp: 1_600_000_000, localUser: 'alice' }, [exit0]),
      );
      fs.writeFileSync(
        path.join(dir, 'new.cast'),
        cast({ timestamp: 1_700_000_000, localUser: 'bob', command: 'uptime' }, [
          { time: 100, code: 'o', data: 'up\r\n' },
          { time: 75_000_000, code: 'x', data: '0' },
        ]),
      );
      fs.writeFileSync(path.join(dir, 'notes.txt'), 'not a recording');
      const r = await runCli(['ls', dir], { env: { ...process.env, TZ: 'UTC' } });
      expect(r.code).toBe(0);
      const lines = r.stdout.trimEnd().split('\n');
      expect(lines).toHaveLength(3);
      expect(lines[0]).toMatch(/^FILE +START +DURATION +SIZE +USER +EXIT +STATUS +COMMAND$/);
      expect(lines[1]).toMatch(/^new\.cast +2023-11-14 22:13:20 +1:15 +\d+B +bob +0 +ok +uptime$/);
      expect(lines[2]).toMatch(
        /^old\.cast +2020-09-13 12:26:40 +2\.5s +\d+B +alice +0 +ok +shell$/,
      );
    } finally {
      cleanup();
    }
  });

  it('--json gives every field, and null for an interactive shell', async () => {
    const r = await runCli(['ls', '--json', goldenDir]);
    expect(r.code).toBe(0);
    const items = JSON.parse(r.stdout) as Record<string, unknown>[];
    const full = items.find((i) => i.file === 'full.cast')!;
    expect(full).toMatchObject({
      path: path.join(goldenDir, 'full.cast'),
      start: '2023-11-14T22:13:20.000Z',
      timestamp: 1_700_000_000,
      duration: 1.5,
      size: fs.statSync(path.join(goldenDir, 'full.cast')).size,
      localUser: 'alice',
      command: 'ls -la "/tmp"',
      width: 120,
      height: 40,
      exit: '0',
      status: 'ok',
      problem: null,
    });
    expect(items.find((i) => i.file === 'resize-marker-exit.cast')).toMatchObject({
      command: null,
      exit: '130',
    });
  });

  it('lists damaged and partial files, marked, without stopping', async () => {
    const r = await runCli(['ls', '--json', brokenDir]);
    expect(r.code).toBe(0);
    const items = JSON.parse(r.stdout) as {
      file: string;
      status: string;
      problem: string | null;
    }[];
    expect(items).toHaveLength(fs.readdirSync(brokenDir).length);
    const byName = Object.fromEntries(items.map((i) => [i.file, i]));
    expect(byName['empty.cast']).toMatchObject({
      status: 'damaged',
      problem: 'line 1: empty recording',
    });
    expect(byName['bad-header.cast']).toMatchObject({
      status: 'damaged',
      problem: 'line 1: width and height must be positive integers',
    });
    expect(byName['unsupported-version.cast']).toMatchObject({ status: 'damaged' });
    expect(byName['unknown-code.cast']).toMatchObject({
      status: 'damaged',
      problem: 'last line: unknown event code "z"',
    });
    expect(byName['truncated.cast']).toMatchObject({
      status: 'partial',
      problem: 'truncated final line',
    });
    const table = await runCli(['ls', brokenDir]);
    expect(table.stdout).toMatch(/^empty\.cast .* damaged: line 1: empty recording/m);
    expect(table.stdout).toMatch(/^truncated\.cast .* partial: truncated final line/m);
  });

  it('tells a recording still being written from one whose recorder writes no exit status', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const file = path.join(dir, 'live.cast');
      fs.writeFileSync(file, cast({}, [{ time: 3_000_000, code: 'o', data: 'x' }]));
      // No process writes it: a recorder that writes no x (asciinema 2, Tailscale) or was killed.
      const ended = summarizeRecording(file);
      expect(ended).toMatchObject({ status: 'ok', duration: 3 });
      expect(ended.exit).toBeUndefined();
      expect(ended.problem).toBeUndefined();
      fs.writeFileSync(file, encodeHeader({ version: 2, width: 80, height: 24 }));
      expect(summarizeRecording(file)).toMatchObject({ status: 'ok', duration: 0 });
      // Held open for writing (here by this process), even mid-line: live, in the table and JSON.
      fs.appendFileSync(file, '[1.25,"o","hal');
      const fd = fs.openSync(file, 'a');
      try {
        expect(listRecordings(dir)).toMatchObject([{ file: 'live.cast', status: 'live' }]);
        const json = JSON.parse((await runCli(['ls', '--json', dir])).stdout) as unknown[];
        expect(json).toMatchObject([{ status: 'live', exit: null, problem: null }]);
        expect((await runCli(['ls', dir])).stdout).toMatch(/^live\.cast .* - +live +shell$/m);
      } finally {
        fs.closeSync(fd);
      }
      // The writer gone with the line cut short: the damage shows.
      expect(listRecordings(dir)).toMatchObject([
        { status: 'partial', problem: 'truncated final line' },
      ]);
    } finally {
      cleanup();
    }
  });

  it('shows the exit status in its own column, and a command as typed (backslashes single)', async () => {
    const { dir, cleanup } = tempDir();
    try {
      fs.writeFileSync(
        path.join(dir, 'a.cast'),
        cast({ timestamp: 2, command: "printf '\\xc3\\x28' | od -c" }, [
          { time: 1000, code: 'x', data: '141' },
        ]),
      );
      const table = await runCli(['ls', dir]);
      expect(table.stdout).toMatch(/^a\.cast .* 141 +ok +printf '\\xc3\\x28' \| od -c$/m);
      expect(table.stdout).not.toContain('\\\\');
      const json = JSON.parse((await runCli(['ls', '--json', dir])).stdout) as unknown[];
      expect(json).toMatchObject([{ exit: '141', command: "printf '\\xc3\\x28' | od -c" }]);
    } finally {
      cleanup();
    }
  });

  it('finds the last event of a long file from its tail, even when that line is long', () => {
    const { dir, cleanup } = tempDir();
    try {
      const file = path.join(dir, 'long.cast');
      const events: Event[] = Array.from({ length: 20_000 }, (_, i) => ({
        time: i * 1000,
        code: 'o',
        data: 'y'.repeat(40),
      }));
      events.push({ time: 30_000_000, code: 'o', data: 'z'.repeat(200_000) }); // longer than the tail window
      events.push({ time: 31_000_000, code: 'x', data: '7' });
      fs.writeFileSync(file, cast({ command: 'yes' }, events) + '[31.5,"o","cut sh');
      expect(summarizeRecording(file)).toMatchObject({
        status: 'partial',
        problem: 'truncated final line',
        duration: 31,
        exit: '7',
      });
      fs.writeFileSync(file, cast({ command: 'yes' }, events.slice(0, -1)));
      expect(summarizeRecording(file)).toMatchObject({ status: 'ok', duration: 30 });
      expect(summarizeRecording(file).exit).toBeUndefined();
    } finally {
      cleanup();
    }
  });

  it('skips symlinks and does not hang on a FIFO', async () => {
    const { dir, cleanup } = tempDir();
    try {
      fs.writeFileSync(path.join(dir, 'real.cast'), cast({ timestamp: 1 }, [exit0]));
      fs.symlinkSync('/etc/passwd', path.join(dir, 'link.cast'));
      const { execFileSync } = await import('node:child_process');
      execFileSync('mkfifo', [path.join(dir, 'fifo.cast')]);
      const rows = listRecordings(dir);
      expect(rows.map((r) => [r.file, r.status])).toEqual(
        expect.arrayContaining([
          ['real.cast', 'ok'],
          ['link.cast', 'damaged'],
          ['fifo.cast', 'damaged'],
        ]),
      );
      expect(rows.find((r) => r.file === 'link.cast')!.problem).toBe('not a regular file');
    } finally {
      cleanup();
    }
  });

  it('neutralises escape sequences in header fields (OSC 52, title, bidi)', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const hostile =
        'ls\u001b]52;c;cm0gLXJmIH4K\u0007\u001b]0;pwned\u0007\u009b2J\u202eevil\r\nfake line';
      const raw = cast({ timestamp: 5, command: hostile, localUser: 'eve\u001b[8m' }, [exit0]);
      fs.writeFileSync(path.join(dir, 'evil\u001b[31m.cast'), raw);
      // A naive listing (printing the decoded header field) would hand the terminal the sequences.
      expect(JSON.parse(raw.split('\n')[0]!).command).toContain('\u001b]52;');
      const table = await runCli(['ls', dir]);
      expect(table.stdout).not.toMatch(CONTROL_EXCEPT_LF);
      expect(table.stdout).not.toContain('\u202e');
      expect(table.stdout.trimEnd().split('\n')).toHaveLength(2); // the \r\n in the command is escaped
      expect(table.stdout).toContain(
        'ls\\e]52;c;cm0gLXJmIH4K\\x07\\e]0;pwned\\x07\\x9b2J\\u202eevil\\r\\nfake line',
      );
      expect(table.stdout).toContain('evil\\e[31m.cast');
      const json = await runCli(['ls', '--json', dir]);
      expect(json.stdout).not.toMatch(CONTROL_EXCEPT_LF);
      expect(json.stdout).not.toContain('\u202e');
      expect((JSON.parse(json.stdout) as { command: string }[])[0]!.command).toBe(hostile);
    } finally {
      cleanup();
    }
  });

  it('--json lists a file whose header timestamp no date can hold, with start null', async () => {
    const { dir, cleanup } = tempDir();
    try {
      fs.writeFileSync(path.join(dir, 'far.cast'), cast({ timestamp: 1e300 }, [exit0]));
      fs.writeFileSync(path.join(dir, 'near.cast'), cast({ timestamp: 1 }, [exit0]));
      const r = await runCli(['ls', '--json', dir]);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject([
        { file: 'far.cast', start: null, timestamp: 1e300, status: 'ok' },
        { file: 'near.cast', start: '1970-01-01T00:00:01.000Z', timestamp: 1 },
      ]);
    } finally {
      cleanup();
    }
  });

  it('lists 10,000 recordings, all of them, newest first', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const n = 10_000;
      for (let i = 0; i < n; i++) {
        const events: Event[] = [
          { time: 1000, code: 'o', data: `output ${i}\r\n`.repeat(20) },
          { time: (i % 100) * 1_000_000 + 1, code: 'x', data: '0' },
        ];
        fs.writeFileSync(
          path.join(dir, `ssh-session-${String(i).padStart(5, '0')}.cast`),
          cast({ timestamp: 1_700_000_000 + i, localUser: 'u', command: `cmd ${i}` }, events),
        );
      }
      fs.writeFileSync(path.join(dir, 'ssh-session-broken.cast'), '{"version":2');
      const r = await runCli(['ls', dir]);
      expect(r.code).toBe(0);
      const lines = r.stdout.trimEnd().split('\n');
      expect(lines).toHaveLength(n + 2);
      // No timestamp: sorted by its modification time, the newest here.
      expect(lines[1]).toMatch(/^ssh-session-broken\.cast .* damaged: line 1: /);
      expect(lines[2]).toMatch(/^ssh-session-09999\.cast .* ok +cmd 9999$/);
      expect(lines[n + 1]).toMatch(/^ssh-session-00000\.cast .* ok +cmd 0$/);
    } finally {
      cleanup();
    }
  }, 60_000);

  it('refuses to list a directory it cannot read, with one line', async () => {
    const r = await runCli(['ls', path.join(goldenDir, 'full.cast')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`sshcast: ${path.join(goldenDir, 'full.cast')}: not a directory\n`);
  });
});
