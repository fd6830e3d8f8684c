/**
 * The example server recording onto a real 256 KiB tmpfs, with the real OpenSSH client: a full
 * disk refuses the session with `can't start new recording`; a disk that fills mid-session leaves
 * the session running, every byte delivered, the failure logged and the file valid.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCast } from '../../src/asciicast/reader.js';
import { START_FAILURE_MESSAGE } from '../../src/recording/policy.js';
import {
  recordings,
  requireTool,
  ssh,
  tempDir,
  type ExampleServer,
  authorizedKey,
  startRecordingServer,
} from '../helpers/e2e.js';
import { fill, freeBytes, mountProblem, mountTmpfs, type Tmpfs } from './tmpfs.js';
import { needs } from '../helpers/needs.js';

const problem = mountProblem();
let work: string;
let fsys: Tmpfs | undefined;
let server: ExampleServer | undefined;
let key: { file: string; pub: string };
let dir: string;

beforeAll(async () => {
  for (const tool of ['ssh', 'ssh-keygen']) requireTool(tool);
  if (problem) return; // each test then reports it: skipped here, failed under CI
  work = tempDir('fulldisk-');
  const authorized = await authorizedKey(work);
  key = authorized;
  fsys = mountTmpfs('256k');
  dir = path.join(fsys.dir, 'rec');
  server = await startRecordingServer({
    dir,
    hostKey: path.join(work, 'host_key'),
    authorizedKeys: authorized.authorizedKeys,
  });
}, 60_000);

afterAll(async () => {
  await server?.stop();
  fsys?.unmount();
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

describe('the example server on a full disk', () => {
  it("refuses a session when the disk is full: the client reads can't start new recording, exit 1", async (ctx) => {
    needs(ctx, problem);
    const filler = path.join(fsys!.dir, 'filler');
    fill(fsys!.dir);
    // The fault: nothing more fits.
    expect(() => fs.appendFileSync(filler, 'x'.repeat(8192))).toThrow(/ENOSPC/);
    const r = await ssh(server!.port, key.file, 'root', 'echo should-not-run');
    expect(r.stderr).toContain(START_FAILURE_MESSAGE);
    expect(r.code).toBe(1);
    expect(r.stdout.toString()).not.toContain('should-not-run');
    expect(recordings(dir)).toEqual([]);
    expect(server!.output()).toMatch(/ENOSPC.*session refused/);
    // Space again: sessions are recorded again, through the same server.
    fs.rmSync(filler);
    const ok = await ssh(server!.port, key.file, 'root', 'echo recorded');
    expect(ok.stdout.toString()).toBe('recorded\n');
    expect(recordings(dir)).toHaveLength(1);
    fs.rmSync(recordings(dir)[0]!);
  });

  it('keeps a session going when the disk fills mid-session: every byte delivered, the file valid', async (ctx) => {
    needs(ctx, problem);
    expect(freeBytes(fsys!.dir)).toBeGreaterThan(200 * 1024);
    // 1 MB of output into a 256 KiB file system.
    const r = await ssh(
      server!.port,
      key.file,
      'root',
      "yes 'mid-session output line' | head -c 1000000",
    );
    expect(r.code).toBe(0);
    expect(r.stdout.length).toBe(1_000_000);
    expect(server!.output()).toMatch(/ENOSPC.*session continues unrecorded/);
    const [file] = recordings(dir);
    const text = fs.readFileSync(file!, 'utf8');
    expect(text.endsWith('\n')).toBe(true);
    const cast = parseCast(text);
    expect(cast.truncated).toBeUndefined();
    expect(cast.events.length).toBeGreaterThan(0);
    expect(cast.events.some((e) => e.code === 'x')).toBe(false);
  });
});
