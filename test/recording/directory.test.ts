import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RecordingDirectory, sessionFileName } from '../../src/recording/directory.js';
import { RecordingStartError } from '../../src/errors.js';

let base: string;
beforeEach(() => {
  base = fs.mkdtempSync(path.join(os.tmpdir(), 'sshcast-dir-'));
});
afterEach(() => fs.rmSync(base, { recursive: true, force: true }));

const mode = (p: string) => fs.lstatSync(p).mode & 0o777;

describe('RecordingDirectory', () => {
  it('creates the directory with parents at 0700 and files at 0600, whatever the umask', () => {
    const old = process.umask(0);
    try {
      const dir = path.join(base, 'a/b/sessions');
      const d = RecordingDirectory.open(dir);
      const f = d.create('one.cast');
      fs.closeSync(f.fd);
      d.close();
      expect(mode(dir)).toBe(0o700);
      expect(mode(path.join(base, 'a'))).toBe(0o700);
      expect(mode(f.path)).toBe(0o600);
      expect(f.path).toBe(path.join(dir, 'one.cast'));
    } finally {
      process.umask(old);
    }
  });

  it('refuses a directory that is a symlink', () => {
    const real = path.join(base, 'real');
    fs.mkdirSync(real, { mode: 0o700 });
    const link = path.join(base, 'link');
    fs.symlinkSync(real, link);
    expect(() => RecordingDirectory.open(link)).toThrow(RecordingStartError);
    expect(() => RecordingDirectory.open(link)).toThrow(/symlink/);
  });

  it('refuses a directory writable by group or others', () => {
    const dir = path.join(base, 'open');
    fs.mkdirSync(dir);
    fs.chmodSync(dir, 0o777);
    expect(() => RecordingDirectory.open(dir)).toThrow(/writable by group or others/);
    fs.chmodSync(dir, 0o720);
    expect(() => RecordingDirectory.open(dir)).toThrow(/writable by group or others/);
  });

  it('creates files exclusively and never follows a planted symlink', () => {
    const d = RecordingDirectory.open(path.join(base, 's'));
    const target = path.join(base, 'victim');
    fs.writeFileSync(target, 'precious');
    fs.symlinkSync(target, path.join(base, 's', 'planted.cast'));
    expect(() => d.create('planted.cast')).toThrow(RecordingStartError);
    fs.writeFileSync(path.join(base, 's', 'exists.cast'), 'x');
    expect(() => d.create('exists.cast')).toThrow(/EEXIST/);
    expect(fs.readFileSync(target, 'utf8')).toBe('precious');
    expect(() => d.create('../escape.cast')).toThrow(RecordingStartError);
    d.close();
  });

  it('keeps creating files in the checked directory after it is swapped for a symlink', () => {
    const dir = path.join(base, 'held');
    const d = RecordingDirectory.open(dir);
    const elsewhere = path.join(base, 'elsewhere');
    fs.mkdirSync(elsewhere);
    fs.renameSync(dir, path.join(base, 'moved'));
    fs.symlinkSync(elsewhere, dir);
    const f = d.create('after-swap.cast');
    fs.closeSync(f.fd);
    d.close();
    expect(fs.readdirSync(elsewhere)).toEqual([]);
    expect(fs.readdirSync(path.join(base, 'moved'))).toEqual(['after-swap.cast']);
  });

  it("reports its file system's size and free space", () => {
    const d = RecordingDirectory.open(path.join(base, 'free'));
    const { size, free } = d.space();
    expect(free).toBeGreaterThan(0);
    expect(size).toBeGreaterThan(free);
    d.close();
  });
});

describe('sessionFileName', () => {
  it('is ssh-session-<unix nanoseconds>-<random>.cast and unique', () => {
    const ms = 1_700_000_000_123;
    const a = sessionFileName(ms);
    const m = /^ssh-session-(\d+)-([0-9a-f]{12})\.cast$/.exec(a);
    expect(m).not.toBeNull();
    expect(BigInt(m![1]!) / 1_000_000n).toBe(BigInt(ms));
    const names = new Set(Array.from({ length: 1000 }, () => sessionFileName(ms)));
    expect(names.size).toBe(1000);
  });
});
