/**
 * A dead collector (it accepts connections and never answers, the worst case for a sender) while
 * the device floods a recording at about 10 MB/s: the uploader's memory stays flat, because the
 * file is the spool and each request body is streamed from it.
 */
import { execFile } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { expect, it } from 'vitest';
import { ROOT, tempDir } from '../helpers/e2e.js';

it('memory stays flat through a long heavy stream to a dead collector', async () => {
  const held: net.Socket[] = [];
  const blackHole = net.createServer((s) => {
    s.pause(); // never read, never answer
    held.push(s);
  });
  await new Promise<void>((r) => blackHole.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(blackHole.address() as net.AddressInfo).port}`;
  const dir = tempDir('flood-');
  const out = await new Promise<string>((resolve, reject) =>
    execFile(
      process.execPath,
      [path.join(ROOT, 'test/fixtures/remote/flood.mjs'), url, dir, String(10e6), '14'],
      { timeout: 60_000, maxBuffer: 1 << 20 },
      (err, stdout, stderr) =>
        err ? reject(new Error(`${err.message}: ${stderr}`)) : resolve(stdout),
    ),
  );
  for (const s of held) s.destroy();
  await new Promise((r) => blackHole.close(r));
  const samples = out
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { t: number; rss: number; size: number });
  const last = samples.at(-1)!;
  // About 140 MB written, none of it acknowledged.
  expect(last.size).toBeGreaterThan(60e6);
  const warm = samples.find((s) => s.t >= 3000)!;
  const growth = Math.max(...samples.filter((s) => s.t >= 3000).map((s) => s.rss)) - warm.rss;
  expect(growth).toBeLessThan(16 * 1024 * 1024);
}, 90_000);
