import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  byLocation,
  localWriter,
  recentGrowth,
  type LiveCandidate,
  type LivenessRule,
} from '../../src/live/liveness.js';

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sshcast-liveness-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function candidate(name: string): LiveCandidate {
  const p = path.join(dir, name.replace('/', '-'));
  if (!fs.existsSync(p)) fs.writeFileSync(p, '{"version":2,"width":80,"height":24}\n');
  const st = fs.statSync(p);
  return { name, path: p, size: st.size, mtimeMs: st.mtimeMs };
}

/** A child process holding `file` open for appending until killed. */
async function writer(file: string) {
  const child = spawn('sh', ['-c', 'exec 3>>"$0"; echo ready; exec sleep 60', file], {
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  await once(child.stdout, 'data');
  return {
    kill: async () => {
      child.kill('SIGKILL');
      await once(child, 'exit');
    },
  };
}

describe('localWriter', () => {
  it('a file another process writes is live until that process is killed', async () => {
    const rule = localWriter();
    const c = candidate('held.cast');
    const w = await writer(c.path);
    try {
      expect(await rule([c])).toEqual(new Set(['held.cast']));
      // Asked again: the same process and descriptor are checked, and still hold it.
      expect(await rule([c])).toEqual(new Set(['held.cast']));
    } finally {
      await w.kill();
    }
    expect(await rule([c])).toEqual(new Set());
  });

  it('remembers a file no one wrote while it does not change, and looks again once it does', async () => {
    const rule = localWriter();
    const c = candidate('idle.cast');
    expect(await rule([c])).toEqual(new Set());
    // A process that opens it now, without writing, is not looked for: recorders create their
    // files, and none reopens a finished one.
    const w = await writer(c.path);
    try {
      expect(await rule([c])).toEqual(new Set());
      fs.appendFileSync(c.path, '[0.1,"o","more"]\n');
      expect(await rule([candidate('idle.cast')])).toEqual(new Set(['idle.cast']));
    } finally {
      await w.kill();
    }
  });
});

describe('recentGrowth and byLocation', () => {
  it('a copy is live while it grew within the window', async () => {
    let now = 1_000_000;
    const rule = recentGrowth(60_000, () => now);
    const c: LiveCandidate = { name: 'dev/a.cast', path: '/nowhere', size: 1, mtimeMs: now };
    expect(await rule([c])).toEqual(new Set(['dev/a.cast']));
    now += 60_000;
    expect(await rule([c])).toEqual(new Set(['dev/a.cast']));
    now += 1;
    expect(await rule([c])).toEqual(new Set());
  });

  it('asks the device rule about files in the directory and the copies rule about DEVICE/ files', async () => {
    const asked: string[][] = [];
    const all =
      (tag: string): LivenessRule =>
      async (cs) => {
        asked.push([tag, ...cs.map((c) => c.name)]);
        return new Set(cs.map((c) => c.name));
      };
    const rule = byLocation(all('own'), all('copies'));
    const names = ['a.cast', 'laptop/b.cast', 'c.cast', 'phone/d.cast'];
    const live = await rule(names.map((name) => ({ name, path: '/x', size: 0, mtimeMs: 0 })));
    expect(live).toEqual(new Set(names));
    expect(asked).toEqual([
      ['own', 'a.cast', 'c.cast'],
      ['copies', 'laptop/b.cast', 'phone/d.cast'],
    ]);
  });
});
