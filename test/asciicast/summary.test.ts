import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  SUMMARY_MAX_LINE_BYTES,
  summarizeCast,
  summarizeCastSync,
  withWriterState,
} from '../../src/asciicast/summary.js';

let dir: string;
const header =
  '{"version":2,"width":80,"height":24,"timestamp":1700000000,"command":"ls","localUser":"alice"}\n';
const put = (name: string, text: string | Buffer): string => {
  const p = path.join(dir, name);
  fs.writeFileSync(p, text);
  return p;
};

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sshcast-summary-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('summarizeCast', () => {
  it('reads header fields, duration from the last event and the exit status', async () => {
    const p = put('ok.cast', header + '[0.5,"o","hi\\r\\n"]\n[2.25,"x","3"]\n');
    const s = await summarizeCast(p);
    expect(s).toMatchObject({
      file: 'ok.cast',
      start: 1700000000,
      duration: 2.25,
      localUser: 'alice',
      command: 'ls',
      exit: '3',
      hasEvents: true,
      status: 'ok',
    });
    expect(s.size).toBe(fs.statSync(p).size);
  });

  it('a cut last line is partial, with the duration of the last complete event', async () => {
    const s = await summarizeCast(put('cut.cast', header + '[1.5,"o","a"]\n[2.0,"o","unfin'));
    expect(s).toMatchObject({ status: 'partial', duration: 1.5, hasEvents: true });
  });

  it('a complete file without an exit event is ok, not partial: asciinema 2 and Tailscale write none', async () => {
    const others = path.join(import.meta.dirname, '..', 'fixtures', 'others');
    for (const [name, duration] of [
      ['asciinema2.cast', 2.5],
      ['tailscale.cast', 3.25],
    ] as const) {
      const s = await summarizeCast(path.join(others, name));
      expect(s, name).toMatchObject({ status: 'ok', duration, hasEvents: true });
      expect(s.exit, name).toBeUndefined();
      expect(s.problem, name).toBeUndefined();
    }
  });

  it('a file some process still writes is live, whatever its last line; damage stays damage', async () => {
    const cut = await summarizeCast(put('writing.cast', header + '[1.5,"o","a"]\n[2.0,"o","hal'));
    expect(cut).toMatchObject({ status: 'partial', problem: 'truncated final line' });
    const live = withWriterState(cut, true);
    expect(live).toMatchObject({ status: 'live', duration: 1.5, hasEvents: true });
    expect(live.problem).toBeUndefined();
    expect(withWriterState(cut, false)).toBe(cut);
    const complete = await summarizeCast(put('writing2.cast', header + '[1.5,"o","a"]\n'));
    expect(withWriterState(complete, true).status).toBe('live');
    const damaged = await summarizeCast(put('writing3.cast', 'not json\n'));
    expect(withWriterState(damaged, true)).toMatchObject({ status: 'damaged' });
  });

  it('a header alone has no events; a cut header is partial', async () => {
    const alone = await summarizeCast(put('h.cast', header));
    expect(alone).toMatchObject({ status: 'ok', hasEvents: false, duration: 0 });
    expect(alone.problem).toBeUndefined();
    expect(await summarizeCast(put('h2.cast', header.slice(0, 20)))).toMatchObject({
      status: 'damaged',
    });
    expect(await summarizeCast(put('h3.cast', header + '[0.1,"o"'))).toMatchObject({
      status: 'partial',
      hasEvents: false,
    });
  });

  it('damage in the header or the last line is reported, never thrown', async () => {
    expect(await summarizeCast(put('bad.cast', 'not json\n[1,"o","x"]\n'))).toMatchObject({
      status: 'damaged',
    });
    expect(await summarizeCast(put('bad2.cast', header + '{"oops":1}\n'))).toMatchObject({
      status: 'damaged',
      problem: 'last line: an event must be an array [time, code, data]',
    });
    expect(await summarizeCast(put('empty.cast', ''))).toMatchObject({
      status: 'damaged',
      problem: 'line 1: empty recording',
    });
    expect(await summarizeCast(path.join(dir, 'missing.cast'))).toMatchObject({
      status: 'damaged',
    });
  });

  it('does not follow a symlink', async () => {
    const target = put('target.cast', header + '[1,"o","x"]\n');
    fs.symlinkSync(target, path.join(dir, 'link.cast'));
    expect(await summarizeCast(path.join(dir, 'link.cast'))).toMatchObject({
      status: 'damaged',
      problem: 'the file is a symlink',
    });
  });

  it('finds a last line longer than the first tail window', async () => {
    const big = 'x'.repeat(200_000);
    const s = await summarizeCast(
      put('long.cast', header + `[1,"o","${big}"]\n[7.5,"o","${big}"]\n`),
    );
    expect(s).toMatchObject({ status: 'ok', duration: 7.5 });
    expect(s.exit).toBeUndefined();
  });

  it('sums v3 intervals', async () => {
    const v3 =
      '{"version":3,"term":{"cols":80,"rows":24},"timestamp":1}\n[0.5,"o","a"]\n# c\n[1.25,"o","b"]\n';
    const s = await summarizeCast(put('v3.cast', v3));
    expect(s).toMatchObject({ status: 'ok', duration: 1.75 });
    expect(s.exit).toBeUndefined();
  });

  it('widens the first 4 KiB read for a long header, and refuses one past the line bound', async () => {
    const long = JSON.stringify({ version: 2, width: 80, height: 24, title: 't'.repeat(100_000) });
    expect(await summarizeCast(put('long-header.cast', long + '\n[1,"x","0"]\n'))).toMatchObject({
      status: 'ok',
      title: 't'.repeat(100_000),
      duration: 1,
      exit: '0',
    });
    const endless = Buffer.alloc(SUMMARY_MAX_LINE_BYTES + 10, 0x20);
    endless.write('{"version":2,"width":80,"height":24,"title":"');
    expect(await summarizeCast(put('endless-header.cast', endless))).toMatchObject({
      status: 'damaged',
      problem: `line 1: header line longer than ${SUMMARY_MAX_LINE_BYTES} bytes`,
    });
  });

  it('refuses a last line past the line bound instead of reading back without end', async () => {
    const line = `[1,"o","${'z'.repeat(SUMMARY_MAX_LINE_BYTES)}"]\n`;
    expect(await summarizeCast(put('endless-event.cast', header + line))).toMatchObject({
      status: 'damaged',
      problem: `last line longer than ${SUMMARY_MAX_LINE_BYTES} bytes`,
    });
  });

  it('v3: damage anywhere is found, and a cut final line is partial', async () => {
    const head = '{"version":3,"term":{"cols":80,"rows":24}}\n';
    expect(
      await summarizeCast(put('v3-bad.cast', head + '[0.5,"o","a"]\n{bad\n[1.25,"x","0"]\n')),
    ).toMatchObject({ status: 'damaged', problem: 'line 3: not valid JSON' });
    expect(
      await summarizeCast(put('v3-cut.cast', head + '[0.5,"o","a"]\n[1.25,"x","0"]\n[1,"o')),
    ).toMatchObject({
      status: 'partial',
      problem: 'truncated final line',
      duration: 1.75,
      exit: '0',
    });
  });

  it('a FIFO is reported, not read (the listing does not hang)', async () => {
    const { execFileSync } = await import('node:child_process');
    execFileSync('mkfifo', [path.join(dir, 'fifo.cast')]);
    expect(await summarizeCast(path.join(dir, 'fifo.cast'))).toMatchObject({
      status: 'damaged',
      problem: 'not a regular file',
    });
    expect(summarizeCastSync(path.join(dir, 'fifo.cast'))).toMatchObject({
      status: 'damaged',
      problem: 'not a regular file',
    });
  });

  it('sshcast ls (blocking reads) and sshcast web (async reads) summarise every file the same', async () => {
    const fixtures = ['broken', 'golden', 'others'].map((d) =>
      path.join(import.meta.dirname, '..', 'fixtures', d),
    );
    const files = [dir, ...fixtures].flatMap((d) =>
      fs.readdirSync(d).map((name) => path.join(d, name)),
    );
    expect(files.length).toBeGreaterThan(30);
    const statuses = new Set<string>();
    for (const file of files) {
      const web = await summarizeCast(file);
      statuses.add(web.status);
      expect(summarizeCastSync(file), file).toEqual(web);
    }
    expect([...statuses].sort()).toEqual(['damaged', 'ok', 'partial']);
  });
});
