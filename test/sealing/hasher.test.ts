/**
 * The line hasher: whichever thread hashes a batch (this one for a little output per turn, the
 * worker for a flood, or no worker at all), the chain is the one computed over the whole file, and
 * a seal never covers more than the file holds.
 */
import { describe, expect, it } from 'vitest';
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
