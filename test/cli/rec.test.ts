import { describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseCast } from '../../src/asciicast/reader.js';
import { cliPath, isOneLineError, runCli, tempDir } from './helpers.js';
import { runInPty } from './pty.js';

function output(file: string): string {
  return parseCast(fs.readFileSync(file, 'utf8'))
    .events.filter((e) => e.code === 'o')
    .map((e) => e.data)
    .join('');
}

describe('sshcast rec', () => {
  it('records every byte of a command that exits at once (5 runs, byte-exact)', async () => {
    const { dir, cleanup } = tempDir();
    try {
      for (let run = 0; run < 5; run++) {
        const text =
          randomBytes(150_000 + run * 7919)
            .toString('base64')
            .replace(/(.{76})/g, '$1\n') + '\nEND\n';
        fs.writeFileSync(path.join(dir, 'in.txt'), text);
        const file = path.join(dir, `out${run}.cast`);
        const r = await runCli(['rec', '-c', 'cat in.txt', file], { cwd: dir });
        expect(r.code).toBe(0);
        const expected = text.replace(/\n/g, '\r\n'); // the terminal's ONLCR
        expect(output(file)).toBe(expected);
        expect(r.stdout).toBe(expected);
        const cast = parseCast(fs.readFileSync(file, 'utf8'));
        expect(cast.truncated).toBeUndefined();
        expect(cast.events[cast.events.length - 1]).toMatchObject({ code: 'x', data: '0' });
      }
    } finally {
      cleanup();
    }
  }, 60_000);

  it('keeps recording to the end when the reader of its output goes away (| head)', () => {
    const { dir, cleanup } = tempDir();
    try {
      const file = path.join(dir, 'head.cast');
      const r = spawnSync(
        'bash',
        [
          '-c',
          `"$0" "$1" rec -c 'seq 1 100000; echo END' "$2" | head -2; echo "status=\${PIPESTATUS[0]}" >&2`,
          process.execPath,
          cliPath,
          file,
        ],
        { encoding: 'utf8' },
      );
      expect(r.stdout).toBe('1\r\n2\r\n');
      expect(r.stderr).toBe('status=0\n');
      const out = output(file);
      expect(out.endsWith('99999\r\n100000\r\nEND\r\n')).toBe(true);
      const events = parseCast(fs.readFileSync(file, 'utf8')).events;
      expect(events[events.length - 1]).toMatchObject({ code: 'x', data: '0' });
    } finally {
      cleanup();
    }
  });

  it('writes the header: size, command, title, env, local user; the file validates', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const file = path.join(dir, 'h.cast');
      const r = await runCli([
        'rec',
        '--cols',
        '100',
        '--rows',
        '30',
        '--title',
        'demo',
        '-c',
        'stty size',
        file,
      ]);
      expect(r.code).toBe(0);
      const cast = parseCast(fs.readFileSync(file, 'utf8'));
      expect(cast.header).toMatchObject({
        version: 2,
        width: 100,
        height: 30,
        command: 'stty size',
        title: 'demo',
        localUser: os.userInfo().username,
        env: { TERM: process.env.TERM || 'xterm-256color', SHELL: process.env.SHELL || '/bin/sh' },
      });
      expect(typeof cast.header.timestamp).toBe('number');
      expect(output(file)).toBe('30 100\r\n');
      expect((await runCli(['validate', file])).code).toBe(0);
    } finally {
      cleanup();
    }
  });

  it('exits with the command’s status, and records it (128 + n for a signal)', async () => {
    const { dir, cleanup } = tempDir();
    try {
      for (const [cmd, status] of [
        ['exit 7', 7],
        ['kill -9 $$', 137],
        ['true', 0],
      ] as const) {
        const file = path.join(dir, `s${status}.cast`);
        const r = await runCli(['rec', '-c', cmd, file]);
        expect(r.code).toBe(status);
        const events = parseCast(fs.readFileSync(file, 'utf8')).events;
        expect(events[events.length - 1]).toMatchObject({ code: 'x', data: String(status) });
      }
    } finally {
      cleanup();
    }
  });

  it('creates the file 0600 whatever the umask', () => {
    const { dir, cleanup } = tempDir();
    try {
      const file = path.join(dir, 'm.cast');
      const r = spawnSync('/bin/sh', [
        '-c',
        `umask 000; exec "$0" "$1" rec -c true "$2"`,
        process.execPath,
        cliPath,
        file,
      ]);
      expect(r.status).toBe(0);
      expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    } finally {
      cleanup();
    }
  });

  it('refuses to overwrite a file unless asked, and never follows a symlink', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const file = path.join(dir, 'exists.cast');
      fs.writeFileSync(file, 'precious', { mode: 0o644 });
      const r = await runCli(['rec', '-c', 'echo new', file]);
      expect(r.code).toBe(1);
      expect(isOneLineError(r.stderr)).toBe(true);
      expect(r.stderr).toContain('already exists (use --overwrite');
      expect(fs.readFileSync(file, 'utf8')).toBe('precious');
      for (const flag of ['--overwrite', '-f']) {
        const o = await runCli(['rec', flag, '-c', 'echo new', file]);
        expect(o.code).toBe(0);
        expect(output(file)).toBe('new\r\n');
        expect(fs.statSync(file).mode & 0o777).toBe(0o600);
      }
      const target = path.join(dir, 'target.txt');
      fs.writeFileSync(target, 'do not touch');
      const link = path.join(dir, 'link.cast');
      fs.symlinkSync(target, link);
      for (const args of [
        ['rec', '-c', 'true', link],
        ['rec', '--overwrite', '-c', 'true', link],
      ]) {
        const s = await runCli(args);
        expect(s.code).toBe(1);
        expect(isOneLineError(s.stderr)).toBe(true);
      }
      expect(fs.readFileSync(target, 'utf8')).toBe('do not touch');
    } finally {
      cleanup();
    }
  });

  it('the command gets no descriptor of sshcast’s (file, pty master or slave)', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const file = path.join(dir, 'fd.cast');
      await runCli(['rec', '-c', 'exec ls /proc/self/fd', file]);
      // What any child of this test inherits anyway (0-2, 3 for ls's own directory, and whatever
      // the test runner itself was started with): rec must add nothing to it (no recording file,
      // no pty master or slave).
      const baseline = execFileSync('ls', ['/proc/self/fd'], { encoding: 'utf8' })
        .trim()
        .split(/\s+/);
      const fds = output(file).trim().split(/\s+/);
      expect(fds).toEqual(expect.arrayContaining(['0', '1', '2']));
      expect(fds.filter((fd) => !baseline.includes(fd))).toEqual([]);
    } finally {
      cleanup();
    }
  });

  it('in a terminal: forwards keys, records resizes, records input only when asked, restores the terminal', async () => {
    const { dir, cleanup } = tempDir();
    try {
      for (const recordInput of [false, true]) {
        const file = path.join(dir, `tty-${recordInput}.cast`);
        // The command waits until it sees the new size, so the keys cannot overtake the resize.
        const cmd = `echo ready; while [ "$(stty size)" != "40 120" ]; do sleep 0.02; done; echo resized; read x; echo "got:$x"`;
        const flags = recordInput ? '--record-input' : '';
        const script = `stty -g > ${dir}/before; ${JSON.stringify(process.execPath)} ${JSON.stringify(cliPath)} rec ${flags} -c '${cmd}' ${file}; echo "status=$?"; stty -g > ${dir}/after; echo done`;
        const run = runInPty('/bin/sh', ['-c', script], { cols: 100, rows: 30 });
        await run.waitFor('ready');
        run.term.resize(120, 40);
        await run.waitFor('resized');
        run.term.write('abc\r');
        await run.waitFor('done');
        expect(run.output()).toContain('got:abc');
        expect(run.output()).toContain('status=0');
        expect(fs.readFileSync(`${dir}/after`, 'utf8')).toBe(
          fs.readFileSync(`${dir}/before`, 'utf8'),
        );
        const cast = parseCast(fs.readFileSync(file, 'utf8'));
        expect(cast.header).toMatchObject({ width: 100, height: 30 });
        expect(cast.events.filter((e) => e.code === 'r').map((e) => e.data)).toEqual(['120x40']);
        const input = cast.events
          .filter((e) => e.code === 'i')
          .map((e) => e.data)
          .join('');
        expect(input).toBe(recordInput ? 'abc\r' : '');
      }
    } finally {
      cleanup();
    }
  });

  it('records an interactive $SHELL when no command is given', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const file = path.join(dir, 'shell.cast');
      const run = runInPty('/bin/sh', [
        '-c',
        `SHELL=/bin/sh PS1='$ ' ${JSON.stringify(process.execPath)} ${JSON.stringify(cliPath)} rec ${file}; echo "status=$?"`,
      ]);
      await run.waitFor('$ ');
      run.term.write('echo hi-$((40+2)); exit 3\r');
      await run.waitFor('status=');
      expect(run.output()).toContain('status=3');
      const cast = parseCast(fs.readFileSync(file, 'utf8'));
      expect(cast.header.command).toBeUndefined();
      expect(cast.header.env).toMatchObject({ SHELL: '/bin/sh' });
      expect(output(file)).toContain('hi-42');
    } finally {
      cleanup();
    }
  });

  it('its recordings are accepted by Debian’s asciinema', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const which = spawnSync('sh', ['-c', 'command -v asciinema']);
      if (which.status !== 0)
        throw new Error('asciinema is not installed (apt-get install asciinema)');
      const file = path.join(dir, 'a.cast');
      const r = await runCli([
        'rec',
        '--cols',
        '90',
        '--rows',
        '20',
        '-c',
        'printf "hello \\033[1masciinema\\033[0m\\n"; exit 2',
        file,
      ]);
      expect(r.code).toBe(2);
      // asciinema 2.2 needs a terminal for `cat`: give it one with script(1).
      const out = execFileSync('script', ['-qec', `asciinema cat ${file}`, '/dev/null'], {
        encoding: 'utf8',
        timeout: 20_000,
      });
      expect(out).toContain('hello \u001b[1masciinema\u001b[0m');
    } finally {
      cleanup();
    }
  });
});
