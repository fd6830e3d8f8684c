/**
 * What a session shows, against the people who later read the recording: a password typed at a
 * no-echo prompt stays out of it by default, and output that attacks a viewer's terminal (OSC 52
 * clipboard writes, title changes, huge escape sequences) reaches no one through `sshcast cat
 * --text` or `sshcast ls`. Real sessions through the session layer, recorded to files.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type ssh2 from 'ssh2';
import { Recorder } from '../../src/recording/recorder.js';
import { currentAccount, type Account } from '../../src/ssh/account.js';
import { parseCast } from '../../src/asciicast/reader.js';
import { connect, run, startTestServer, type TestServer } from '../helpers/inprocess.js';
import { recordingAfter, tempDir, until } from '../helpers/e2e.js';
import { runCli } from '../cli/helpers.js';

let account: Account;
let work: string;

beforeAll(async () => {
  account = await currentAccount();
  work = tempDir('content-');
});
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

async function withServer<T>(
  name: string,
  recordInput: boolean,
  body: (client: ssh2.Client, dir: string) => Promise<T>,
): Promise<T> {
  const dir = path.join(work, name);
  const recorder = new Recorder({ enabled: true, dir, recordInput, log: () => {} });
  const server: TestServer = await startTestServer({
    identity: { account, keyOptions: {} },
    recorder,
    log: () => {},
  });
  const client = await connect(server.port);
  try {
    return await body(client, dir);
  } finally {
    client.end();
    await server.close();
    await recorder.close();
  }
}

/** The one recording in `dir`, once it has its x event. */
async function onlyRecording(dir: string): Promise<{ file: string; text: string }> {
  const file = await recordingAfter(dir);
  const text = await until(
    () => {
      const t = fs.readFileSync(file, 'utf8');
      return /"x","-?\d+"\]\n$/.test(t) ? t : undefined;
    },
    'the recording to finish',
    { watch: file },
  );
  return { file, text };
}

const SECRET = 'hunter2-Sw0rdf1sh';
const PROMPT = `bash -c 'read -r -s -p "Password: " pw; echo; echo "got \${#pw} characters"'`;

/** Answers the no-echo prompt once it is shown. */
function typePassword(channel: ssh2.ClientChannel): void {
  let shown = '';
  channel.on('data', (d: Buffer) => {
    shown += d.toString();
    if (shown.includes('Password: ')) {
      shown = '';
      channel.write(`${SECRET}\r`);
    }
  });
}

describe('a password typed at a no-echo prompt (read -s)', () => {
  it('is in the recording when input recording is turned on (the attack on a naive recorder)', async () => {
    const text = await withServer('input-on', true, async (client, dir) => {
      const r = await run(client, PROMPT, {
        pty: { cols: 80, rows: 24 },
        keepOpen: true,
        onChannel: typePassword,
      });
      expect(r.stdout.toString()).toContain(`got ${SECRET.length} characters`);
      return (await onlyRecording(dir)).text;
    });
    expect(text).toContain(SECRET);
  });

  it('is not in the recording by default: no i events, and the terminal did not echo it', async () => {
    const { text, file } = await withServer('input-off', false, async (client, dir) => {
      const r = await run(client, PROMPT, {
        pty: { cols: 80, rows: 24 },
        keepOpen: true,
        onChannel: typePassword,
      });
      // The password really was typed and read.
      expect(r.stdout.toString()).toContain(`got ${SECRET.length} characters`);
      return onlyRecording(dir);
    });
    expect(text).toContain('Password: ');
    expect(text).toContain(`got ${SECRET.length} characters`);
    expect(text).not.toContain(SECRET);
    expect(text).not.toContain('hunter2');
    expect(parseCast(text).events.some((e) => e.code === 'i')).toBe(false);
    const cat = await runCli(['cat', '--text', file]);
    expect(cat.stdout).not.toContain('hunter2');
  });
});

describe('output that attacks the viewer', () => {
  const HOSTILE = [
    "printf '\\033]52;c;c2VjcmV0LWNsaXBib2FyZA==\\007'", // OSC 52: write the viewer's clipboard
    "printf '\\033]0;PWNED-TITLE\\007\\033]2;PWNED-TITLE2\\033\\\\'", // window title, BEL and ST
    "printf '\\033]0;'; head -c 1000000 /dev/zero | tr '\\0' Q; printf '\\007'", // a 1 MB title
    "printf '\\033[99999999999;99999999999H\\033[999999999999999999999m'", // huge parameters
    "printf '\\033P+q544e\\033\\\\\\033[21t\\033[>c'", // DCS and terminal queries (answer-back)
    "printf '\\033[?1049h\\033[2J\\033]8;;http://evil.example/\\033\\\\link\\033]8;;\\033\\\\\\n'", // alt screen, hyperlink
    "printf 'visible text\\n'",
  ].join('; ');

  it('the recording holds the attack, and neither cat --text nor ls prints any of it', async () => {
    const { file, text } = await withServer('viewer', false, async (client, dir) => {
      const r = await run(client, HOSTILE, { pty: { cols: 80, rows: 24 } });
      expect(r.code).toBe(0);
      return onlyRecording(dir);
    });
    // The attack is in the recording (a raw `cat` would replay it to a terminal).
    const shown = parseCast(text)
      .events.filter((e) => e.code === 'o')
      .map((e) => e.data)
      .join('');
    expect(shown).toContain('\x1b]52;c;c2VjcmV0LWNsaXBib2FyZA==');
    expect(shown).toContain('Q'.repeat(100_000));
    const raw = await runCli(['cat', file]);
    expect(raw.stdout).toContain('\x1b]52;');
    const cat = await runCli(['cat', '--text', file]);
    expect(cat.code).toBe(0);
    expect(cat.stdout).toContain('visible text');
    expect(cat.stdout).toContain('link');
    expect(/[\x00-\x09\x0b-\x1f\x7f\x80-\x9f]/.test(cat.stdout)).toBe(false);
    for (const leak of ['c2VjcmV0', 'PWNED', 'QQQQ', 'evil.example', '544e'])
      expect(cat.stdout).not.toContain(leak);
    const ls = await runCli(['ls', path.dirname(file)]);
    expect(ls.code).toBe(0);
    expect(/[\x00-\x09\x0b-\x1f\x7f\x80-\x9f]/.test(ls.stdout)).toBe(false);
    // ls shows the command as text (it names PWNED-TITLE) but never the output, nor a raw escape.
    expect(ls.stdout).not.toContain('QQQQ');
    expect(ls.stdout).not.toContain('\x1b');
  });
});
