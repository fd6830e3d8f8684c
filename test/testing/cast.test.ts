import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CastParseError, encodeCast, parseCast } from '../../src/index.js';
import { loadCast } from '../../src/testing/index.js';

const golden = (name: string) => path.join(import.meta.dirname, '../fixtures/golden', name);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sshcast-testing-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('loadCast', () => {
  it('loads a file by path and works out output, duration, exit code', () => {
    const cast = loadCast(golden('full.cast'));
    expect(cast.source).toBe(golden('full.cast'));
    expect(cast.header.localUser).toBe('alice');
    expect(cast.header.command).toBe('ls -la "/tmp"');
    expect(cast.output).toBe('\x1b[1;32mgreen\x1b[0m\r\ndone\r\n');
    expect(cast.input).toBe('q');
    expect(cast.duration).toBe(1.5);
    expect(cast.exitCode).toBe(0);
    expect(cast.truncated).toBeUndefined();
  });

  it('takes text (anything starting with {) and reports markers and resizes in seconds', () => {
    const text = fs.readFileSync(golden('resize-marker-exit.cast'), 'utf8');
    const cast = loadCast(text);
    expect(cast.source).toBe('text');
    expect(cast.markers).toEqual([{ time: 0.3, label: 'checkpoint' }]);
    expect(cast.resizes).toEqual([{ time: 0.2, cols: 100, rows: 30 }]);
    expect(cast.exitCode).toBe(130);
    expect(cast.duration).toBe(0.5);
  });

  it('takes bytes, a parsed Cast, and a loaded cast (returned as is)', () => {
    const text = fs.readFileSync(golden('multibyte.cast'), 'utf8');
    expect(loadCast(Buffer.from(text)).output).toBe('héllo wörld — 日本語 😀\r\n𝄞 clef\r\n');
    const parsed = parseCast(text);
    const loaded = loadCast(parsed);
    expect(loaded.output).toContain('𝄞');
    expect(loadCast(loaded)).toBe(loaded);
  });

  it('keeps the events before a truncated last line and says so', () => {
    const file = path.join(tmp, 'cut.cast');
    fs.writeFileSync(
      file,
      '{"version":2,"width":80,"height":24}\n[0.1,"o","one\\r\\n"]\n[0.2,"o","tw',
    );
    const cast = loadCast(file);
    expect(cast.output).toBe('one\r\n');
    expect(cast.truncated).toBeInstanceOf(CastParseError);
    expect(cast.truncated!.line).toBe(3);
    expect(cast.exitCode).toBeUndefined();
  });

  it('has no exit code when there is no x event', () => {
    const text = encodeCast({ version: 2, width: 80, height: 24 }, [
      { time: 5, code: 'o', data: 'x' },
    ]);
    expect(loadCast(text).exitCode).toBeUndefined();
  });

  it('throws a CastParseError naming the file and line for a damaged file', () => {
    const file = path.join(tmp, 'bad.cast');
    fs.writeFileSync(
      file,
      '{"version":2,"width":80,"height":24}\n[0.1,"o","x"]\nnot json\n[0.3,"o","y"]\n',
    );
    expect(() => loadCast(file)).toThrow(CastParseError);
    expect(() => loadCast(file)).toThrow(`${file}: line 3: not valid JSON`);
  });

  it('says which path it could not read', () => {
    const missing = path.join(tmp, 'nope.cast');
    expect(() => loadCast(missing)).toThrow(`cannot read recording ${missing}`);
  });
});
