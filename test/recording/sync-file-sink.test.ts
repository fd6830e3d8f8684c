import { describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { SinkWriteError } from '../../src/errors.js';
import { SyncFileSink } from '../../src/recording/sync-file-sink.js';
import { tempDir } from '../cli/helpers.js';

describe('SyncFileSink', () => {
  it('writes each line at once, in order', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const file = path.join(dir, 'a.cast');
      const sink = new SyncFileSink(fs.openSync(file, 'w'), file);
      expect(sink.write(Buffer.from('one\n'))).toBe(true);
      expect(fs.readFileSync(file, 'utf8')).toBe('one\n'); // already on disk, before close
      sink.write(Buffer.from('two\n'));
      expect(sink.bytesWritten).toBe(8);
      await sink.close();
      expect(fs.readFileSync(file, 'utf8')).toBe('one\ntwo\n');
      expect(() => sink.write(Buffer.from('x\n'))).toThrow(/write after close/);
    } finally {
      cleanup();
    }
  });

  it('reports a failed write once, as a SinkWriteError naming the sink, and drops the rest', async () => {
    const fd = fs.openSync('/dev/full', 'w');
    const sink = new SyncFileSink(fd, '/dev/full');
    const errors: Error[] = [];
    sink.on('error', (e) => errors.push(e));
    expect(sink.write(Buffer.from('line\n'))).toBe(true);
    expect(sink.write(Buffer.from('more\n'))).toBe(true);
    await new Promise((r) => process.nextTick(r));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(SinkWriteError);
    expect(errors[0]!.message).toMatch(/\/dev\/full.*ENOSPC/);
    await sink.close();
  });
});
