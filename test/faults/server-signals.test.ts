/**
 * The built example server under real OpenSSH clients, killed: SIGKILL mid-session leaves every
 * recording parseable up to its last complete line (validate accepts it; ls lists it with no exit
 * status, and not as live) and no session process behind; SIGINT finishes every open recording
 * with its x event first.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCast } from '../../src/asciicast/reader.js';
import {
  recordings,
  requireTool,
  ssh,
  tempDir,
  until,
  authorizedKey,
  startRecordingServer,
} from '../helpers/e2e.js';
import { runCli } from '../cli/helpers.js';
import { processesWith } from './proc.js';

let work: string;
let key: { file: string; pub: string };
let authorizedKeys: string;

beforeAll(async () => {
  for (const tool of ['ssh', 'ssh-keygen']) requireTool(tool);
  work = tempDir('faults-');
  ({ authorizedKeys, ...key } = await authorizedKey(work));
});
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

async function server(dir: string) {
  return startRecordingServer({ dir, hostKey: path.join(work, 'host_key'), authorizedKeys });
}

function size(file: string): number {
  try {
    return fs.statSync(file).size;
  } catch {
    return 0;
  }
}

describe('SIGKILL mid-session', () => {
  it('every recording parses up to its last complete line, is listed with no exit status, and no session process is left', async () => {
    const dir = path.join(work, 'kill');
    const s = await server(dir);
    // A number nobody else sleeps for marks this test's processes.
    const marker = `7${Math.floor(Math.random() * 1e6)}.5`;
    const busy = `i=0; while [ $i -lt 300000 ]; do echo "line $i ünï \\033[1mbold\\033[0m"; i=$((i+1)); done; sleep ${marker}`;
    const clients = [
      ssh(s.port, key.file, 'root', busy, { pre: ['-tt'], timeout: 60_000 }),
      ssh(s.port, key.file, 'root', busy, { pre: ['-tt'], timeout: 60_000 }),
      ssh(s.port, key.file, 'root', `sleep ${marker}`, { pre: ['-tt'], timeout: 60_000 }),
    ];
    const files = await until(
      () => (recordings(dir).length === 3 ? recordings(dir) : undefined),
      'three recordings',
      { watch: dir },
    );
    await until(
      () => (files.filter((f) => size(f) > 64 * 1024).length >= 2 ? true : undefined),
      'output in the busy recordings',
      { watch: dir },
    );
    await until(
      () => (processesWith(marker).length > 0 ? true : undefined),
      'the sleeping session',
    );
    s.child.kill('SIGKILL');
    await s.stop();
    // The fault: the server died by SIGKILL, with no chance to finish anything.
    expect(s.child.signalCode).toBe('SIGKILL');
    await Promise.all(clients);
    for (const file of files) {
      const text = fs.readFileSync(file, 'utf8');
      const complete = text.slice(0, text.lastIndexOf('\n') + 1);
      for (const line of complete.split('\n').slice(0, -1)) JSON.parse(line);
      const cast = parseCast(text);
      expect(cast.events.some((e) => e.code === 'x')).toBe(false);
    }
    // validate reads each file without a format error; ls lists each one as complete lines with
    // no exit status, and not live: nothing writes them any more (no session process inherited
    // the server's descriptor).
    const v = await runCli(['validate', ...files]);
    expect(v.stdout + v.stderr).not.toMatch(/not valid JSON|Error:|at .*\.js:/);
    const escaped = (f: string) => f.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    expect(v.stdout.trim().split('\n')).toEqual(
      files.map((f) =>
        expect.stringMatching(`^${escaped(f)}: ok \\(\\d+ events?, no exit event\\)$`),
      ),
    );
    const ls = await runCli(['ls', '--json', dir]);
    expect(ls.code).toBe(0);
    const items = JSON.parse(ls.stdout) as {
      file: string;
      status: string;
      exit: string | null;
      problem: string | null;
    }[];
    expect(items).toHaveLength(3);
    for (const item of items)
      expect(item).toMatchObject({ status: 'ok', exit: null, problem: null });
    // Every session lost its terminal (the pty master died with the server) and hung up.
    await until(() => (processesWith(marker).length === 0 ? true : undefined), 'sessions to end');
  });
});

describe('SIGINT with sessions open', () => {
  it('finishes every open recording with its x event and closes it before exiting 0', async () => {
    const dir = path.join(work, 'int');
    const s = await server(dir);
    const clients = Array.from({ length: 3 }, (_, i) =>
      ssh(s.port, key.file, 'root', `echo started ${i}; sleep 600`, { pre: ['-tt'] }),
    );
    const files = await until(
      () => (recordings(dir).length === 3 ? recordings(dir) : undefined),
      'three recordings',
      { watch: dir },
    );
    await until(
      () => (files.every((f) => fs.readFileSync(f, 'utf8').includes('started')) ? true : undefined),
      'every session to start',
      { watch: dir },
    );
    expect(await s.stop('SIGINT')).toBe(0);
    expect(s.output()).toMatch(/SIGINT/);
    await Promise.all(clients);
    for (const file of files) {
      const cast = parseCast(fs.readFileSync(file, 'utf8'));
      expect(cast.truncated).toBeUndefined();
      expect(cast.events.at(-1)?.code).toBe('x');
    }
    const v = await runCli(['validate', ...files]);
    expect(v.code).toBe(0);
    const ls = await runCli(['ls', '--json', dir]);
    const items = JSON.parse(ls.stdout) as { status: string }[];
    expect(items.map((i) => i.status)).toEqual(['ok', 'ok', 'ok']);
  });
});
