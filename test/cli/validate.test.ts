import { describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { encodeCast } from '../../src/asciicast/encoder.js';
import { validateFile } from '../../src/cli/validate.js';
import { brokenDir, goldenDir, runCli, tempDir } from './helpers.js';

// One file per kind of damage, with the line and the problem `validate` must report.
const corpus: Record<string, [number, string][]> = {
  'bad-header.cast': [[1, 'width and height must be positive integers']],
  'header-invalid-json.cast': [[1, 'not valid JSON']],
  'unsupported-version.cast': [[1, 'unsupported version 1']],
  'empty.cast': [[1, 'empty recording']],
  'invalid-json.cast': [[2, 'not valid JSON']],
  'unknown-code.cast': [[2, 'unknown event code "z"']],
  'unknown-shape.cast': [[2, 'an event must be an array [time, code, data]']],
  'bad-resize.cast': [[2, 'resize data must be COLSxROWS']],
  'negative-time.cast': [[2, 'event time must be a non-negative number']],
  'time-backwards.cast': [[3, 'time goes backwards']],
  'blank-line.cast': [[2, 'blank line']],
  'truncated.cast': [[3, 'truncated final line (the recording was cut short)']],
  'no-final-newline.cast': [[2, 'no newline at the end of the file']],
  'header-no-newline.cast': [[1, 'no newline at the end of the file']],
  'lone-surrogate.cast': [[2, 'lone surrogate in event data']],
  'invalid-utf8.cast': [[2, 'not valid UTF-8']],
};

describe('sshcast validate', () => {
  it('the corpus has exactly one file per listed kind of damage', () => {
    expect(fs.readdirSync(brokenDir).sort()).toEqual(Object.keys(corpus).sort());
  });

  for (const [name, expected] of Object.entries(corpus)) {
    it(`reports ${name} with its line number`, async () => {
      const file = path.join(brokenDir, name);
      const r = await runCli(['validate', file]);
      expect(r.code).toBe(1);
      expect(r.stdout).toBe(expected.map(([line, p]) => `${file}:${line}: ${p}\n`).join(''));
    });
  }

  it('accepts the golden files, exit 0', async () => {
    const files = fs.readdirSync(goldenDir).map((f) => path.join(goldenDir, f));
    const r = await runCli(['validate', ...files]);
    expect(r.code).toBe(0);
    expect(r.stdout.trim().split('\n')).toHaveLength(files.length);
    for (const f of files) expect(r.stdout).toContain(`${f}: ok (`);
  });

  it('accepts what asciinema 2 and Tailscale write (no exit event, asciinema 2 with spaces)', async () => {
    const others = path.join(goldenDir, '..', 'others');
    const files = fs.readdirSync(others).map((f) => path.join(others, f));
    const r = await runCli(['validate', ...files]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(
      files
        .map((f) => `${f}: ok (${f.includes('tailscale') ? 2 : 3} events, no exit event)\n`)
        .join(''),
    );
  });

  it('notes a valid recording without an exit event, and says when it is still being written', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const file = path.join(dir, 'killed.cast');
      fs.writeFileSync(file, '{"version":2,"width":80,"height":24}\n[1,"o","a"]\n');
      const r = await runCli(['validate', file]);
      expect(r.code).toBe(0);
      expect(r.stdout).toBe(`${file}: ok (1 event, no exit event)\n`);
      const fd = fs.openSync(file, 'a');
      try {
        const live = await runCli(['validate', file]);
        expect(live.stdout).toBe(`${file}: ok (1 event, still being written)\n`);
      } finally {
        fs.closeSync(fd);
      }
      fs.writeFileSync(file, '{"version":2,"width":80,"height":24}\n[1,"x","0"]\n[1,"o","a"]\n');
      expect((await runCli(['validate', file])).stdout).toBe(
        `${file}: ok (2 events, no exit event)\n`,
      );
    } finally {
      cleanup();
    }
  });

  it('exits 1 when any one of several files is bad, and reports each', async () => {
    const good = path.join(goldenDir, 'full.cast');
    const bad = path.join(brokenDir, 'blank-line.cast');
    const r = await runCli(['validate', good, bad, good]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe(`${good}: ok (4 events)\n${bad}:2: blank line\n${good}: ok (4 events)\n`);
  });

  it('reports every problem of a file, not only the first', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const file = path.join(dir, 'many.cast');
      fs.writeFileSync(
        file,
        '{"version":2,"width":80,"height":24}\n[1,"o","a"]\n\n[0.5,"o","b"]\n[0.6,"q","c"]\n',
      );
      const r = await runCli(['validate', file]);
      expect(r.stdout).toBe(
        `${file}:3: blank line\n${file}:4: time goes backwards\n${file}:5: unknown event code "q"\n`,
      );
    } finally {
      cleanup();
    }
  });

  it('streams a large file (50,000 events) and counts its events', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const file = path.join(dir, 'big.cast');
      const events = Array.from({ length: 50_000 }, (_, i) => ({
        time: i * 1000,
        code: 'o' as const,
        data: `line ${i}\r\n`,
      }));
      fs.writeFileSync(file, encodeCast({ version: 2, width: 80, height: 24 }, events));
      const result = await validateFile(file);
      expect(result).toEqual({ problems: [], count: 0, events: 50_000, exited: false });
    } finally {
      cleanup();
    }
  });

  it('caps the problems it lists and says how many more there were', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const file = path.join(dir, 'blank.cast');
      fs.writeFileSync(file, '{"version":2,"width":80,"height":24}\n' + '\n'.repeat(1500));
      const result = await validateFile(file, 1000);
      expect(result.problems).toHaveLength(1000);
      expect(result.count).toBe(1500);
      const r = await runCli(['validate', file]);
      expect(r.stdout.trim().split('\n')).toHaveLength(1001);
      expect(r.stdout).toContain(`${file}: … and 500 more problems\n`);
    } finally {
      cleanup();
    }
  });

  it('escapes control characters that a hostile file puts in a problem', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const file = path.join(dir, 'hostile.cast');
      fs.writeFileSync(
        file,
        '{"version":2,"width":80,"height":24}\n[1,"\\u001b]52;c;aGk=\\u0007","x"]\n',
      );
      const r = await runCli(['validate', file]);
      expect(r.code).toBe(1);
      expect(r.stdout).toContain(':2: unknown event code');
      expect(r.stdout).not.toMatch(/[\u0000-\u0009\u000b-\u001f]/);
    } finally {
      cleanup();
    }
  });
});
