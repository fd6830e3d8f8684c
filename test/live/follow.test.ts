import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { followCast, type FollowItem } from '../../src/live/follow.js';

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sshcast-follow-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const HEADER = '{"version":2,"width":80,"height":24}\n';
let n = 0;

/** A recording file, and a follower of it driven one item at a time. */
async function setup(
  text: string,
  options: { alive?: () => boolean; watch?: boolean; pollMs?: number } = {},
) {
  const file = path.join(dir, `f${n++}.cast`);
  fs.writeFileSync(file, text);
  const fh = await fs.promises.open(file, 'r');
  const abort = new AbortController();
  const gen = followCast(fh, {
    writerAlive: async () => options.alive?.() ?? true,
    watchPath: options.watch === false ? undefined : file,
    pollMs: options.pollMs ?? 5_000,
    signal: abort.signal,
  });
  // A next() that timed out is still the one to wait for.
  let pending: Promise<IteratorResult<FollowItem>> | undefined;
  /** The next item, within `ms`. */
  const next = async (ms = 3_000): Promise<FollowItem> => {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no item within ${ms} ms`)), ms);
    });
    pending ??= gen.next();
    try {
      const r = await Promise.race([pending, timeout]);
      pending = undefined;
      if (r.done) throw new Error('the follower returned');
      return r.value;
    } finally {
      clearTimeout(timer);
    }
  };
  const data = (item: FollowItem) =>
    item.kind === 'events' ? item.events.map((e) => [e.event.code, e.event.data]) : item.kind;
  return {
    file,
    next,
    data,
    append: (more: string) => fs.appendFileSync(file, more),
    close: async () => {
      abort.abort();
      await gen.return(undefined);
      await fh.close();
    },
  };
}

describe('followCast', () => {
  it('yields the header, what is there, caught-up, then each complete line as it is appended, until x', async () => {
    const f = await setup(HEADER + '[0.1,"o","one"]\n[0.2,"r","100x30"]\n');
    try {
      expect(await f.next()).toMatchObject({ kind: 'header', header: { width: 80 }, version: 2 });
      expect(f.data(await f.next())).toEqual([
        ['o', 'one'],
        ['r', '100x30'],
      ]);
      expect((await f.next()).kind).toBe('caught-up');
      f.append('[0.3,"o","two"]\n[0.4,"o","thr');
      const item = await f.next();
      expect(f.data(item)).toEqual([['o', 'two']]);
      // The exact bytes of each line, without its LF.
      expect(item.kind === 'events' && item.events[0]!.line.toString()).toBe('[0.3,"o","two"]');
      f.append('ee"]\n');
      expect(f.data(await f.next())).toEqual([['o', 'three']]);
      f.append('[0.5,"o","last"]\n[0.6,"x","0"]\n[0.7,"o","after the end"]\n');
      expect(f.data(await f.next())).toEqual([
        ['o', 'last'],
        ['x', '0'],
      ]);
      expect(await f.next()).toEqual({ kind: 'end', why: 'exit' });
    } finally {
      await f.close();
    }
  });

  it('without inotify, the poll finds what was appended', async () => {
    const f = await setup(HEADER, { watch: false, pollMs: 50 });
    try {
      expect((await f.next()).kind).toBe('header');
      expect((await f.next()).kind).toBe('caught-up');
      f.append('[0.1,"o","polled"]\n');
      expect(f.data(await f.next(1_000))).toEqual([['o', 'polled']]);
    } finally {
      await f.close();
    }
  });

  it('ends when the writer is gone, after reading what it wrote last', async () => {
    let alive = true;
    const f = await setup(HEADER + '[0.1,"o","one"]\n', { alive: () => alive, pollMs: 50 });
    try {
      expect((await f.next()).kind).toBe('header');
      expect((await f.next()).kind).toBe('events');
      expect((await f.next()).kind).toBe('caught-up');
      // Its last line lands just as it goes, and inotify's report of it is lost.
      alive = false;
      fs.appendFileSync(f.file, '[0.2,"o","last words"]\n');
      expect(f.data(await f.next())).toEqual([['o', 'last words']]);
      expect(await f.next()).toEqual({ kind: 'end', why: 'writer-gone' });
    } finally {
      await f.close();
    }
  });

  it('a writer that cuts back a line it failed to write is followed; a file that shrinks further is damaged', async () => {
    const f = await setup(HEADER + '[0.1,"o","one"]\n[0.2,"o","par', { pollMs: 50 });
    try {
      expect((await f.next()).kind).toBe('header');
      expect((await f.next()).kind).toBe('events');
      expect((await f.next()).kind).toBe('caught-up');
      const keep = Buffer.byteLength(HEADER + '[0.1,"o","one"]\n');
      fs.truncateSync(f.file, keep);
      await new Promise((r) => setTimeout(r, 200));
      f.append('[0.3,"o","again"]\n');
      expect(f.data(await f.next())).toEqual([['o', 'again']]);
      fs.truncateSync(f.file, 10);
      expect(await f.next()).toEqual({ kind: 'end', why: 'damaged', problem: 'the file shrank' });
    } finally {
      await f.close();
    }
  });

  it('a file that is not a recording ends at once as damaged; bad event lines are left out', async () => {
    const bad = await setup('not json\n');
    try {
      expect(await bad.next()).toMatchObject({ kind: 'end', why: 'damaged' });
    } finally {
      await bad.close();
    }
    const f = await setup(HEADER + '{oops\n[0.1,"?","x"]\n[0.2,"o","good"]\n');
    try {
      expect((await f.next()).kind).toBe('header');
      expect(f.data(await f.next())).toEqual([['o', 'good']]);
    } finally {
      await f.close();
    }
  });

  it('a header still being written is waited for; catch-up comes after it', async () => {
    const f = await setup('{"version":2,', { pollMs: 50 });
    try {
      const early = f.next(300).catch((err: Error) => err);
      expect(await early).toBeInstanceOf(Error);
      f.append('"width":80,"height":24}\n');
      expect((await f.next()).kind).toBe('header');
      expect((await f.next()).kind).toBe('caught-up');
    } finally {
      await f.close();
    }
  });

  it('stops when its signal is aborted', async () => {
    const file = path.join(dir, 'abort.cast');
    fs.writeFileSync(file, HEADER);
    const fh = await fs.promises.open(file, 'r');
    const abort = new AbortController();
    const items: string[] = [];
    const done = (async () => {
      for await (const item of followCast(fh, {
        writerAlive: async () => true,
        watchPath: file,
        pollMs: 60_000,
        signal: abort.signal,
      }))
        items.push(item.kind === 'end' ? `end ${item.why}` : item.kind);
    })();
    await new Promise((r) => setTimeout(r, 100));
    abort.abort();
    await done;
    await fh.close();
    expect(items).toEqual(['header', 'caught-up', 'end stopped']);
  });
});
