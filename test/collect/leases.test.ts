/**
 * The lease protocol between two collectors on one store (a directory here; the same code runs on
 * S3 in the failover tests): a live lease is not taken, a lapsed one is, and the writer that lost
 * it can neither renew it, nor pass the fence, nor have its late bytes read.
 */
import { describe, expect, it } from 'vitest';
import { Leases, readChain } from '../../src/collect/leases.js';
import { DirStore } from '../../src/storage/dir.js';
import { segmentKey } from '../../src/storage/layout.js';
import { tempDir } from '../helpers/e2e.js';

const ID = 'dev-a/ssh-session-1-a.cast';

describe('Leases', () => {
  it('two collectors: takeover only after the lease lapsed; the old holder is fenced out', async () => {
    const store = new DirStore(tempDir('leases-'));
    const a = new Leases(store, { leaseMs: 300, settleMs: 10 });
    const b = new Leases(store, { leaseMs: 300, settleMs: 10 });
    const ha = await a.acquire(ID);
    expect(ha.gen.gen.num).toBe(1);
    await store.put(segmentKey(ID, ha.gen.gen, 0), Buffer.from('0123456789'));
    await a.check(ha);
    ha.offset = 10;

    // Live: B is refused.
    await expect(b.acquire(ID)).rejects.toMatchObject({ status_code: 423 });
    // Lapsed (A stalled): B takes over where the bytes end.
    await new Promise((r) => setTimeout(r, 400)); // past the lease time, by the store's clock
    const hb = await b.acquire(ID);
    expect(hb.gen.gen.num).toBe(2);
    expect(hb.offset).toBe(10);

    // A wakes up: it cannot renew, it fails the fence after writing, and its bytes are not read.
    await a.renew(ha);
    expect(ha.lost).toBe(true);
    await store.put(segmentKey(ID, ha.gen.gen, 10), Buffer.from('STALE'));
    await expect(a.check(ha)).rejects.toMatchObject({ status_code: 423 });
    await store.put(segmentKey(ID, hb.gen.gen, 10), Buffer.from('abc'));
    await b.check(hb);
    const chain = await readChain(store, ID);
    expect(chain.end).toBe(13);
    const bytes = Buffer.concat(
      await Promise.all(
        chain.pieces.map((p) => store.get(p.key, { start: p.offset, end: p.offset + p.length })),
      ),
    );
    expect(bytes.toString()).toBe('0123456789abc');
    // A tries to take it back while B's lease is live: refused.
    await expect(a.acquire(ID)).rejects.toMatchObject({ status_code: 423 });
  });

  it('a collector takes back its own lease at once after dropping it (an unknown outcome)', async () => {
    const store = new DirStore(tempDir('leases-'));
    const a = new Leases(store, { leaseMs: 60_000, settleMs: 10 });
    const first = await a.acquire(ID);
    a.drop(ID);
    const again = await a.acquire(ID);
    expect(again.gen.gen.num).toBe(first.gen.gen.num + 1);
    expect(again.gen.prev).toEqual(first.gen.gen);
  });
});
