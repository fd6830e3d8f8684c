/**
 * Hostile header values: commands, TERM and SHELL with quotes, newlines, control characters,
 * escape sequences, lone surrogates and bytes that are not UTF-8. The file stays valid JSON lines,
 * `sshcast validate` accepts it, and `sshcast ls` prints none of the control characters.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Recorder } from '../../src/recording/recorder.js';
import { parseCast } from '../../src/asciicast/reader.js';
import { runCli } from '../cli/helpers.js';
import { execFileP, recordings, requireTool, sshOptions, until } from '../helpers/e2e.js';
import { startServerEnv } from '../faults/server-env.js';

const NASTY = [
  `rm -rf "$HOME" 'single' \\"escaped\\" \\\\ end`,
  'line one\nline two\r\nline three',
  '\x00\x01\x07\x08\x1b\x7f controls',
  '\x1b]52;c;c2VjcmV0\x07 clipboard write',
  '\x1b]0;pwned title\x07\x1b[2J\x1b[H clear screen',
  '\x9b31m C1 CSI',
  '\ud800 lone high, \udc00 lone low, \ud83d\ude00 a real pair',
  'U+2028 \u2028 U+2029 \u2029',
  Buffer.from([0xff, 0xfe, 0xc3, 0x28, 0xed, 0xa0, 0x80]).toString('utf8'),
  Buffer.from([0xff, 0xfe, 0xc3, 0x28]).toString('latin1'),
  '}\n{"version":2,"width":1,"height":1}\n[0,"o","forged"]',
  '"},"localUser":"root","x":{"',
  'x'.repeat(100_000),
];

let dir: string;
const files: string[] = [];
beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sshcast-header-'));
  const recorder = new Recorder({ enabled: true, dir: path.join(dir, 'rec'), log: () => {} });
  for (const value of NASTY) {
    const rec = recorder.start({
      cols: 80,
      rows: 24,
      command: value,
      term: value,
      shell: value,
      localUser: value,
      title: value,
    });
    rec.output(Buffer.from('ok\r\n'));
    rec.marker(value);
    await rec.finish(0);
    files.push(rec.file!);
  }
  await recorder.close();
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('hostile header values', () => {
  it('every file is valid JSON lines: one header, the events, no raw control character inside a line', () => {
    expect(files).toHaveLength(NASTY.length);
    for (const [i, file] of files.entries()) {
      const bytes = fs.readFileSync(file);
      const text = bytes.toString('utf8');
      // Valid UTF-8 with no replacement needed, and nothing but LF below 0x20.
      expect(Buffer.from(text, 'utf8').equals(bytes)).toBe(true);
      expect(/[\x00-\x09\x0b-\x1f]/.test(text)).toBe(false);
      const lines = text.split('\n');
      expect(lines.pop()).toBe('');
      expect(lines).toHaveLength(4); // header, o, m, x
      for (const line of lines) JSON.parse(line);
      const cast = parseCast(text);
      expect(cast.truncated).toBeUndefined();
      const expected = NASTY[i]!.toWellFormed();
      expect(cast.header.command).toBe(expected);
      expect(cast.header.env).toEqual({ TERM: expected, SHELL: expected });
      expect(cast.header.localUser).toBe(expected);
      expect(cast.events.map((e) => e.code)).toEqual(['o', 'm', 'x']);
      expect(cast.events[1]!.data).toBe(expected);
    }
  });

  it('a lone surrogate never reaches the file (asciinema 3 rejects such files)', () => {
    const text = files.map((f) => fs.readFileSync(f, 'utf8')).join('');
    expect(text.isWellFormed()).toBe(true);
    expect(/\\ud[89ab][0-9a-f]{2}(?!\\ud[c-f])/i.test(text)).toBe(false);
  });

  it('sshcast validate accepts every file', async () => {
    const r = await runCli(['validate', ...files]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });

  it('sshcast ls prints none of the control characters or escape sequences', async () => {
    const r = await runCli(['ls', path.dirname(files[0]!)]);
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n').filter((l) => l.includes('.cast'))).toHaveLength(NASTY.length);
    expect(/[\x00-\x09\x0b-\x1f\x7f\x80-\x9f]/.test(r.stdout)).toBe(false);
    const json = await runCli(['ls', '--json', path.dirname(files[0]!)]);
    expect(json.code).toBe(0);
    expect(/[\x00-\x09\x0b-\x1f]/.test(json.stdout)).toBe(false);
  });

  it('over real OpenSSH: a command with raw invalid UTF-8, quotes, a newline and OSC 52, and a hostile TERM', async () => {
    requireTool('ssh');
    const env = await startServerEnv();
    try {
      const opts = sshOptions(env.server.port, env.keyFile)
        .map((o) => `'${o}'`)
        .join(' ');
      // bash's $'...' puts raw bytes (0xff 0xfe: not UTF-8) into the command ssh sends.
      const cmd = `TERM=$'xterm\\e]0;pwn\\a' ssh -tt ${opts} root@127.0.0.1 $'echo ok \\xff\\xfe "q" \\x1b]52;c;AA==\\a #\\n# second line'`;
      const r = await execFileP('bash', ['-c', cmd]);
      expect(r.stdout).toContain('ok');
      const [file] = recordings(env.dir);
      const text = await until(
        () => {
          const t = fs.readFileSync(file!, 'utf8');
          return /"x","-?\d+"\]\n$/.test(t) ? t : undefined;
        },
        'the recording to finish',
        { watch: file! },
      );
      for (const line of text.split('\n').slice(0, -1)) JSON.parse(line);
      expect(/[\x00-\x09\x0b-\x1f]/.test(text)).toBe(false);
      const cast = parseCast(text);
      expect(cast.header.command).toContain('echo ok \ufffd\ufffd "q" \x1b]52;c;AA==');
      expect(cast.header.command).toContain('\n# second line');
      expect(cast.header.env?.TERM).not.toContain('\x1b');
      const v = await runCli(['validate', file!]);
      expect(v.code).toBe(0);
      const ls = await runCli(['ls', env.dir]);
      expect(/[\x00-\x09\x0b-\x1f\x7f]/.test(ls.stdout)).toBe(false);
    } finally {
      await env.close();
    }
  });
});
