/**
 * The line hasher: whichever thread hashes a batch (this one for a little output per turn, the
 * worker for a flood, or no worker at all), the chain is the one computed over the whole file, and
 * a seal never covers more than the file holds.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { lineBuffer } from '../../src/asciicast/encoder.js';
import { prng } from '../../bench/writer.bench.js';
import { chainOf } from '../../src/sealing/chain.js';
import { LineHasher } from '../../src/sealing/hasher.js';

const turn = () => new Promise((r) => setImmediate(r));

function line(i: number, size: number): Buffer {
  return Buffer.from(`[${i},"o",${JSON.stringify('x'.repeat(size))}]\n`);
}

describe('LineHasher', () => {
  for (const worker of [true, false]) {
    it(`gives the file's chain through floods and trickles (${worker ? 'with' : 'without'} a worker)`, async () => {
      const file = { bytesWritten: 0 };
      const h = new LineHasher(file, { worker });
      const all: Buffer[] = [];
      const write = (b: Buffer) => {
        all.push(b);
        h.onLine(b);
      };
      write(Buffer.from('{"version":2,"width":80,"height":24}\n'));
      file.bytesWritten = all[0]!.length;
      expect(h.header()).toEqual({
        lines: 1,
        bytes: all[0]!.length,
        chain: chainOf(all[0]!).chain,
      });
      let n = 0;
      for (let round = 0; round < 3; round++) {
        for (let i = 0; i < 20; i++) {
          write(line(n++, 40)); // a trickle: one turn each
          await turn();
        }
        for (let i = 0; i < 400; i++) write(line(n++, 2000)); // a flood in one turn: 800 KiB
        await turn();
      }
      await h.drained();
      const whole = Buffer.concat(all);
      // Nothing beyond what the file holds is sealed...
      expect(h.point()).toEqual({ lines: 1, bytes: all[0]!.length, chain: chainOf(all[0]!).chain });
      const half = Buffer.concat(all.slice(0, 700));
      file.bytesWritten = half.length;
      expect(h.point()).toEqual({ lines: 700, bytes: half.length, chain: chainOf(half).chain });
      // ...and once all is written, the seal is the whole file's chain.
      file.bytesWritten = whole.length;
      const c = chainOf(whole);
      expect(h.point()).toEqual({ lines: c.lines, bytes: c.bytes, chain: c.chain });
      h.dispose();
    });
  }

  it('gives the chain of lines of every size, from one byte to past a batch buffer', async () => {
    // The worker writes each digest over the 32 bytes before the line it hashes next: lines
    // shorter than that, and one larger than a batch buffer, must hash as the file's own.
    const file = { bytesWritten: 0 };
    const h = new LineHasher(file);
    const all: Buffer[] = [Buffer.from('{"version":2,"width":80,"height":24}\n')];
    h.onLine(all[0]!);
    const sizes = [1, 2, 31, 32, 33, 1, 70_000, 5, 2 * 1024 * 1024, 1, 3];
    for (let round = 0; round < 40; round++) {
      for (const size of sizes) {
        const l = Buffer.alloc(size, 0x61 + ((round + size) % 26));
        l[size - 1] = 0x0a;
        all.push(l);
        h.onLine(l);
      }
      if (round % 10 === 9) await turn();
    }
    await h.drained();
    expect(h.workerBytes).toBeGreaterThan(40 * 2 * 1024 * 1024);
    const whole = Buffer.concat(all);
    file.bytesWritten = whole.length;
    const c = chainOf(whole);
    expect(h.point()).toEqual({ lines: c.lines, bytes: c.bytes, chain: c.chain });
    h.dispose();
  });

  it('sends a flood that comes 4 KiB a turn, as from a pty, to the worker', async () => {
    const file = { bytesWritten: 0 };
    const h = new LineHasher(file, { batchMs: 50 });
    const all: Buffer[] = [Buffer.from('{"version":2,"width":80,"height":24}\n')];
    h.onLine(all[0]!);
    for (let i = 0; i < 400 && h.workerBytes === 0; i++) {
      const l = line(i, 4096);
      all.push(l);
      h.onLine(l);
      await turn();
    }
    // With a batch each turn (setImmediate), every 4 KiB was hashed on this thread.
    expect(h.workerBytes).toBeGreaterThan(64 * 1024);
    await h.drained();
    const whole = Buffer.concat(all);
    file.bytesWritten = whole.length;
    expect(h.point()?.chain).toBe(chainOf(whole).chain);
    h.dispose();
  });

  it('keeps two recordings apart while many batches of each are out at once', async () => {
    // 12 MB in one turn from each of two recordings: two dozen batches out at once, in reused
    // buffers and fresh ones; then again, once they are back. One recording's chain or answer
    // taken for the other's would break both chains.
    const files = [{ bytesWritten: 0 }, { bytesWritten: 0 }];
    const hashers = files.map((f) => new LineHasher(f));
    const all: Buffer[][] = [[], []];
    for (const [k, h] of hashers.entries()) {
      all[k]!.push(Buffer.from(`{"version":2,"width":80,"height":${24 + k}}\n`));
      h.onLine(all[k]![0]!);
    }
    let n = 0;
    for (let wave = 0; wave < 2; wave++) {
      for (let i = 0; i < 3 * 1024; i++) {
        for (const [k, h] of hashers.entries()) {
          const l = line(n++, 4000 + k);
          all[k]!.push(l);
          h.onLine(l);
        }
      }
      await Promise.all(hashers.map((h) => h.drained()));
    }
    for (const [k, h] of hashers.entries()) {
      expect(h.workerBytes).toBeGreaterThan(2 * 3 * 1024 * 4000);
      const whole = Buffer.concat(all[k]!);
      files[k]!.bytesWritten = whole.length;
      expect(h.point()?.chain).toBe(chainOf(whole).chain);
      h.dispose();
    }
  });
});

/**
 * A sink as a FileSink is to the hasher's slabs: it holds the lines it was given until it writes
 * them, then keeps none. It checks each line, as it writes it, against a copy taken when the line
 * was made: a slab handed to the worker while the sink still held a line of it would be found
 * here (the line's view is empty once its buffer has gone to the other thread).
 */
class HoldingSink {
  bytesWritten = 0;
  readonly file: Buffer[] = [];
  readonly #held: [Buffer, Buffer][] = [];

  give(line: Buffer): void {
    this.#held.push([line, Buffer.from(line)]);
  }

  /** Writes all but the last `keep` lines held. */
  write(keep = 0): void {
    for (const [line, copy] of this.#held.splice(0, Math.max(0, this.#held.length - keep))) {
      expect(line.equals(copy)).toBe(true);
      this.file.push(copy);
      this.bytesWritten += copy.length;
    }
  }

  get held(): number {
    return this.#held.length;
  }
}

/**
 * A hasher with slabs of its own and a holding sink, the header given: `made` gives a line to
 * both, as a writer does, and keeps a copy of it in `all`.
 */
function slabbed() {
  const sink = new HoldingSink();
  const h = new LineHasher(sink, { slabs: true });
  const all: Buffer[] = [];
  const made = (l: Buffer) => {
    h.onLine(l);
    sink.give(l);
    all.push(Buffer.from(l));
  };
  made(lineBuffer('{"version":2,"width":80,"height":24}\n', h.slabs));
  return { sink, h, all, made };
}

describe('LineHasher with slabs of its own', () => {
  function lineIn(h: LineHasher, i: number, size: number): Buffer {
    return lineBuffer(`[${i},"o",${JSON.stringify('y'.repeat(size))}]\n`, h.slabs);
  }

  it('hands a slab to the worker, without a copy, only once the file holds every line of it', async () => {
    const { sink, h, made } = slabbed();
    expect(h.slabs).toBeDefined();
    sink.write();
    let n = 0;
    for (let round = 0; round < 3; round++) {
      // 2.4 MB in bursts of 200 lines; the file is always behind by the last 100 lines made.
      for (let burst = 0; burst < 3; burst++) {
        for (let i = 0; i < 200; i++) made(lineIn(h, n++, 4000));
        sink.write(100);
        await turn();
      }
      for (let i = 0; i < 30; i++) {
        made(lineIn(h, n++, 40)); // a trickle, hashed here
        sink.write();
        await turn();
      }
    }
    sink.write();
    await h.drained();
    const whole = Buffer.concat(sink.file);
    expect(h.point()).toEqual(
      (({ lines, bytes, chain }) => ({ lines, bytes, chain }))(chainOf(whole)),
    );
    // The floods went to the worker in the recording's own slabs, not copied into batches.
    expect(h.workerBytes).toBeGreaterThan(5_000_000);
    expect(h.slabBytes).toBe(h.workerBytes);
    h.dispose();
  });

  it('hashes on this thread what a stalled sink has not written, so drained() never waits on it', async () => {
    const { sink, h, all, made } = slabbed();
    for (let i = 0; i < 600; i++) made(lineIn(h, i, 4000)); // 2.4 MB in one turn
    sink.write(300); // then the sink stalls with 300 lines unwritten (a full disk, say)
    await h.drained();
    const half = Buffer.concat(sink.file);
    expect(h.point()).toMatchObject({ lines: 301, bytes: half.length, chain: chainOf(half).chain });
    // The unwritten lines were never handed over (the sink checks them) and were hashed here:
    // were they written now, the seal would be the whole file's.
    expect(sink.held).toBe(300);
    sink.write();
    const whole = Buffer.concat(all);
    expect(h.point()?.chain).toBe(chainOf(whole).chain);
    h.dispose();
  });

  it('copies lines too big for a slab, between lines that lie in one', async () => {
    const { sink, h, made } = slabbed();
    let n = 0;
    for (let round = 0; round < 6; round++) {
      // A big line has a buffer of its own: one batch then holds the same slab on both sides of
      // it, and a slab may only be handed over once.
      for (let i = 0; i < 50; i++) made(lineIn(h, n++, 3000));
      made(lineIn(h, n++, 500_000));
      for (let i = 0; i < 50; i++) made(lineIn(h, n++, 3000));
      sink.write();
      await turn();
    }
    await h.drained();
    expect(h.workerBytes).toBeGreaterThan(h.slabBytes);
    expect(h.slabBytes).toBeGreaterThan(0);
    const whole = Buffer.concat(sink.file);
    expect(h.point()?.chain).toBe(chainOf(whole).chain);
    h.dispose();
  });
});

describe('LineHasher with slabs, under random line sizes, write lags and stalls', () => {
  for (const seed of [1, 2, 3, 4]) {
    it(`gives the file's chain and hands over no line the sink still holds (seed ${seed})`, async () => {
      const rand = prng(seed); // seeded, so that a failure can be replayed
      const { sink, h, all, made } = slabbed();
      let n = 0;
      for (let step = 0; step < 60; step++) {
        // A burst: a trickle, a pty's pace, or a flood; now and then a line too big for a slab.
        const kind = rand();
        const count = kind < 0.3 ? 1 + Math.floor(rand() * 5) : 20 + Math.floor(rand() * 400);
        for (let i = 0; i < count; i++) {
          const r = rand();
          const size =
            r < 0.01
              ? 20_000 + Math.floor(rand() * 400_000)
              : r < 0.3
                ? 1 + Math.floor(rand() * 100)
                : 1000 + Math.floor(rand() * 8000);
          made(lineBuffer(`[${n++},"o",${JSON.stringify('z'.repeat(size))}]\n`, h.slabs));
        }
        // The file: keeps up, lags by some lines, or stalls for a while (past the hasher's wait).
        const w = rand();
        if (w < 0.5) sink.write();
        else if (w < 0.85) sink.write(Math.floor(rand() * 50));
        if (rand() < 0.15) await new Promise((r) => setTimeout(r, 45));
        else if (rand() < 0.3) await new Promise((r) => setTimeout(r, 5));
        else await turn();
      }
      sink.write();
      await h.drained();
      const whole = Buffer.concat(all);
      expect(Buffer.concat(sink.file).equals(whole)).toBe(true);
      const c = chainOf(whole);
      expect(h.point()).toEqual({ lines: c.lines, bytes: c.bytes, chain: c.chain });
      expect(h.slabBytes).toBeGreaterThan(0);
      h.dispose();
    });
  }
});

describe('the hashing worker', () => {
  it('starts in a process run as `node --input-type=module -e`', () => {
    // The worker inherits the process's flags; with --input-type=module its CommonJS source
    // died at its first line, and the recording sealed nothing past its header.
    const hasher = path.resolve(import.meta.dirname, '../../dist/src/sealing/hasher.js');
    const script = `
      const { LineHasher } = await import(${JSON.stringify(hasher)});
      const file = { bytesWritten: 0 };
      const h = new LineHasher(file);
      let bytes = 0;
      const give = (b) => { h.onLine(b); bytes += b.length; };
      give(Buffer.from('{"version":2,"width":80,"height":24}\\n'));
      for (let i = 0; i < 300; i++) give(Buffer.alloc(10000, 0x61 + (i % 20)));
      file.bytesWritten = bytes;
      await h.drained();
      console.log(JSON.stringify({ lines: h.point()?.lines, worker: h.workerBytes }));
      h.dispose();`;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(JSON.parse(out)).toEqual({ lines: 301, worker: 3_000_000 });
  });
});
