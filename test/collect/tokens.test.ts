import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { bearer, loadTokens, parseTokens } from '../../src/collect/tokens.js';

const T1 = 'a'.repeat(32);
const T2 = 'b'.repeat(32);

describe('tokens file', () => {
  it('maps each token to its device, and the @metrics token to metrics only', () => {
    const t = parseTokens(`# devices\nweb-1 ${T1}\n\n@metrics ${T2}\n`);
    expect(t.device(T1)).toBe('web-1');
    expect(t.device(T2)).toBeUndefined();
    expect(t.metrics(T2)).toBe(true);
    expect(t.metrics(T1)).toBe(false);
    expect(t.device('c'.repeat(32))).toBeUndefined();
    expect(t.devices).toEqual(['web-1']);
  });

  it.each([
    [`web-1`, /line 1: expected "DEVICE TOKEN"/],
    [`web-1 ${T1} extra`, /line 1: expected "DEVICE TOKEN"/],
    [`../x ${T1}`, /line 1: a device name is/],
    [`.hidden ${T1}`, /line 1: a device name is/],
    [`web-1 short`, /line 1: the token is shorter than 16/],
    [`web-1 ${T1}\nweb-1 ${T2}`, /line 2: web-1 is named twice/],
    [`web-1 ${T1}\nweb-2 ${T1}`, /line 2: the token is used twice/],
    [`@metrics ${T1}`, /no devices/],
  ])('refuses %j with one clear line', (text, message) => {
    expect(() => parseTokens(text, 'tokens file F')).toThrow(message);
  });

  it('refuses a file group or others can read, and a symlink', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sshcast-tokens-'));
    const file = path.join(dir, 'tokens');
    fs.writeFileSync(file, `web-1 ${T1}\n`, { mode: 0o640 });
    expect(() => loadTokens(file)).toThrow(
      `tokens file ${file} is open to group or others (mode 0640): chmod 600 ${file}`,
    );
    fs.chmodSync(file, 0o600);
    expect(loadTokens(file).device(T1)).toBe('web-1');
    fs.symlinkSync(file, path.join(dir, 'link'));
    expect(() => loadTokens(path.join(dir, 'link'))).toThrow(/is a symlink/);
    expect(() => loadTokens(path.join(dir, 'none'))).toThrow(/no such file/);
  });

  it('reads Bearer tokens only', () => {
    expect(bearer(`Bearer ${T1}`)).toBe(T1);
    expect(bearer(`bearer ${T1} `)).toBe(T1);
    expect(bearer(`Basic ${T1}`)).toBeUndefined();
    expect(bearer(undefined)).toBeUndefined();
  });
});
