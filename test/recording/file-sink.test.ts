import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BATCH_BYTES, FileSink, type FileOps } from '../../src/recording/file-sink.js';
import { SinkWriteError } from '../../src/errors.js';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sshcast-sink-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

function open(name = 'a.cast'): { fd: number; file: string } {
  const file = path.join(dir, name);
  return { fd: fs.openSync(file, 'wx', 0o600), file };
}

describe('FileSink', () => {
  it('writes every line in order and closes the descriptor', async () => {
    const { fd, file } = open();
    const sink = new FileSink(fd, file, { highWaterMark: 64 });
    const lines = Array.from({ length: 500 }, (_, i) =>
      Buffer.from(`[${i},"o","${'x'.repeat(i % 40)}"]\n`),
    );
    let drains = 0;
    sink.on('drain', () => drains++);
    let falses = 0;
    for (const l of lines) if (!sink.write(l)) falses++;
    await sink.close();
    expect(fs.readFileSync(file)).toEqual(Buffer.concat(lines));
    expect(falses).toBeGreaterThan(0);
    expect(drains).toBeGreaterThan(0);
    expect(() => fs.fstatSync(fd)).toThrow(/EBADF/);
    expect(sink.bytesWritten).toBe(Buffer.concat(lines).length);
  });

  it('finishes partial writes (writev writing fewer bytes than asked)', async () => {
    const { fd, file } = open();
    let partials = 0;
    const ops: FileOps = {
      writev: (f, bufs, cb) => {
        // write at most 7 bytes per call
        const all = Buffer.concat(bufs).subarray(0, 7);
        if (all.length < Buffer.concat(bufs).length) partials++;
        fs.write(f, all, (err, n) => cb(err, n));
      },
      ftruncate: fs.ftruncate,
      fsync: fs.fsync,
      close: fs.close,
    };
    const sink = new FileSink(fd, file, { fs: ops });
    const data = Buffer.from('[1,"o","hello world"]\n[2,"o","again"]\n');
    sink.write(data.subarray(0, 22));
    sink.write(data.subarray(22));
    await sink.close();
    expect(partials).toBeGreaterThan(0);
    expect(fs.readFileSync(file)).toEqual(data);
  });

  it('on a write failure truncates back to the last complete line and reports the sink', async () => {
    const { fd, file } = open();
    let calls = 0;
    let settled: () => void = () => {};
    const ops: FileOps = {
      writev: (f, bufs, cb) => {
        calls++;
        if (calls < 3)
          return fs.writev(f, bufs, (err, n) => {
            cb(err, n);
            settled();
          });
        // half a line reaches the disk, then the disk is full
        const half = Buffer.concat(bufs).subarray(0, 5);
        fs.write(f, half, () =>
          cb(Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' }), 0),
        );
      },
      ftruncate: fs.ftruncate,
      fsync: fs.fsync,
      close: fs.close,
    };
    const sink = new FileSink(fd, file, { fs: ops });
    // Each write goes out on its own: wait for its writev to complete before the next.
    const written = (s: string) => {
      const done = new Promise<void>((resolve) => (settled = resolve));
      sink.write(Buffer.from(s));
      return done;
    };
    await written('{"version":2,"width":80,"height":24}\n');
    await written('[1,"o","a"]\n');
    const errors: Error[] = [];
    sink.on('error', (e) => errors.push(e));
    const failed = once(sink, 'error');
    sink.write(Buffer.from('[2,"o","this line hits the full disk"]\n'));
    const [error] = (await failed) as [SinkWriteError];
    sink.write(Buffer.from('[3,"o","after"]\n'));
    await sink.close();
    expect(calls).toBe(3);
    expect(errors).toEqual([error]);
    expect(error).toBeInstanceOf(SinkWriteError);
    expect(error.sink).toBe(file);
    expect(error.message).toMatch(/ENOSPC/);
    expect(fs.readFileSync(file, 'utf8')).toBe(
      '{"version":2,"width":80,"height":24}\n[1,"o","a"]\n',
    );
  });

  it('keeps every whole line of a batch that filled the disk partway', async () => {
    const { fd, file } = open();
    const header = Buffer.from('{"version":2,"width":80,"height":24}\n');
    const lines = ['[1,"o","a"]\n', '[2,"o","bb"]\n', '[3,"o","ccc"]\n', '[4,"o","dddd"]\n'].map(
      (l) => Buffer.from(l),
    );
    // The disk takes the header, then 2.5 lines of the next batch, then is full.
    let room = header.length + lines[0]!.length + lines[1]!.length + 4;
    let enospc = 0;
    const ops: FileOps = {
      writev: (f, bufs, cb) => {
        const all = Buffer.concat(bufs);
        if (room === 0) {
          enospc++;
          return cb(
            Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' }),
            0,
          );
        }
        const part = all.subarray(0, Math.min(room, all.length));
        room -= part.length;
        fs.write(f, part, (err, n) => cb(err, n));
      },
      ftruncate: fs.ftruncate,
      fsync: fs.fsync,
      close: fs.close,
    };
    const sink = new FileSink(fd, file, { fs: ops });
    const failed = once(sink, 'error');
    sink.write(header);
    for (const l of lines) sink.write(l); // queued behind the header: one batch
    await failed;
    await sink.close();
    expect(enospc).toBe(1);
    expect(fs.readFileSync(file, 'utf8')).toBe(
      header.toString() + lines[0]!.toString() + lines[1]!.toString(),
    );
    expect(sink.bytesWritten).toBe(header.length + lines[0]!.length + lines[1]!.length);
  });

  it('fsyncs before close when asked', async () => {
    const { fd, file } = open();
    const order: string[] = [];
    const ops: FileOps = {
      writev: (f, b, cb) => fs.writev(f, b, (e, n) => cb(e, n)),
      ftruncate: fs.ftruncate,
      fsync: (f, cb) => {
        order.push('fsync');
        fs.fsync(f, cb);
      },
      close: (f, cb) => {
        order.push('close');
        fs.close(f, cb);
      },
    };
    const sink = new FileSink(fd, file, { fs: ops, fsync: true });
    sink.write(Buffer.from('x\n'));
    await sink.close();
    expect(order).toEqual(['fsync', 'close']);
  });
});

describe('FileSink batches lines', () => {
  function counting(): { ops: FileOps; calls: number[] } {
    const calls: number[] = [];
    const ops: FileOps = {
      writev: (f, bufs, cb) => {
        calls.push(bufs.length);
        fs.writev(f, bufs, (err, n) => cb(err, n));
      },
      ftruncate: fs.ftruncate,
      fsync: fs.fsync,
      close: fs.close,
    };
    return { ops, calls };
  }
  const line = (i: number, n = 20) => Buffer.from(`[${i},"o","${'y'.repeat(n)}"]\n`);

  it('writes the lines of a flood in few system calls, each line whole and in order', async () => {
    const { fd, file } = open();
    const { ops, calls } = counting();
    const sink = new FileSink(fd, file, { fs: ops });
    const lines = Array.from({ length: 200 }, (_, i) => line(i));
    for (const l of lines) sink.write(l); // one turn of the event loop, as a flood comes
    await new Promise((r) => setTimeout(r, 50));
    expect(calls).toEqual([200]); // without the batch window: 1 line, then the other 199
    await sink.close();
    expect(fs.readFileSync(file)).toEqual(Buffer.concat(lines));
  });

  it('writes a line within its batch window even when nothing follows it', async () => {
    const { fd, file } = open();
    const { ops, calls } = counting();
    const sink = new FileSink(fd, file, { fs: ops, batchMs: 5 });
    sink.write(line(1));
    expect(calls).toEqual([]);
    await new Promise((r) => setTimeout(r, 40));
    expect(calls).toEqual([1]);
    expect(sink.bytesWritten).toBe(line(1).length);
    await sink.close();
  });

  it(`writes ${BATCH_BYTES} bytes of waiting lines at once, and close() writes what waits`, async () => {
    const { fd, file } = open();
    const { ops, calls } = counting();
    const sink = new FileSink(fd, file, { fs: ops, batchMs: 60_000 });
    const big = line(1, BATCH_BYTES);
    sink.write(line(0));
    sink.write(big);
    expect(calls).toEqual([2]); // the queue reached BATCH_BYTES: no wait
    const last = line(2);
    sink.write(last);
    const started = Date.now();
    await sink.close(); // does not wait the minute of the window
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(fs.readFileSync(file)).toEqual(Buffer.concat([line(0), big, last]));
  });

  it('writes each line at once with batchMs 0', async () => {
    const { fd, file } = open();
    const { ops, calls } = counting();
    const sink = new FileSink(fd, file, { fs: ops, batchMs: 0 });
    sink.write(line(1));
    expect(calls).toEqual([1]);
    await sink.close();
  });
});
