import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  filesBeingWritten,
  filesBeingWrittenAsync,
  isBeingWritten,
} from '../../src/recording/live.js';
import { Recorder } from '../../src/recording/recorder.js';

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sshcast-live-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function file(name: string): string {
  const p = path.join(dir, name);
  fs.writeFileSync(p, '{"version":2,"width":80,"height":24}\n');
  return p;
}

describe('filesBeingWritten', () => {
  it('finds a file this process holds open for writing, and not one open only for reading', () => {
    const written = file('w.cast');
    const read = file('r.cast');
    const idle = file('idle.cast');
    const wfd = fs.openSync(written, 'a');
    const rfd = fs.openSync(read, 'r');
    try {
      expect(filesBeingWritten([written, read, idle])).toEqual(new Set([written]));
      expect(isBeingWritten(written)).toBe(true);
      expect(isBeingWritten(read)).toBe(false);
    } finally {
      fs.closeSync(wfd);
      fs.closeSync(rfd);
    }
    expect(isBeingWritten(written)).toBe(false);
  });

  it('finds a file another process writes, until that process is gone (killed, it wrote no x)', async () => {
    const p = file('child.cast');
    const child = spawn('sh', ['-c', 'exec 3>>"$0"; echo ready; exec sleep 60', p], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    try {
      await once(child.stdout, 'data');
      expect(filesBeingWritten([p])).toEqual(new Set([p]));
      expect(await filesBeingWrittenAsync([p])).toEqual(new Set([p]));
    } finally {
      child.kill('SIGKILL');
      await once(child, 'exit');
    }
    expect(filesBeingWritten([p]).size).toBe(0);
  });

  it('answers for the names given, through a symlinked directory or a relative path', () => {
    const p = file('via-link.cast');
    const link = path.join(os.tmpdir(), `sshcast-live-link-${process.pid}`);
    fs.symlinkSync(dir, link);
    const fd = fs.openSync(p, 'r+');
    try {
      const viaLink = path.join(link, 'via-link.cast');
      const relative = path.relative(process.cwd(), p);
      expect(filesBeingWritten([viaLink, relative])).toEqual(new Set([viaLink, relative]));
    } finally {
      fs.closeSync(fd);
      fs.unlinkSync(link);
    }
  });

  it("a Recorder's file is being written from start to finish", async () => {
    const recorder = new Recorder({ enabled: true, dir: path.join(dir, 'rec'), log: () => {} });
    const rec = recorder.start({ cols: 80, rows: 24 });
    rec.output('hello\r\n');
    expect(isBeingWritten(rec.file!)).toBe(true);
    await rec.finish(0);
    expect(isBeingWritten(rec.file!)).toBe(false);
    await recorder.close();
  });
});
