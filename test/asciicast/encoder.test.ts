import { readFileSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { encodeCast, encodeEvent, encodeHeader, jsonString } from '../../src/asciicast/encoder.js';
import { parseCast } from '../../src/asciicast/reader.js';
import { formatTime } from '../../src/asciicast/time.js';

const golden = new URL('../fixtures/golden/', import.meta.url);

describe('encodeHeader', () => {
  it('writes the keys in the order of the format', () => {
    const line = encodeHeader({
      version: 2,
      localUser: 'alice',
      env: { SHELL: '/bin/bash', TERM: 'xterm' },
      command: 'id',
      timestamp: 1700000000.9,
      height: 40,
      width: 120,
    });
    expect(line).toBe(
      '{"version":2,"width":120,"height":40,"timestamp":1700000000,"command":"id","env":{"TERM":"xterm","SHELL":"/bin/bash"},"localUser":"alice"}\n',
    );
  });

  it('replaces a missing or 0x0 size with 80x24', () => {
    expect(encodeHeader({ version: 2, width: 0, height: 0 })).toBe(
      '{"version":2,"width":80,"height":24}\n',
    );
    expect(encodeHeader({ version: 2, width: 0, height: 50 })).toBe(
      '{"version":2,"width":80,"height":24}\n',
    );
    expect(encodeHeader({ version: 2, width: NaN, height: 3.5 })).toBe(
      '{"version":2,"width":80,"height":24}\n',
    );
  });

  it('keeps hostile header values on one valid JSON line', () => {
    const command = 'echo "a"\nb\r\u0000\u001b]52;c;ZXZpbA==\u0007 \ud800';
    const line = encodeHeader({
      version: 2,
      width: 80,
      height: 24,
      command,
      env: { TERM: 'x"\n' },
    });
    expect(line.indexOf('\n')).toBe(line.length - 1);
    const parsed = JSON.parse(line);
    expect(parsed.command).toBe(command.replace('\ud800', '\ufffd'));
    expect(parsed.env.TERM).toBe('x"\n');
  });
});

describe('encodeEvent', () => {
  it('writes [time, code, data] with microseconds, trailing zeros trimmed, LF', () => {
    expect(encodeEvent({ time: 1_500_000, code: 'o', data: 'hi' })).toBe('[1.5,"o","hi"]\n');
    expect(encodeEvent({ time: 1, code: 'o', data: '' })).toBe('[0.000001,"o",""]\n');
    expect(encodeEvent({ time: 2_000_000, code: 'x', data: '0' })).toBe('[2.0,"x","0"]\n');
    expect(encodeEvent({ time: 123_456_789, code: 'r', data: '80x24' })).toBe(
      '[123.456789,"r","80x24"]\n',
    );
  });

  it('never writes a lone surrogate', () => {
    const line = encodeEvent({ time: 0, code: 'o', data: 'a\udc00b\ud83d' });
    expect(line).toBe('[0.0,"o","a\ufffdb\ufffd"]\n');
    expect(line.isWellFormed()).toBe(true);
    expect(line).not.toMatch(/\\ud[89ab]/i);
  });

  it('escapes control characters and line breaks inside data', () => {
    const line = encodeEvent({ time: 0, code: 'o', data: '\r\n\u2028\u0000' });
    expect(line.split('\n')).toHaveLength(2);
    expect(JSON.parse(line)[2]).toBe('\r\n\u2028\u0000');
  });
});

describe('formatTime', () => {
  it('formats integer microseconds exactly', () => {
    expect(formatTime(0)).toBe('0.0');
    expect(formatTime(10)).toBe('0.00001');
    expect(formatTime(999_999)).toBe('0.999999');
    expect(formatTime(86_400_000_001)).toBe('86400.000001');
    expect(formatTime(-5)).toBe('0.0');
  });
});

describe('golden files', () => {
  const files = readdirSync(golden).filter((f) => f.endsWith('.cast'));

  it('has the four golden fixtures', () => {
    expect(files.sort()).toEqual([
      'full.cast',
      'minimal.cast',
      'multibyte.cast',
      'resize-marker-exit.cast',
    ]);
  });

  for (const file of files) {
    it(`parses and re-encodes ${file} byte for byte`, () => {
      const text = readFileSync(new URL(file, golden), 'utf8');
      const cast = parseCast(text);
      expect(cast.truncated).toBeUndefined();
      expect(encodeCast(cast.header, cast.events)).toBe(text);
    });
  }

  it('reads the full fixture into the model', () => {
    const cast = parseCast(readFileSync(new URL('full.cast', golden), 'utf8'));
    expect(cast.header).toEqual({
      version: 2,
      width: 120,
      height: 40,
      timestamp: 1700000000,
      command: 'ls -la "/tmp"',
      env: { TERM: 'xterm-256color', SHELL: '/bin/bash' },
      localUser: 'alice',
    });
    expect(cast.events.map((e) => [e.time, e.code])).toEqual([
      [1, 'o'],
      [250_000, 'i'],
      [1_000_000, 'o'],
      [1_500_000, 'x'],
    ]);
  });
});

describe('jsonString', () => {
  it('matches JSON.stringify for well-formed text', () => {
    for (const s of ['', 'plain', 'é😀', '"\\', '\u001b[0m'])
      expect(jsonString(s)).toBe(JSON.stringify(s));
  });
});
