import { describe, expect, it } from 'vitest';
import { parseBool, parseSize, recordingEnabledFromEnv } from '../../src/recording/policy.js';
import { ConfigError } from '../../src/errors.js';

describe('TS_DEBUG_LOG_SSH', () => {
  it("parses like Go's strconv.ParseBool", () => {
    for (const v of ['1', 't', 'T', 'TRUE', 'true', 'True']) expect(parseBool(v)).toBe(true);
    for (const v of ['0', 'f', 'F', 'FALSE', 'false', 'False', undefined, ''])
      expect(parseBool(v)).toBe(false);
  });

  it('rejects anything else with a message naming the variable', () => {
    for (const v of ['yes', 'on', 'tRUE', ' 1', '2']) {
      expect(() => recordingEnabledFromEnv({ TS_DEBUG_LOG_SSH: v })).toThrow(ConfigError);
      expect(() => recordingEnabledFromEnv({ TS_DEBUG_LOG_SSH: v })).toThrow(/TS_DEBUG_LOG_SSH/);
    }
  });
});

describe('parseSize', () => {
  it('takes bytes with an optional K, M or G', () => {
    expect(parseSize('100')).toBe(100);
    expect(parseSize('100K')).toBe(102400);
    expect(parseSize('2m')).toBe(2 * 1024 * 1024);
    expect(parseSize('1G')).toBe(1024 ** 3);
  });
  it('rejects garbage', () => {
    for (const s of ['', 'K', '-1', '1.5M', '10T', '0'])
      expect(() => parseSize(s, '--max-recording-size')).toThrow(ConfigError);
  });
});
