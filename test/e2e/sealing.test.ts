/**
 * Sealing on real recordings: `sshcast seal init`, the built example server sealing every second,
 * sessions from the real OpenSSH client, then `sshcast verify` (the built CLI under plain node)
 * on copies an attacker tampered with, each tampering first shown to have happened. Then the
 * forward-security attack (re-seal with the key the device holds now) against fss1 and against
 * a naive variant that signs with one fixed key, and the independent Python verifier.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../cli/helpers.js';
import {
  authorizedKey,
  execFileP,
  recordings,
  requireTool,
  ssh,
  startRecordingServer,
  tempDir,
  until,
} from '../helpers/e2e.js';
import { parseVerificationKey } from '../../src/sealing/key.js';
import { sealPaths } from '../../src/sealing/layout.js';
import { entryJson, nextPrev, ZERO_PREV, type FileEntry } from '../../src/sealing/ledger.js';
import { verifyDirectory } from '../../src/sealing/verify-directory.js';
import {
  castLines,
  chainThrough,
  ledgerEntries,
  rechain,
  sealWithDeviceKey,
  writeLedger,
} from '../sealing/attacker.js';

const PYTHON_VERIFIER = path.resolve(import.meta.dirname, '../sealing/verify_fss1.py');
let work: string;
let clean: string;
let key: string;
let first: string; // the first session's recording name
let second: string;
let copies = 0;

/** Runs `sshcast verify DIR --key KEY`: the exit code, each recording's line, the ledger's. */
async function verify(dir: string, withKey = key) {
  const r = await runCli(['verify', dir, '--key', withKey]);
  const lines = r.stdout.trimEnd().split('\n');
  const words = Object.fromEntries(
    lines
      .filter((l) => !l.startsWith('ledger: '))
      .map((l) => [l.slice(0, l.indexOf(': ')), l.slice(l.indexOf(': ') + 2)]),
  );
  return { code: r.code, words, ledger: lines.find((l) => l.startsWith('ledger: ')) ?? '', r };
}

/** A fresh copy of the clean directory. */
function copy(): string {
  const dir = path.join(work, `copy-${copies++}`);
  fs.cpSync(clean, dir, { recursive: true });
  return dir;
}

function entriesOf(dir: string, file: string): FileEntry[] {
  return ledgerEntries(dir).filter((e): e is FileEntry => 'file' in e && e.file === file);
}

beforeAll(async () => {
  requireTool('ssh');
  requireTool('python3');
  work = tempDir('seal-');
  const dir = path.join(work, 'rec');
  const init = await runCli(['seal', 'init', dir, '--interval', '1s']);
  expect(init.code).toBe(0);
  key = init.stdout.trim();
  expect(key).toMatch(/^sshcast-fss1:\d+:1:[0-9a-f]{64}$/);
  expect(init.stderr).toMatch(/store the verification key above OFF this device/);
  const { authorizedKeys, file } = await authorizedKey(work);
  const server = await startRecordingServer({
    dir,
    hostKey: path.join(work, 'host_key'),
    authorizedKeys,
  });
  try {
    await server.waitFor('sealing: on (interval 1s)');
    const a = await ssh(
      server.port,
      file,
      'root',
      'for i in 1 2 3 4 5; do echo "line $i"; sleep 0.3; done',
    );
    expect(a.code).toBe(0);
    const b = await ssh(server.port, file, 'root', 'echo hello; echo world');
    expect(b.code).toBe(0);
    [first, second] = recordings(dir).map((f) => path.basename(f)) as [string, string];
    // Let several intervals pass with both recordings closed.
    await until(() => {
      const e = ledgerEntries(dir);
      const closed = e.findIndex((x) => x.kind === 'close' && 'file' in x && x.file === second);
      return closed >= 0 && e.slice(closed).filter((x) => x.kind === 'tick').length >= 3
        ? true
        : undefined;
    }, 'three ticks after the last close');
  } finally {
    expect(await server.stop()).toBe(0);
  }
  clean = path.join(work, 'clean');
  fs.renameSync(dir, clean);
}, 120_000);

afterAll(() => {
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

describe('sshcast verify on recordings made over OpenSSH', () => {
  it('a clean directory verifies, with a seal mid-session', async () => {
    const kinds = entriesOf(clean, first).map((e) => e.kind);
    expect(kinds[0]).toBe('open');
    expect(kinds).toContain('seal');
    expect(kinds.at(-1)).toBe('close');
    const v = await verify(clean);
    expect(v.code).toBe(0);
    const lines = castLines(path.join(clean, first)).length;
    expect(v.words).toEqual({
      [first]: `ok sealed through line ${lines}`,
      [second]: `ok sealed through line ${castLines(path.join(clean, second)).length}`,
    });
    expect(v.ledger).toMatch(/^ledger: ok, \d+ entries; last tick \S+ \(\d+ s ago\)$/);
    expect(v.r.stderr).toBe('');
  });

  it('a flipped byte in an old line is found', async () => {
    const dir = copy();
    const file = path.join(dir, first);
    const data = fs.readFileSync(file);
    const at = castLines(file)[0]!.length + 12; // inside line 2
    data[at] = data[at]! ^ 0x01;
    fs.writeFileSync(file, data);
    expect(fs.readFileSync(file).equals(fs.readFileSync(path.join(clean, first)))).toBe(false);
    const v = await verify(dir);
    expect(v.code).toBe(1);
    expect(v.words[first]).toMatch(/^modified after line 1, at or before line \d+$/);
    expect(v.words[second]).toMatch(/^ok /);
  });

  it('a dropped line is found', async () => {
    const dir = copy();
    const file = path.join(dir, first);
    const lines = castLines(file);
    fs.writeFileSync(file, Buffer.concat([...lines.slice(0, 2), ...lines.slice(3)]));
    expect(castLines(file)).toHaveLength(lines.length - 1);
    const v = await verify(dir);
    expect(v.code).toBe(1);
    expect(v.words[first]).toMatch(/^modified after line [12], at or before line \d+$/);
  });

  it('two swapped lines are found', async () => {
    const dir = copy();
    const file = path.join(dir, first);
    const l = castLines(file);
    fs.writeFileSync(file, Buffer.concat([l[0]!, l[2]!, l[1]!, ...l.slice(3)]));
    expect(castLines(file)[1]!.equals(l[2]!)).toBe(true);
    const v = await verify(dir);
    expect(v.code).toBe(1);
    expect(v.words[first]).toMatch(/^modified after line 1, at or before line \d+$/);
  });

  it('a truncated recording is found', async () => {
    const dir = copy();
    const file = path.join(dir, first);
    const n = castLines(file).length;
    fs.truncateSync(file, fs.statSync(file).size - 10);
    expect(castLines(file).at(-1)!.at(-1)).not.toBe(10);
    const v = await verify(dir);
    expect(v.code).toBe(1);
    expect(v.words[first]).toBe(`truncated sealed ${n} lines, has ${n - 1}`);
  });

  it('a line appended after the close is found', async () => {
    const dir = copy();
    const file = path.join(dir, first);
    fs.appendFileSync(file, '[9.5,"o","rm -rf /\\r\\n"]\n');
    expect(fs.statSync(file).size).toBeGreaterThan(fs.statSync(path.join(clean, first)).size);
    const v = await verify(dir);
    expect(v.code).toBe(1);
    expect(v.words[first]).toBe('appended-after-close 1 lines after close');
  });

  it('a line appended and closed again with the device’s current key is found', async () => {
    const dir = copy();
    const file = path.join(dir, first);
    fs.appendFileSync(file, '[9.5,"o","innocent\\r\\n"]\n');
    const n = castLines(file).length;
    sealWithDeviceKey(
      dir,
      [{ kind: 'close', file: first, ...chainThrough(file, n) }],
      Math.floor(Date.now() / 1000),
    );
    expect(entriesOf(dir, first).filter((e) => e.kind === 'close')).toHaveLength(2);
    const v = await verify(dir);
    expect(v.ledger).toMatch(/^ledger: ok/); // every entry verifies: the key was the device's
    expect(v.code).toBe(1);
    expect(v.words[first]).toBe('appended-after-close an entry after its close');
  });

  it('a deleted recording is found', async () => {
    const dir = copy();
    fs.rmSync(path.join(dir, first));
    expect(fs.existsSync(path.join(dir, first))).toBe(false);
    const v = await verify(dir);
    expect(v.code).toBe(1);
    expect(v.words[first]).toBe('deleted');
    expect(v.words[second]).toMatch(/^ok /);
  });

  it('a removed ledger entry is found', async () => {
    const dir = copy();
    const ledger = sealPaths(dir).ledger;
    const lines = fs.readFileSync(ledger, 'utf8').split('\n');
    const seal = entriesOf(dir, first).find((e) => e.kind === 'seal')!;
    lines.splice(seal.seq, 1);
    fs.writeFileSync(ledger, lines.join('\n'));
    expect(ledgerEntries(dir).some((e) => e.seq === seal.seq)).toBe(false);
    const v = await verify(dir);
    expect(v.code).toBe(1);
    expect(v.ledger).toMatch(
      new RegExp(
        `^ledger: entry ${seal.seq}: seq ${seal.seq + 1}; ${seal.seq} of \\d+ entries verified`,
      ),
    );
    expect(v.words[first]).toBe('unverifiable it has entries at or after the one that fails');
  });

  it('an edited ledger entry, its prev chain recomputed, is found', async () => {
    const dir = copy();
    const file = path.join(dir, first);
    const lines = castLines(file);
    fs.writeFileSync(file, Buffer.concat(lines.slice(0, -2))); // hide the end of the session
    const all = ledgerEntries(dir);
    const close = all.find((e) => e.kind === 'close' && 'file' in e && e.file === first)!;
    const edited = all.map((e) =>
      e.seq === close.seq ? rechain(dir, { ...(e as FileEntry), lines: lines.length - 2 }) : e,
    );
    // Each line keeps its mac (the attacker has no key for these epochs); prev is relinked.
    const ledger = sealPaths(dir).ledger;
    const original = fs.readFileSync(ledger, 'utf8').split('\n');
    const rewritten: string[] = [];
    let prev = ZERO_PREV;
    for (let i = 0; i < all.length; i++) {
      const mac = /,"mac":"[0-9a-f]{64}"\}$/.exec(original[i]!)![0];
      const line = entryJson({ ...edited[i]!, prev }).slice(0, -1) + mac;
      rewritten.push(line);
      prev = nextPrev(Buffer.from(line));
    }
    fs.writeFileSync(ledger, rewritten.join('\n') + '\n');
    expect(entriesOf(dir, first).find((e) => e.kind === 'close')!.lines).toBe(lines.length - 2);
    const v = await verify(dir);
    expect(v.code).toBe(1);
    expect(v.ledger).toMatch(new RegExp(`^ledger: entry ${close.seq}: mac does not verify`));
    expect(v.words[first]).toBe('unverifiable it has entries at or after the one that fails');
  });
});

describe('forward security, as an attacker would try it', () => {
  it('re-sealing an edited recording with the device’s current key is found (gap, sealed-late)', async () => {
    const dir = copy();
    const file = path.join(dir, first);
    const lines = castLines(file);
    lines[2] = Buffer.from(lines[2]!.toString().replace('line 2', 'LINE 2'));
    fs.writeFileSync(file, Buffer.concat(lines));
    expect(fs.readFileSync(file, 'utf8')).toContain('LINE 2');
    // Cut the ledger before the recording's first entry; re-seal everything from there on.
    const all = ledgerEntries(dir);
    const from = entriesOf(dir, first)[0]!.seq;
    const ledger = sealPaths(dir).ledger;
    const kept = fs.readFileSync(ledger, 'utf8').split('\n').slice(0, from);
    fs.writeFileSync(ledger, kept.join('\n') + '\n');
    const now = Math.floor(Date.now() / 1000);
    sealWithDeviceKey(
      dir,
      all.slice(from).map((e) => {
        const r = rechain(dir, e);
        return 'file' in r
          ? { kind: r.kind, file: r.file, lines: r.lines, bytes: r.bytes, chain: r.chain }
          : { kind: r.kind as 'tick' };
      }),
      now,
    );
    // Every forged entry verifies on its own: seq, prev and mac are all valid.
    const v = await verify(dir);
    expect(v.ledger).toMatch(/^ledger: gap in epochs \[/);
    expect(v.words[first]).toMatch(/^sealed-late opened at \d+, first sealed at \d+$/);
    expect(v.code).toBe(1);
  });

  it('the same attack succeeds against a naive variant that signs with one fixed key', async () => {
    const dir = copy();
    const fixed = Buffer.alloc(32, 7); // the naive device's key, on the device for ever
    const naiveKey = { ...parseVerificationKey(key) };
    const all = ledgerEntries(dir);
    writeLedger(dir, all, () => fixed); // the naive device's ledger
    const naive = (d: string) => verifyDirectory(d, naiveKey, { keyFor: () => fixed });
    expect((await naive(dir)).exitCode).toBe(0);
    // The attack: edit an old line, re-seal every entry from the recording's first on, with the
    // key found on the device, keeping each entry's epoch and time.
    const file = path.join(dir, first);
    const lines = castLines(file);
    lines[2] = Buffer.from(lines[2]!.toString().replace('line 2', 'LINE 2'));
    fs.writeFileSync(file, Buffer.concat(lines));
    expect(fs.readFileSync(file, 'utf8')).toContain('LINE 2');
    writeLedger(
      dir,
      all.map((e) => rechain(dir, e)),
      () => fixed,
    );
    const r = await naive(dir);
    expect(r.exitCode).toBe(0);
    expect(r.ledger.gaps).toEqual([]);
    expect(r.recordings.find((x) => x.file === first)!.finding).toBe('ok');
    // fss1 refuses that very ledger: its entry 0 is not sealed with the real key.
    expect((await verify(dir)).code).toBe(1);
  });
});

describe('an independent verifier in Python, written from DESIGN section 7', () => {
  it('verifies the clean directory and finds a tampered one', async () => {
    const ok = await execFileP('python3', [PYTHON_VERIFIER, clean, key]);
    expect(ok.stdout).toContain(`${first}: ok`);
    expect(ok.stdout).toContain(`${second}: ok`);
    expect(ok.stdout).toMatch(/^ledger: ok, \d+ entries$/m);
    expect(ok.code).toBe(0);
    const dir = copy();
    const file = path.join(dir, first);
    fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace('line 3', 'line 9'));
    const bad = await execFileP('python3', [PYTHON_VERIFIER, dir, key]);
    expect(bad.stdout).toContain(`${first}: modified`);
    expect(bad.code).toBe(1);
  });
});
