/**
 * What a login costs: the real OpenSSH client logging in as a throwaway account (keys in its own
 * ~/.ssh/authorized_keys) to the example server and, as the reference, to Debian's sshd with
 * `UsePAM yes`, on 127.0.0.1. Three measures, each the median of interleaved runs: `ssh -tt host
 * true`, `ssh host true`, and the time from starting `ssh -tt host` to the shell's first prompt;
 * sshcast with PAM's fallback service (`other`) and with the file it ships. Then the pieces: the
 * account stage, and an authorized_keys file read as the account rather than as the server.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { loadAuthorizedKeys } from '../src/ssh/authorized-keys-file.js';
import { loadAuthorizedKeysAs } from '../src/ssh/keys-as-user.js';
import { accountStage } from '../src/ssh/pam.js';
import { createAccount, type TestAccount } from '../test/helpers/accounts.js';
import { makeKey, sshOptions } from '../test/helpers/e2e.js';
import { installTestPamService, type TestPamService } from '../test/helpers/pam.js';
import { startSshd, type ReferenceSshd } from '../test/helpers/sshd.js';
import { benchWorkDir, startBenchServer, type BenchServer } from './example-server.js';

export const title = 'Login: time to a first prompt, sshcast vs sshd';

const RUNS = Number(process.env.SSHCAST_BENCH_RUNS ?? 11);
const PROMPT = 'ready$ ';

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** Milliseconds from spawning `ssh ARGS` until `done(output)` holds (or it exits). */
function timeSsh(args: string[], done?: (out: string) => boolean): Promise<number> {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const child = spawn('ssh', args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let reached: number | undefined;
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (reached === undefined && done?.(out)) {
        reached = Number(process.hrtime.bigint() - start) / 1e6;
        child.stdin.end('exit\n');
      }
    });
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      const total = Number(process.hrtime.bigint() - start) / 1e6;
      if (done && reached === undefined) return reject(new Error(`no prompt; ssh said: ${out}`));
      if (!done && code !== 0) return reject(new Error(`ssh exited ${code}: ${out}`));
      resolve(reached ?? total);
    });
    if (!done) child.stdin.end();
  });
}

async function timed(f: () => Promise<unknown>): Promise<number> {
  const t: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const start = process.hrtime.bigint();
    await f();
    t.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  return median(t);
}

export async function run(): Promise<string> {
  if (process.getuid?.() !== 0) return 'Skipped: needs root (a throwaway account, and sshd).';
  const work = benchWorkDir('login');
  const key = fs.existsSync(path.join(work, 'id_ed25519'))
    ? {
        file: path.join(work, 'id_ed25519'),
        pub: fs.readFileSync(path.join(work, 'id_ed25519.pub'), 'utf8').trim(),
      }
    : await makeKey(work);
  let account: TestAccount | undefined;
  let pam: TestPamService | undefined;
  const servers: BenchServer[] = [];
  let sshd: ReferenceSshd | undefined;
  try {
    account = createAccount({ prefix: 'shc-bench-' });
    account.authorize(key.pub);
    fs.appendFileSync(path.join(account.home, '.bashrc'), `PS1='${PROMPT}'\n`);
    pam = installTestPamService({ calls: false });
    const start = (service: string, name: string) =>
      startBenchServer({
        recording: true,
        dir: path.join(work, name),
        work,
        args: ['--keepalive', '0', '--pam-service', service],
      });
    // A service name with no file: PAM falls back to /etc/pam.d/other.
    servers.push(await start('sshcast-bench-none', 'rec-other'));
    servers.push(await start(pam.name, 'rec-shipped'));
    sshd = await startSshd();
    const targets: Record<string, number> = {
      'sshcast, PAM `other`': servers[0]!.port,
      'sshcast, the shipped PAM file': servers[1]!.port,
      'sshd (Debian, `UsePAM yes`)': sshd.port,
    };
    const times: Record<string, Record<string, number[]>> = {};
    for (let i = 0; i < RUNS; i++) {
      for (const [name, port] of Object.entries(targets)) {
        const base = [...sshOptions(port, key.file), `${account.name}@127.0.0.1`];
        const t = (times[name] ??= { pty: [], exec: [], prompt: [] });
        t.pty!.push(await timeSsh(['-tt', ...base, 'true']));
        t.exec!.push(await timeSsh([...base, 'true']));
        t.prompt!.push(await timeSsh(['-tt', ...base], (out) => out.includes(PROMPT)));
      }
    }
    const row = (name: string) => {
      const t = times[name]!;
      return `| ${name} | ${median(t.pty!).toFixed(0)} ms | ${median(t.exec!).toFixed(0)} ms | ${median(t.prompt!).toFixed(0)} ms |`;
    };
    const keys = path.join(account.home, '.ssh/authorized_keys');
    const policy = { owners: [account.uid], stopAt: account.home };
    const a = account;
    const pieces = {
      account: await timed(() => accountStage(pam!.name, a.name, '127.0.0.1')),
      server: await timed(() => loadAuthorizedKeys(keys, policy)),
      asUser: await timed(() => loadAuthorizedKeysAs(a, keys, policy)),
    };
    return [
      `A throwaway account (bash, keys in its own ~/.ssh/authorized_keys), the OpenSSH client on 127.0.0.1; the example server recording; sshd with Debian's defaults and \`UsePAM yes\` (the \`sshd\` PAM service). Median of ${RUNS} interleaved runs.`,
      '',
      '| server | `ssh -tt host true` | `ssh host true` | `ssh -tt host` to first prompt |',
      '|---|---|---|---|',
      ...Object.keys(targets).map(row),
      '',
      `Pieces (median of ${RUNS}): PAM's account stage (a perl helper with Authen::PAM, the shipped file) ${pieces.account.toFixed(1)} ms once per login; an authorized_keys file read as the account (a helper process) ${pieces.asUser.toFixed(1)} ms, as the server ${pieces.server.toFixed(2)} ms, once per login name.`,
    ].join('\n');
  } finally {
    for (const server of servers) await server.stop();
    await sshd?.stop();
    account?.remove();
    pam?.remove();
  }
}
