import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { CastWriter, SIZE_LIMIT_MARKER } from '../../src/recording/writer.js';
import { parseCast } from '../../src/asciicast/reader.js';
import { ManualClock, type Clock } from '../../src/clock.js';
import { MemorySink, type Sink } from '../../src/recording/sink.js';
import { SinkWriteError } from '../../src/errors.js';

/** A sink that records each write separately and can be told to stall or fail. */
class ScriptedSink extends EventEmitter implements Sink {
  readonly name = 'scripted';
  writes: Buffer[] = [];
  stalled = false;
  closed = false;
  write(lines: Buffer): boolean {
    this.writes.push(lines);
    return !this.stalled;
  }
  async close(): Promise<void> {
    this.closed = true;
  }
  unstall(): void {
    this.stalled = false;
    this.emit('drain');
  }
}

describe('CastWriter', () => {
  it('writes the header first, then one complete line per write', async () => {
    const clock = new ManualClock(1_700_000_000_500);
    const sink = new ScriptedSink();
    const w = new CastWriter(sink, { clock });
    w.start({ width: 100, height: 30, localUser: 'alice' });
    clock.advance(0.25);
    w.output('hello\r\n');
    clock.advance(1);
    w.resize(90, 20);
    w.marker('here');
    w.exit(0);
    await w.close();
    expect(sink.writes.map((b) => b.toString())).toEqual([
      '{"version":2,"width":100,"height":30,"timestamp":1700000000,"localUser":"alice"}\n',
      '[0.25,"o","hello\\r\\n"]\n',
      '[1.25,"r","90x20"]\n',
      '[1.25,"m","here"]\n',
      '[1.25,"x","0"]\n',
    ]);
    expect(sink.closed).toBe(true);
    expect(w.lines).toBe(5);
    expect(w.bytes).toBe(Buffer.concat(sink.writes).length);
  });

  it('never lets time go backwards, whatever the clock or caller says', () => {
    let t = 5_000_000;
    const jumpy: Clock = { monotonic: () => t, wall: () => 0 };
    const sink = new MemorySink();
    const w = new CastWriter(sink, { clock: jumpy });
    w.start({ width: 80, height: 24 });
    t = 7_000_000;
    w.output('a');
    t = 6_000_000; // a clock going backwards
    w.output('b');
    w.write({ time: 10, code: 'o', data: 'c' }); // an explicit earlier time
    const times = parseCast(sink.text()).events.map((e) => e.time);
    expect(times).toEqual([2_000_000, 2_000_000, 2_000_000]);
  });

  it('returns false when the sink is full and re-emits its drain', () => {
    const sink = new ScriptedSink();
    const w = new CastWriter(sink, { clock: new ManualClock() });
    w.start({ width: 80, height: 24 });
    sink.stalled = true;
    expect(w.output('x')).toBe(false);
    let drained = 0;
    w.on('drain', () => drained++);
    sink.unstall();
    expect(drained).toBe(1);
    expect(w.output('y')).toBe(true);
  });

  it('passes every line, header included, through onLine as the exact bytes the sink gets', () => {
    const seen: Buffer[] = [];
    const sink = new ScriptedSink();
    const w = new CastWriter(sink, { clock: new ManualClock(), onLine: (b) => seen.push(b) });
    w.start({ width: 80, height: 24 });
    w.output('é');
    w.exit(1);
    expect(seen).toEqual(sink.writes);
    expect(seen.every((b, i) => b === sink.writes[i])).toBe(true);
  });

  it('caps the size: one marker, nothing more but the final exit', () => {
    const sink = new MemorySink();
    const clock = new ManualClock();
    const w = new CastWriter(sink, { clock, maxBytes: 200 });
    w.start({ width: 80, height: 24 });
    for (let i = 0; i < 50; i++) w.output('0123456789');
    expect(w.capped).toBe(true);
    w.marker('after the cap');
    w.exit(0);
    const cast = parseCast(sink.text());
    const codes = cast.events.map((e) => e.code);
    expect(codes.filter((c) => c === 'm')).toHaveLength(1);
    expect(cast.events.at(-2)).toMatchObject({ code: 'm', data: SIZE_LIMIT_MARKER });
    expect(cast.events.at(-1)).toMatchObject({ code: 'x', data: '0' });
    const outputBytes = sink.bytes().length;
    expect(outputBytes).toBeLessThan(200 + 100);
    expect(codes.filter((c) => c === 'o').length).toBeGreaterThan(0);
  });

  it('drops events after the exit event', () => {
    const sink = new MemorySink();
    const w = new CastWriter(sink, { clock: new ManualClock() });
    w.start({ width: 80, height: 24 });
    w.exit(3);
    w.output('late');
    w.exit(4);
    expect(parseCast(sink.text()).events).toEqual([{ time: 0, code: 'x', data: '3' }]);
  });

  it('reports a sink failure once, naming the sink, then drops events', () => {
    const sink = new ScriptedSink();
    const w = new CastWriter(sink, { clock: new ManualClock() });
    const errors: SinkWriteError[] = [];
    w.on('error', (e: SinkWriteError) => errors.push(e));
    w.start({ width: 80, height: 24 });
    sink.emit('error', new Error('EIO'));
    sink.emit('error', new Error('EIO again'));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(SinkWriteError);
    expect(errors[0]!.sink).toBe('scripted');
    expect(errors[0]!.code).toBe('ERR_SINK_WRITE');
    const before = sink.writes.length;
    expect(w.output('more')).toBe(true);
    expect(sink.writes.length).toBe(before);
    expect(w.failed).toBe(true);
  });

  it('refuses events before start and a second start', () => {
    const w = new CastWriter(new MemorySink());
    expect(() => w.output('x')).toThrow(/start/);
    w.start({ width: 80, height: 24 });
    expect(() => w.start({ width: 80, height: 24 })).toThrow(/twice/);
  });
});
