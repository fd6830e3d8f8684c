import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { text } from 'node:stream/consumers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileRefused, RecordingFiles, isRecordingName } from '../../src/web/files.js';

let tmp: string;
let dir: string;
let files: RecordingFiles;
const head = '{"version":2,"width":80,"height":24,"timestamp":1700000000}\n';

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sshcast-files-'));
  dir = path.join(tmp, 'rec');
  fs.mkdirSync(dir, { mode: 0o700 });
  fs.writeFileSync(path.join(dir, 'a.cast'), head + '[1,"o","x"]\n[2,"o","y');
  fs.writeFileSync(path.join(dir, 'b.cast'), 'no newline at all');
  fs.writeFileSync(path.join(tmp, 'outside.cast'), head + '[1,"o","secret"]\n');
  fs.symlinkSync(path.join(tmp, 'outside.cast'), path.join(dir, 'link.cast'));
  spawnSync('mkfifo', [path.join(dir, 'pipe.cast')]);
  files = RecordingFiles.open(dir);
});
afterAll(() => {
  files.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('RecordingFiles', () => {
  it('accepts only plain recording names', () => {
    for (const ok of ['a.cast', 'ssh-session-1-ab.cast', 'x_y.z.cast'])
      expect(isRecordingName(ok), ok).toBe(true);
    for (const bad of [
      '../a.cast',
      '..',
      '.cast',
      '.hidden.cast',
      'a/b.cast',
      '/etc/passwd',
      'a.txt',
      'a.cast\0',
      'a b.cast',
      '',
    ]) {
      expect(isRecordingName(bad), bad).toBe(false);
    }
  });

  it('serves only up to the last LF; nothing when there is none', async () => {
    const a = await files.openComplete('a.cast');
    expect(await text(a.stream)).toBe(head + '[1,"o","x"]\n');
    expect(a.length).toBe(Buffer.byteLength(head + '[1,"o","x"]\n'));
    const b = await files.openComplete('b.cast');
    expect(b.length).toBe(0);
    expect(await text(b.stream)).toBe('');
  });

  it('refuses symlinks, FIFOs (without blocking) and names outside the pattern', async () => {
    await expect(files.openComplete('link.cast')).rejects.toBeInstanceOf(FileRefused);
    await expect(files.openComplete('pipe.cast')).rejects.toMatchObject({ status: 404 });
    await expect(files.openComplete('../outside.cast')).rejects.toMatchObject({ status: 400 });
    await expect(files.openComplete('missing.cast')).rejects.toMatchObject({ status: 404 });
  });

  it('lists a recording some process still writes as live, and as partial once it is not', async () => {
    const fd = fs.openSync(path.join(dir, 'a.cast'), 'a');
    try {
      expect((await files.list()).find((s) => s.file === 'a.cast')).toMatchObject({
        status: 'live',
      });
      expect(await files.summary('a.cast')).toMatchObject({ status: 'live' });
    } finally {
      fs.closeSync(fd);
    }
    expect(await files.summary('a.cast')).toMatchObject({
      status: 'partial',
      problem: 'truncated final line',
    });
  });

  it('lists regular recordings only, and keeps serving the directory it opened after a swap', async () => {
    expect((await files.list()).map((s) => s.file).sort()).toEqual(['a.cast', 'b.cast']);
    fs.renameSync(dir, path.join(tmp, 'moved'));
    fs.symlinkSync(tmp, dir);
    expect((await files.list()).map((s) => s.file).sort()).toEqual(['a.cast', 'b.cast']);
    fs.rmSync(dir);
    fs.renameSync(path.join(tmp, 'moved'), dir);
  });
});
