// Debian's asciinema (2.2.0) must accept every file our writer produces. It is installed by
// .ci/run; a missing asciinema fails this test rather than skipping it.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Recorder } from '../../src/recording/recorder.js';

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sshcast-asciinema-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function asciinemaCat(file: string): { status: number | null; out: string } {
  // asciinema 2.2 needs a tty on stdout: run it under script(1).
  const r = spawnSync('script', ['-qec', `asciinema cat ${file}`, '/dev/null'], {
    encoding: 'utf8',
    timeout: 20_000,
    env: { ...process.env, TERM: 'xterm' },
  });
  return { status: r.status, out: r.stdout };
}

describe('Debian asciinema accepts our recordings', () => {
  it('has asciinema installed', () => {
    const version = execFileSync('asciinema', ['--version'], { encoding: 'utf8' });
    expect(version).toMatch(/asciinema 2\./);
  });

  it('plays a recording with multi-byte text, resizes, markers, input and exit', async () => {
    const r = new Recorder({ enabled: true, dir, recordInput: true, log: () => {} });
    const rec = r.start({
      cols: 100,
      rows: 30,
      term: 'xterm-256color',
      shell: '/bin/bash',
      localUser: 'alice',
    });
    const text = 'héllo wörld — 日本語 😀 \u001b[1;31mred\u001b[0m\r\n';
    const bytes = Buffer.from(text);
    for (let i = 0; i < bytes.length; i += 3) rec.output(bytes.subarray(i, i + 3));
    rec.input('q');
    rec.resize(120, 40);
    rec.marker('chapter "one"');
    rec.output('second line\r\n');
    await rec.finish(130);
    await r.close();
    const { status, out } = asciinemaCat(rec.file!);
    expect(status).toBe(0);
    const norm = (s: string) => s.replace(/\r+\n/g, '\n');
    expect(norm(out)).toBe(norm(text + 'second line\r\n'));
  });

  it('plays a recording of an exec command with a hostile command string', async () => {
    const r = new Recorder({ enabled: true, dir, log: () => {} });
    const rec = r.start({ command: 'echo "a"\n\u001b]0;title\u0007 \ud800', localUser: 'bob' });
    rec.output('a\r\n');
    await rec.finish(0);
    await r.close();
    const { status, out } = asciinemaCat(rec.file!);
    expect(status).toBe(0);
    expect(out).toContain('a');
  });

  it('rejects a damaged file, so the check above has teeth', () => {
    const bad = path.join(dir, 'blank-line.cast');
    fs.writeFileSync(bad, '{"version":2,"width":80,"height":24}\n[0.1,"o","a"]\n\n[0.2,"o","b"]\n');
    expect(asciinemaCat(bad).status).not.toBe(0);
  });
});
