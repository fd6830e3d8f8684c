/**
 * The reference: Debian's OpenSSH sshd (openssh-server) on a free loopback port, with a private
 * configuration, host key and PidFile in a temp dir and `UsePAM yes` (the `sshd` PAM service),
 * so that "as sshd does" is measured on this machine rather than assumed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { execFileP, tempDir, watchOutput } from './e2e.js';

export const SSHD = '/usr/sbin/sshd';

/** A running reference sshd. */
export interface ReferenceSshd {
  port: number;
  /** Its temp dir (config, host key, pid file). */
  dir: string;
  /** What it logged so far (`-e`: its log goes to stderr). */
  log(): string;
  /** Resolves once its log matches `pattern` (bounded). */
  waitForLog(pattern: RegExp, timeoutMs?: number): Promise<void>;
  /** Stops the listener (sessions already open are their own processes) and removes its dir. */
  stop(): Promise<void>;
}

/** Throws unless Debian's sshd is installed: a test that needs it fails, never skips. */
export function requireSshd(): void {
  try {
    fs.accessSync(SSHD, fs.constants.X_OK);
  } catch {
    throw new Error(`${SSHD} is not installed (apt-get install openssh-server; .ci/run does)`);
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/**
 * Starts `sshd -D -e -f CONFIG`: public keys from each account's `~/.ssh/authorized_keys` only,
 * PAM on, Debian's defaults otherwise (`PrintMotd no`, since pam_motd prints it; `AcceptEnv LANG
 * LC_*`). `config` lines come first, so they override these. Needs root (and creates /run/sshd, its privilege
 * separation directory, when missing, as the package does at boot).
 */
export async function startSshd(config: string[] = []): Promise<ReferenceSshd> {
  requireSshd();
  fs.mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  const dir = tempDir('sshd-');
  const hostKey = path.join(dir, 'host_ed25519');
  await execFileP('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', hostKey]);
  // Another process may take the port between our probe and sshd's bind: try a few.
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    const file = path.join(dir, 'sshd_config');
    fs.writeFileSync(
      file,
      [
        // First: sshd takes the first value it reads for each keyword.
        ...config,
        `ListenAddress 127.0.0.1:${port}`,
        `HostKey ${hostKey}`,
        `PidFile ${path.join(dir, 'sshd.pid')}`,
        'UsePAM yes',
        'PubkeyAuthentication yes',
        'PasswordAuthentication no',
        'KbdInteractiveAuthentication no',
        'AuthorizedKeysFile .ssh/authorized_keys',
        'StrictModes yes',
        'PrintMotd no',
        'AcceptEnv LANG LC_*',
        'LogLevel VERBOSE',
        '',
      ].join('\n'),
    );
    const child = spawn(SSHD, ['-D', '-e', '-f', file], { stdio: ['ignore', 'ignore', 'pipe'] });
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const { output, waitFor } = watchOutput(child, 'sshd', exited);
    try {
      await waitFor(/Server listening on 127\.0\.0\.1 port \d+/, 15_000);
    } catch (err) {
      if (attempt < 3 && /Address already in use/.test(output())) continue;
      throw err;
    }
    return {
      port,
      dir,
      log: output,
      waitForLog: (pattern, timeoutMs = 15_000) => waitFor(pattern, timeoutMs),
      stop: async () => stopSshd(child, exited, dir),
    };
  }
}

async function stopSshd(child: ChildProcess, exited: Promise<void>, dir: string): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  await exited;
  fs.rmSync(dir, { recursive: true, force: true });
}
