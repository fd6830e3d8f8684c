// The greeter's tests, written as a user of sshcast writes them: only `sshcast/testing` and its
// vitest matchers (run `npm run build` first: `sshcast` resolves to this package's dist/).
import { describe, expect, it } from 'vitest';
import {
  fakeSession,
  loadCast,
  memoryRecorder,
  renderScreen,
  startTestServer,
} from 'sshcast/testing';
import 'sshcast/testing/vitest';
import { greeterSession } from './greeter.js';

describe('the greeter, unit-tested with a fake session (no sockets)', () => {
  it('greets, counts, and records exactly what the client saw', async () => {
    const recorder = memoryRecorder();
    const s = fakeSession();
    greeterSession(s.session, { recorder, user: 'ada' });

    const ch = await s.shell({ pty: { cols: 40, rows: 8 } });
    await ch.waitForOutput('greeter> ');
    ch.type('hello Ada\r');
    await ch.waitForOutput('Hello, Ada!');
    ch.resize(60, 10);
    ch.type('count 3\rexit 4\r');
    expect(await ch.waitForExit()).toEqual({ code: 4 });

    const cast = recorder.lastCast();
    expect(cast.header).toMatchObject({ width: 40, height: 8, localUser: 'ada' });
    expect(cast.output).toBe(ch.stdout);
    expect(cast.resizes).toMatchObject([{ cols: 60, rows: 10 }]);
    expect(cast).toContainOutput('1 2 3');
    expect(cast).toHaveExitCode(4);
    expect(cast).toBeValidCast();
    await expect(cast).toHaveScreenText('greeter> count 3\n1 2 3\ngreeter> exit 4\nbye');
  });

  it('line editing: the screen shows the corrected line', async () => {
    const recorder = memoryRecorder();
    const s = fakeSession();
    greeterSession(s.session, { recorder, user: 'ada' });
    const ch = await s.shell();
    ch.type('helo\x7f\x7fllo Bob\r');
    await ch.waitForOutput('Hello, Bob!');
    const screen = await renderScreen(recorder.lastCast());
    expect(screen.lines[1]).toBe('greeter> hello Bob');
    expect(screen.cursor).toEqual({ x: 'greeter> '.length, y: 3 });
  });

  it('an unknown command is shown in red, and the matcher sees the text without the colour', async () => {
    const recorder = memoryRecorder();
    const s = fakeSession();
    greeterSession(s.session, { recorder, user: 'ada' });
    const ch = await s.shell();
    ch.type('dance\r\x04');
    await ch.waitForExit();
    expect(recorder.lastCast()).toContainOutput('\x1b[31munknown command: dance');
    await expect(recorder.lastCast()).toHaveScreenText('unknown command: dance\ngreeter>');
  });
});

describe('the greeter over real SSH (startTestServer)', () => {
  it('answers a command and an interactive session, each in its own recording', async () => {
    const server = await startTestServer({
      session: (session, { recorder, identity }) =>
        greeterSession(session, { recorder, user: identity.account.name }),
    });
    try {
      expect(await server.client.exec('hello world')).toEqual({
        stdout: 'Hello, world!\n',
        stderr: '',
        code: 0,
      });

      const sh = await server.client.shell({ cols: 50, rows: 10 });
      await sh.waitForOutput(`Welcome, ${server.user}.`);
      sh.type('count 5\r');
      await sh.waitForOutput('1 2 3 4 5');
      sh.resize(70, 12);
      sh.type('exit\r');
      expect(await sh.waitForExit()).toEqual({ code: 0 });

      const files = await server.waitForRecordings(2);
      expect(files).toHaveLength(2);
      const [command, shell] = files.map((f) => loadCast(f));
      expect(command!.header.command).toBe('hello world');
      expect(command).toHaveExitCode(0);
      expect(shell!.header).toMatchObject({ width: 50, height: 10, localUser: server.user });
      expect(shell!.resizes).toMatchObject([{ cols: 70, rows: 12 }]);
      expect(files[1]).toContainOutput('1 2 3 4 5');
      expect(files[1]).toBeValidCast();
    } finally {
      await server.close();
    }
  });
});
