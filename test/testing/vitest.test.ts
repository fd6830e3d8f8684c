import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeCast, type Event } from '../../src/index.js';
import { fakeSession, loadCast, MemorySink, memoryRecorder } from '../../src/testing/index.js';
import '../../src/testing/vitest.js';

const s = (seconds: number) => seconds * 1_000_000;
const session = encodeCast({ version: 2, width: 40, height: 6 }, [
  { time: s(0.1), code: 'o', data: '$ ' },
  { time: s(0.2), code: 'o', data: 'echo hi\r\n\x1b[32mhi\x1b[0m\r\n$ ' },
  { time: s(0.3), code: 'x', data: '0' },
] satisfies Event[]);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sshcast-matchers-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function failure(fn: () => void): string {
  try {
    fn();
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error('the assertion passed');
}

async function asyncFailure(p: Promise<void>): Promise<string> {
  try {
    await p;
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error('the assertion passed');
}

describe('toContainOutput', () => {
  it('passes on a string or RegExp in the output, escapes included', () => {
    expect(session).toContainOutput('echo hi');
    expect(session).toContainOutput('\x1b[32mhi');
    expect(session).toContainOutput(/h.\x1b\[0m/g);
    expect(session).not.toContainOutput('bye');
  });

  it('fails with the end of the output, escapes visible', () => {
    const message = failure(() => expect(session).toContainOutput('goodbye'));
    expect(message).toContain(`expected the recording's output to contain "goodbye"`);
    expect(message).toContain('\\e[32mhi\\e[0m\\r\\n');
    expect(message).not.toContain('\x1b');
  });

  it('shows only the last lines of a long output', () => {
    const events: Event[] = Array.from({ length: 500 }, (_, i) => ({
      time: s(i / 100),
      code: 'o' as const,
      data: `row ${i}\r\n`,
    }));
    const message = failure(() =>
      expect(encodeCast({ version: 2, width: 80, height: 24 }, events)).toContainOutput('row 500'),
    );
    expect(message).toContain('row 499');
    expect(message).not.toContain('row 470\\r');
    expect(message).toMatch(/earlier lines not shown/);
    expect(message.split('\n').length).toBeLessThan(30);
  });

  it('with .not, fails showing where the text is', () => {
    const message = failure(() => expect(session).not.toContainOutput('echo'));
    expect(message).toContain(`not to contain "echo", but it does`);
    expect(message).toContain('echo hi');
  });
});

describe('toHaveScreenText', () => {
  it('passes on the rendered text, escape sequences gone', async () => {
    await expect(session).toHaveScreenText('hi\n$');
    await expect(session).toHaveScreenText(/^\$ echo hi$/m);
    await expect(session).not.toHaveScreenText('\x1b[32m');
  });

  it('takes a time', async () => {
    await expect(session).toHaveScreenText('$', { at: 0.1 });
    await expect(session).not.toHaveScreenText('echo', { at: 0.1 });
  });

  it('fails with the rendered screen', async () => {
    const message = await asyncFailure(expect(session).toHaveScreenText('goodbye'));
    expect(message).toContain('expected the screen (40x6, at the end) to contain "goodbye"');
    expect(message).toContain('|$ echo hi\n    |hi\n    |$');
    expect(message).not.toContain('\x1b');
  });

  it('with .not and a time, fails naming both', async () => {
    const message = await asyncFailure(expect(session).not.toHaveScreenText('echo', { at: 0.2 }));
    expect(message).toContain(
      'expected the screen (40x6, at 0.2s) not to contain "echo", but it does',
    );
  });
});

describe('toBeValidCast', () => {
  it('passes on a valid file, text, Cast and sink', () => {
    const file = path.join(tmp, 'ok.cast');
    fs.writeFileSync(file, session);
    expect(file).toBeValidCast();
    expect(session).toBeValidCast();
    expect(loadCast(session)).toBeValidCast();
    const sink = new MemorySink();
    sink.write(Buffer.from(session));
    expect(sink).toBeValidCast();
  });

  it('fails listing each problem with its line number', () => {
    const bad =
      '{"version":2,"width":80,"height":24}\n[0.5,"o","a"]\n[0.1,"o","b"]\n\n[1,"z","c"]\n';
    const message = failure(() => expect(bad).toBeValidCast());
    expect(message).toContain('found 3 problems');
    expect(message).toContain('line 3: time goes backwards');
    expect(message).toContain('line 4: blank line');
    expect(message).toContain('line 5: unknown event code "z"');
  });

  it('fails on a truncated file, and on a missing one', () => {
    const file = path.join(tmp, 'cut.cast');
    fs.writeFileSync(file, session.slice(0, -5));
    expect(failure(() => expect(file).toBeValidCast())).toMatch(/line 4: truncated final line/);
    expect(failure(() => expect(loadCast(file)).toBeValidCast())).toMatch(/line 4: truncated/);
    const missing = path.join(tmp, 'missing.cast');
    expect(failure(() => expect(missing).toBeValidCast())).toContain(
      `cannot read recording ${missing}`,
    );
  });

  it('with .not, fails on a valid file', () => {
    expect(failure(() => expect(session).not.toBeValidCast())).toContain(
      'not to be a valid asciicast file, but it is',
    );
  });
});

describe('toHaveExitCode', () => {
  it('passes on the x status', () => {
    expect(session).toHaveExitCode(0);
    expect(session).not.toHaveExitCode(1);
  });

  it('fails with the status found and the end of the output', () => {
    const message = failure(() => expect(session).toHaveExitCode(2));
    expect(message).toContain('expected exit code 2, but it ended with 0');
    expect(message).toContain('echo hi\\r\\n');
  });

  it('fails saying there is no exit event', () => {
    const live = encodeCast({ version: 2, width: 80, height: 24 }, [
      { time: 1, code: 'o', data: 'working' },
    ]);
    expect(failure(() => expect(live).toHaveExitCode(0))).toContain(
      'the recording has no exit event (x)',
    );
  });
});

describe('matchers on a Recording from memoryRecorder', () => {
  it('read the recording as it is written', async () => {
    const recorder = memoryRecorder();
    const rec = recorder.start({ cols: 30, rows: 4, localUser: 'alice' });
    rec.output(Buffer.from('caf\xc3', 'latin1'));
    rec.output(Buffer.from('\xa9 ok\r\n', 'latin1'));
    expect(rec).toContainOutput('café ok');
    expect(rec).toBeValidCast();
    expect(failure(() => expect(rec).toHaveExitCode(0))).toContain('no exit event');
    await rec.finish(3);
    expect(rec).toHaveExitCode(3);
    await expect(rec).toHaveScreenText('café ok');
    expect(recorder.lastCast().header.localUser).toBe('alice');
  });

  it('as asymmetric matchers', () => {
    expect({ cast: session }).toEqual({ cast: expect.toContainOutput('hi') });
  });
});

describe('waits, with the vitest integration imported', () => {
  it('end just before the test would time out, with their own message', async () => {
    const s = fakeSession();
    s.session.on('pty', (accept) => accept?.());
    s.session.on('shell', (accept) => accept());
    const ch = await s.shell();
    const started = Date.now();
    const err = (await ch.waitForOutput('never').catch((e: unknown) => e)) as Error;
    const waited = Date.now() - started;
    // The test has 1500 ms: the wait gives up a little before, not after 4 s (vitest would
    // then fail the test with its own "Test timed out" instead of this message).
    expect(err.message).toMatch(/^waitForOutput\("never"\): no match within \d+ ms/);
    expect(waited).toBeLessThan(1500);
    expect(waited).toBeGreaterThan(900);
  }, 1500);

  it('an explicit timeout still rules', async () => {
    const s = fakeSession();
    s.session.on('pty', (accept) => accept?.());
    s.session.on('shell', (accept) => accept());
    const ch = await s.shell();
    const err = (await ch
      .waitForOutput('never', { timeout: 30 })
      .catch((e: unknown) => e)) as Error;
    expect(err.message).toMatch(/no match within 30 ms/);
  });
});
