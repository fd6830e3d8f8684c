/**
 * A FIFO (or a directory) named like a recording: every command that reads recordings refuses it
 * with one line, at once, through the one open helper (src/asciicast/open.ts). The attack first,
 * against the reader as it was: a plain createReadStream of a FIFO waits for a writer forever.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readCastFile, readCastStream } from '../../src/asciicast/reader.js';
import { encodeCast } from '../../src/asciicast/encoder.js';
import { isOneLineError, runCli, tempDir } from './helpers.js';

let dir: string;
let cleanup: () => void;
let fifo: string;
let folder: string;

beforeAll(() => {
  ({ dir, cleanup } = tempDir());
  fifo = path.join(dir, 'x.cast');
  execFileSync('mkfifo', ['-m', '600', fifo]);
  folder = path.join(dir, 'd.cast');
  fs.mkdirSync(folder);
});
afterAll(() => cleanup());

const outcome = (p: Promise<unknown>, ms: number) =>
  Promise.race([
    p.then(
      () => 'done',
      (err: Error) => `threw ${err.message}`,
    ),
    new Promise<string>((resolve) => setTimeout(() => resolve('still waiting'), ms)),
  ]);

describe('a FIFO named like a recording', () => {
  it('hangs a naive reader (createReadStream waits for a writer), not ours', async () => {
    const first = async (items: AsyncIterable<unknown>) => {
      for await (const item of items) return item;
    };
    const naive = first(readCastStream(fs.createReadStream(fifo)));
    expect(await outcome(naive, 500)).toBe('still waiting');
    // Let the naive reader go: a writer that writes one valid recording and closes.
    fs.writeFileSync(fifo, encodeCast({ version: 2, width: 80, height: 24 }, []));
    await naive;

    expect(await outcome(first(readCastFile(fifo)), 2000)).toBe(
      'threw not a regular file (a FIFO)',
    );
  });

  for (const args of [['cat'], ['cat', '--text'], ['play'], ['validate']]) {
    it(`sshcast ${args.join(' ')} refuses it with one line, at once`, async () => {
      const r = await runCli([...args, fifo], { timeoutMs: 10_000 });
      expect(r.signal).toBeNull(); // not killed by the timeout: it did not hang
      expect(r.code).toBe(1);
      const line =
        args[0] === 'validate'
          ? `${fifo}: cannot read: not a regular file (a FIFO)\n`
          : `sshcast: ${fifo}: not a regular file (a FIFO)\n`;
      expect(args[0] === 'validate' ? r.stdout : r.stderr).toBe(line);
      if (args[0] !== 'validate') expect(isOneLineError(r.stderr)).toBe(true);
    });
  }

  it('sshcast ls lists it as damaged, never opened', async () => {
    const r = await runCli(['ls', '--json', dir], { timeoutMs: 10_000 });
    expect(r.code).toBe(0);
    const rows = JSON.parse(r.stdout) as { file: string; status: string; problem: string }[];
    expect(rows.find((row) => row.file === 'x.cast')).toMatchObject({ status: 'damaged' });
  });

  it('a directory named like a recording gets the same one line from cat and validate', async () => {
    const cat = await runCli(['cat', folder]);
    expect([cat.code, cat.stderr]).toEqual([
      1,
      `sshcast: ${folder}: not a regular file (a directory)\n`,
    ]);
    const validate = await runCli(['validate', folder]);
    expect([validate.code, validate.stdout]).toEqual([
      1,
      `${folder}: cannot read: not a regular file (a directory)\n`,
    ]);
  });
});
