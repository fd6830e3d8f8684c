/**
 * A hostile file system around the recording directory: planted symlinks, permissive modes and
 * umask, and a directory removed, made immutable or swapped for a symlink while the server runs.
 * Each attack is first shown to work against a naive recorder (mkdir + open by path).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Recorder } from '../../src/recording/recorder.js';
import { RecordingDirectory } from '../../src/recording/directory.js';
import { parseCast } from '../../src/asciicast/reader.js';
import { RecordingStartError } from '../../src/errors.js';

let root: string;
let logs: string[];
beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'sshcast-hostile-'));
  logs = [];
});
afterEach(() => {
  try {
    execFileSync('chattr', ['-R', '-i', root], { stdio: 'ignore' });
  } catch {
    // chattr may be missing or not supported; nothing was made immutable then.
  }
  fs.rmSync(root, { recursive: true, force: true });
});

/** What a naive recorder does: make the directory, then open a file in it by path. */
function naiveRecord(dir: string, name: string, text: string): void {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  fs.writeFileSync(path.join(dir, name), text);
}

function recorder(dir: string): Recorder {
  return new Recorder({ enabled: true, dir, log: (m) => logs.push(m) });
}

function modeOf(p: string): number {
  return fs.statSync(p).mode & 0o777;
}

describe('planted symlinks', () => {
  it('a symlink where the recording directory would be is refused, and nothing lands in its target', () => {
    const attacker = path.join(root, 'attacker');
    fs.mkdirSync(attacker, { mode: 0o700 });
    const dir = path.join(root, 'sessions');
    fs.symlinkSync(attacker, dir);
    // The attack works on a naive recorder: the recording lands in the attacker's directory.
    naiveRecord(dir, 'naive.cast', 'secret');
    expect(fs.readdirSync(attacker)).toEqual(['naive.cast']);
    fs.rmSync(path.join(attacker, 'naive.cast'));
    const r = recorder(dir);
    const failures: RecordingStartError[] = [];
    r.on('start-failure', (e) => failures.push(e));
    expect(() => r.start({ cols: 80, rows: 24 })).toThrow(/symlink/);
    expect(failures).toHaveLength(1);
    expect(fs.readdirSync(attacker)).toEqual([]);
    expect(() => r.check()).toThrow(RecordingStartError);
  });

  it('a symlink where a recording file would be is never followed (O_EXCL|O_NOFOLLOW), its target untouched', () => {
    const dir = path.join(root, 'sessions');
    const victim = path.join(root, 'victim');
    fs.writeFileSync(victim, 'precious\n');
    fs.mkdirSync(dir, { mode: 0o700 });
    fs.symlinkSync(victim, path.join(dir, 'planted.cast'));
    // The attack works on a naive recorder: opening by path clobbers the symlink's target.
    naiveRecord(dir, 'planted.cast', 'clobbered\n');
    expect(fs.readFileSync(victim, 'utf8')).toBe('clobbered\n');
    fs.writeFileSync(victim, 'precious\n');
    const d = RecordingDirectory.open(dir);
    try {
      expect(() => d.create('planted.cast')).toThrow(/EEXIST/);
      // A dangling symlink too: O_CREAT would otherwise create its target.
      const dangling = path.join(root, 'would-be-created');
      fs.symlinkSync(dangling, path.join(dir, 'dangling.cast'));
      expect(() => d.create('dangling.cast')).toThrow(/EEXIST/);
      expect(fs.existsSync(dangling)).toBe(false);
    } finally {
      d.close();
    }
    expect(fs.readFileSync(victim, 'utf8')).toBe('precious\n');
  });
});

describe('permissions', () => {
  for (const mode of [0o770, 0o777, 0o707, 0o1777]) {
    it(`a directory with mode ${mode.toString(8)} is refused`, () => {
      const dir = path.join(root, `sessions-${mode.toString(8)}`);
      fs.mkdirSync(dir);
      fs.chmodSync(dir, mode);
      const r = recorder(dir);
      expect(() => r.start({ cols: 80, rows: 24 })).toThrow(/writable by group or others/);
      expect(fs.readdirSync(dir)).toEqual([]);
    });
  }

  it('a directory owned by another user is refused', () => {
    const dir = path.join(root, 'sessions');
    fs.mkdirSync(dir, { mode: 0o700 });
    fs.chownSync(dir, 65534, 65534);
    if (process.getuid?.() !== 0) {
      // Only root can give a directory away; a non-root server checks its own uid the same way.
      expect(fs.statSync(dir).uid).toBe(process.getuid?.());
      return;
    }
    expect(() => recorder(dir).start({ cols: 80, rows: 24 })).toThrow(/owned by uid 65534/);
  });

  it('umask 000: the directory (with parents) is 0700 and each recording 0600', async () => {
    const old = process.umask(0);
    try {
      // The attack works on a naive recorder: umask 000 makes its file world-readable.
      naiveRecord(path.join(root, 'naive'), 'n.cast', 'secret');
      expect(modeOf(path.join(root, 'naive', 'n.cast'))).toBe(0o666);
      const dir = path.join(root, 'a', 'b', 'sessions');
      const r = recorder(dir);
      const rec = r.start({ cols: 80, rows: 24 });
      rec.output(Buffer.from('secret\r\n'));
      await rec.finish(0);
      await r.close();
      expect(modeOf(dir)).toBe(0o700);
      expect(modeOf(rec.file!)).toBe(0o600);
    } finally {
      process.umask(old);
    }
  });
});

describe('the directory changes while the server runs', () => {
  it('swapped for a symlink: open and new recordings stay in the directory that was checked', async () => {
    const dir = path.join(root, 'sessions');
    const attacker = path.join(root, 'attacker');
    fs.mkdirSync(attacker, { mode: 0o700 });
    const r = recorder(dir);
    const open = r.start({ cols: 80, rows: 24 });
    // Swap: the checked directory is moved away and a symlink to the attacker's takes its name.
    const moved = path.join(root, 'moved');
    fs.renameSync(dir, moved);
    fs.symlinkSync(attacker, dir);
    expect(fs.lstatSync(dir).isSymbolicLink()).toBe(true);
    const later = r.start({ cols: 80, rows: 24 });
    later.output(Buffer.from('later\r\n'));
    open.output(Buffer.from('open\r\n'));
    await Promise.all([later.finish(0), open.finish(0)]);
    await r.close();
    expect(fs.readdirSync(attacker)).toEqual([]);
    const files = fs.readdirSync(moved).filter((f) => f.endsWith('.cast'));
    expect(files).toHaveLength(2);
    for (const f of files) parseCast(fs.readFileSync(path.join(moved, f), 'utf8'));
  });

  it('removed (rm -rf): the open recording finishes without error; the next one re-creates it, checked, 0700', async () => {
    const dir = path.join(root, 'sessions');
    const r = recorder(dir);
    const open = r.start({ cols: 80, rows: 24 });
    const failures: unknown[] = [];
    open.on('failure', (e) => failures.push(e));
    fs.rmSync(dir, { recursive: true });
    // The fault: the directory is gone.
    expect(fs.existsSync(dir)).toBe(false);
    open.output(Buffer.from('still going\r\n'));
    await open.finish(0);
    expect(failures).toEqual([]);
    const next = r.start({ cols: 80, rows: 24 });
    expect(next.active).toBe(true);
    next.output(Buffer.from('after\r\n'));
    await next.finish(0);
    expect(modeOf(dir)).toBe(0o700);
    expect(fs.readdirSync(dir)).toEqual([path.basename(next.file!)]);
    expect(parseCast(fs.readFileSync(next.file!, 'utf8')).events.map((e) => e.code)).toEqual([
      'o',
      'x',
    ]);
    expect(logs.join('\n')).toMatch(/was removed; creating it again/);
    // Removed and replaced by a symlink: the re-check refuses it rather than follow it.
    const attacker = path.join(root, 'attacker');
    fs.mkdirSync(attacker, { mode: 0o700 });
    fs.rmSync(dir, { recursive: true });
    fs.symlinkSync(attacker, dir);
    expect(() => r.start({ cols: 80, rows: 24 })).toThrow(/symlink/);
    expect(fs.readdirSync(attacker)).toEqual([]);
    await r.close();
  });

  it('made immutable (chattr +i, which binds root too): the open recording completes, new ones are refused until it is lifted', async () => {
    const dir = path.join(root, 'sessions');
    const r = recorder(dir);
    const open = r.start({ cols: 80, rows: 24 });
    execFileSync('chattr', ['+i', dir]);
    // The fault: even root cannot create a file in it now.
    expect(() => fs.writeFileSync(path.join(dir, 'probe'), '')).toThrow(/EPERM/);
    expect(() => r.start({ cols: 80, rows: 24 })).toThrow(/EPERM/);
    open.output(Buffer.from('kept\r\n'));
    await open.finish(0);
    const cast = parseCast(fs.readFileSync(open.file!, 'utf8'));
    expect(cast.events.map((e) => e.code)).toEqual(['o', 'x']);
    execFileSync('chattr', ['-i', dir]);
    const next = r.start({ cols: 80, rows: 24 });
    expect(next.active).toBe(true);
    await next.finish(0);
    await r.close();
  });
});
