/**
 * A sealing server's life with the built example server, the real OpenSSH client and the built
 * CLI: a second sealing server on the same directory, prune beside a running server and on a
 * stopped one, the retention, a SIGKILL mid-session (an unsealed tail at once; the crash's gap
 * once a new process starts), a clean stop and restart (a pause, not a gap), and `--rotate`
 * keeping the old ledger verifiable with the old key.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../cli/helpers.js';
import {
  authorizedKey,
  recordings,
  requireTool,
  ssh,
  sshOptions,
  startRecordingServer,
  tempDir,
  until,
  type ExampleServer,
} from '../helpers/e2e.js';
import { ledgerEntries } from '../sealing/attacker.js';

let work: string;
let keyFile: string;
let authorizedKeys: string;

beforeAll(async () => {
  requireTool('ssh');
  work = tempDir('seal-life-');
  ({ authorizedKeys, file: keyFile } = await authorizedKey(work));
});

afterAll(() => {
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

function start(dir: string, expectExit = false): Promise<ExampleServer> {
  return startRecordingServer({
    dir,
    hostKey: path.join(work, 'host_key'),
    authorizedKeys,
    expectExit,
  });
}

async function init(dir: string, ...flags: string[]): Promise<string> {
  const r = await runCli(['seal', 'init', dir, '--interval', '1s', ...flags]);
  expect(r.stderr).toMatch(/store the verification key/);
  expect(r.code).toBe(0);
  return r.stdout.trim();
}

async function verify(dir: string, key: string) {
  const r = await runCli(['verify', dir, '--key', key]);
  const lines = r.stdout.trimEnd().split('\n');
  return {
    code: r.code,
    ledger: lines.find((l) => l.startsWith('ledger: ')) ?? '',
    words: Object.fromEntries(
      lines
        .filter((l) => !l.startsWith('ledger: '))
        .map((l) => [l.slice(0, l.indexOf(': ')), l.slice(l.indexOf(': ') + 2)]),
    ),
    stdout: r.stdout,
  };
}

const kinds = (dir: string) => ledgerEntries(dir).map((e) => e.kind);

/** Waits until the ledger has a tick after entry `seq`. */
function tickAfter(dir: string, seq: number): Promise<true> {
  return until(
    () => (ledgerEntries(dir).some((e) => e.kind === 'tick' && e.seq > seq) ? true : undefined),
    `a tick after entry ${seq}`,
  );
}

const lastSeq = (dir: string) => ledgerEntries(dir).at(-1)!.seq;
const name = (f: string) => path.basename(f);

// Each step waits for a few one-second intervals to pass; a loaded machine needs more time.
describe(
  'a sealing server beside others, killed, and prune with a retention',
  { timeout: 90_000 },
  () => {
    let dir: string;
    let key: string;
    let s1: string;
    let server: ExampleServer;

    it('refuses a second sealing server on the same directory with one clear line', async () => {
      dir = path.join(work, 'a');
      key = await init(dir, '--retention', '2s');
      server = await start(dir);
      await server.waitFor('sealing: on (interval 1s)');
      const second = await start(dir, true);
      expect(second.child.exitCode).toBe(1);
      const out = second.output().trim().split('\n');
      expect(out.at(-1)).toMatch(
        new RegExp(
          `^sshcast server: cannot seal ${dir}: ${dir} is being sealed by another process \\(pid ${server.child.pid}, server\\): one sealing process per directory$`,
        ),
      );
      expect(server.child.exitCode).toBe(null);
    });

    it('prunes beside the running server, never sooner than the sealed retention', async () => {
      expect((await ssh(server.port, keyFile, 'root', 'echo one')).code).toBe(0);
      s1 = name(recordings(dir)[0]!);
      const open = ledgerEntries(dir).find((e) => e.kind === 'open')!;
      const early = await runCli(['prune', dir, '--older-than', '1s']);
      expect(early.code).toBe(1);
      expect(early.stderr).toBe(
        `sshcast: --older-than 1s is sooner than the retention sealed in ${dir} (2s)\n`,
      );
      await until(
        () => (Date.now() / 1000 - open.time >= 3 ? true : undefined),
        'the retention to pass',
      );
      const before = lastSeq(dir);
      const r = await runCli(['prune', dir, '--older-than', '2s']);
      expect(r.stdout).toMatch(new RegExp(`^removed ${s1} \\(`));
      expect(r.code).toBe(0);
      expect(fs.existsSync(path.join(dir, s1))).toBe(false);
      const after = ledgerEntries(dir).filter((e) => e.seq > before);
      // Only the prune entry: the running server writes the start, ticks and stop.
      expect(after.map((e) => e.kind).filter((k) => k !== 'tick')).toEqual(['prune']);
      await tickAfter(dir, after.find((e) => e.kind === 'prune')!.seq);
    });

    it('after a SIGKILL mid-session: an unsealed tail at once, exit 0', async () => {
      const ssh = spawn(
        'ssh',
        [...sshOptions(server.port, keyFile), '-tt', 'root@127.0.0.1', 'cat'],
        {
          stdio: ['pipe', 'ignore', 'ignore'],
        },
      );
      try {
        ssh.stdin.write('a\n');
        const file = await until(
          () => recordings(dir).find((f) => fs.readFileSync(f, 'utf8').includes('a\\r\\n')),
          'the session to be recorded',
        );
        const opened = ledgerEntries(dir).find(
          (e) => e.kind === 'open' && 'file' in e && e.file === name(file),
        )!;
        await tickAfter(dir, opened.seq);
        // Right after a tick: the next seal is an interval away.
        ssh.stdin.write('b\n');
        await until(
          () => (fs.readFileSync(file, 'utf8').includes('b\\r\\n') ? true : undefined),
          'b',
        );
        expect(await server.stop('SIGKILL')).toBe(null);
        expect(server.child.signalCode).toBe('SIGKILL');
        const v = await verify(dir, key);
        expect(v.words[name(file)]).toMatch(/^unsealed-tail [1-9]\d* lines after the last seal$/);
        expect(v.words[s1]).toBe('pruned');
        expect(v.ledger).toMatch(/^ledger: ok/);
        expect(v.code).toBe(0);
      } finally {
        ssh.kill();
      }
    });

    it('reports the crash as a gap once a new sealing process starts', async () => {
      const killedAt = ledgerEntries(dir).at(-1)!;
      await until(
        () => (Date.now() / 1000 >= killedAt.time + 3 ? true : undefined),
        'a few intervals',
      );
      server = await start(dir);
      await tickAfter(dir, lastSeq(dir));
      expect(await server.stop()).toBe(0);
      const restarted = ledgerEntries(dir).find((e) => e.kind === 'start' && e.seq > killedAt.seq)!;
      expect(restarted.epoch).toBeGreaterThan(killedAt.epoch + 1);
      const v = await verify(dir, key);
      expect(v.ledger).toMatch(
        new RegExp(`^ledger: gap in epochs \\[${killedAt.epoch + 1}[-,\\]]`),
      );
      expect(v.code).toBe(1);
    });
  },
);

describe(
  'a clean stop and restart, prune of a stopped server, and --rotate',
  { timeout: 90_000 },
  () => {
    let dir: string;
    let key: string;

    it('a clean stop and a restart later read as a pause: exit 0', async () => {
      dir = path.join(work, 'b');
      key = await init(dir);
      let server = await start(dir);
      expect((await ssh(server.port, keyFile, 'root', 'echo before')).code).toBe(0);
      expect(await server.stop()).toBe(0);
      const stop = ledgerEntries(dir).at(-1)!;
      expect(stop.kind).toBe('stop');
      await until(() => (Date.now() / 1000 >= stop.time + 3 ? true : undefined), 'downtime');
      server = await start(dir);
      expect((await ssh(server.port, keyFile, 'root', 'echo after')).code).toBe(0);
      await tickAfter(dir, lastSeq(dir));
      expect(await server.stop()).toBe(0);
      const restart = ledgerEntries(dir).find((e) => e.seq === stop.seq + 1)!;
      expect(restart.kind).toBe('start');
      expect(restart.epoch).toBeGreaterThan(stop.epoch + 2);
      const v = await verify(dir, key);
      expect(v.ledger).toMatch(/^ledger: ok, \d+ entries/);
      expect(Object.values(v.words)).toEqual([
        expect.stringMatching(/^ok /),
        expect.stringMatching(/^ok /),
      ]);
      expect(v.code).toBe(0);
    });

    it('prune on a stopped server writes its own start and stop', async () => {
      const before = lastSeq(dir);
      const [oldest] = recordings(dir).map(name);
      const r = await runCli(['prune', dir, '--older-than', '0s', '--max-total', '1G']);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/^pruned 2 recordings \(.*\), each sealed in the ledger; 0B left$/m);
      expect(recordings(dir)).toEqual([]);
      expect(kinds(dir).slice(before + 1)).toEqual(['start', 'prune', 'prune', 'stop']);
      const v = await verify(dir, key);
      expect(v.words[oldest!]).toBe('pruned');
      expect(v.code).toBe(0);
    });

    it('--rotate starts a new key and keeps the old ledger verifiable with the old key', async () => {
      const oldT0 = Number(key.split(':')[1]);
      const refused = await runCli(['seal', 'init', dir]);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(/already set up for sealing .*; --rotate starts a new key\n$/);
      const newKey = await init(dir, '--rotate');
      expect(newKey).not.toBe(key);
      expect(fs.existsSync(path.join(dir, `.sshcast/ledger-${oldT0}.jsonl`))).toBe(true);
      const server = await start(dir);
      expect((await ssh(server.port, keyFile, 'root', 'echo rotated')).code).toBe(0);
      expect(await server.stop()).toBe(0);
      const made = name(recordings(dir)[0]!);
      const old = await verify(dir, key);
      expect(old.code).toBe(0);
      expect(old.words[made]).toMatch(
        /^not-in-ledger header time \d+, after the ledger's last entry$/,
      );
      const now = await verify(dir, newKey);
      expect(now.words[made]).toMatch(/^ok /);
      expect(now.code).toBe(0);
    });
  },
);
