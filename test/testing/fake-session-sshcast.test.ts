import { describe, expect, it } from 'vitest';
import { currentAccount } from '../../src/ssh/account.js';
import { handleSession } from '../../src/ssh/session.js';
import { fakeSession } from '../../src/testing/fake-session.js';
import { memoryRecorder } from '../../src/testing/memory.js';
import '../../src/testing/vitest.js';

async function sshcastSession() {
  const recorder = memoryRecorder();
  const identity = { account: await currentAccount(), keyOptions: {} };
  const s = fakeSession();
  handleSession(s.session, { identity, recorder, log: () => {} });
  return { s, recorder };
}

describe("fakeSession drives sshcast's own handleSession with no sockets", () => {
  it('a command without a pty: stdout, stderr, status, all recorded', async () => {
    const { s, recorder } = await sshcastSession();
    const ch = await s.exec('printf out; printf err >&2; exit 7');
    expect(await ch.waitForExit()).toEqual({ code: 7 });
    expect(ch.stdout).toBe('out');
    expect(ch.stderr).toBe('err');
    await recorder.close();
    const cast = recorder.lastCast();
    expect(cast.header.command).toBe('printf out; printf err >&2; exit 7');
    expect(cast).toContainOutput('out');
    expect(cast).toContainOutput('err');
    expect(cast).toHaveExitCode(7);
  });

  it('an interactive shell: type, resize, wait, exit; the recording has the resize', async () => {
    const { s, recorder } = await sshcastSession();
    const ch = await s.shell({ pty: { cols: 50, rows: 12 }, env: { LANG: 'C.UTF-8' } });
    ch.type('echo "sum=$((40+2))"; echo "lang=$LANG"\n');
    await ch.waitForOutput('sum=42');
    await ch.waitForOutput('lang=C.UTF-8');
    ch.resize(90, 25);
    ch.type('stty size\n');
    await ch.waitForOutput('25 90');
    ch.type('exit 0\n');
    expect(await ch.waitForExit()).toEqual({ code: 0 });
    await recorder.close();
    const cast = recorder.lastCast();
    expect(cast.header).toMatchObject({ width: 50, height: 12 });
    expect(cast.resizes.map((r) => [r.cols, r.rows])).toEqual([[90, 25]]);
    expect(cast).toHaveExitCode(0);
    await expect(cast).toHaveScreenText(/^25 90$/m);
  });

  it('stdin of a command without a pty ends with the client EOF', async () => {
    const { s } = await sshcastSession();
    const ch = await s.exec('cat');
    ch.type('line one\n');
    await ch.waitForOutput('line one');
    ch.eof();
    expect(await ch.waitForExit()).toEqual({ code: 0 });
  });
});
