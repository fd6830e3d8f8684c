/**
 * A test-only PAM service: the file sshcast ships (examples/pam.d/sshcast) installed as
 * `/etc/pam.d/sshcast-test-<random>`, with pam_nologin and pam_limits pointed at files in a temp
 * dir of its own, so tests exercise the real stack without touching /etc/nologin or
 * /etc/security/limits.conf. `remove()` deletes both.
 */
import fs from 'node:fs';
import path from 'node:path';
import { randomName } from './accounts.js';
import { ROOT, tempDir } from './e2e.js';

/** The PAM file sshcast ships for sites to install. */
export const SHIPPED_PAM_FILE = path.join(ROOT, 'examples/pam.d/sshcast');

/** An installed test PAM service. */
export interface TestPamService {
  /** The service name (`--pam-service`, `pam: { service }`). */
  name: string;
  /** pam_nologin's file: while it exists, non-root logins are refused with its text. */
  nologin: string;
  /** pam_limits' configuration file (limits.conf syntax), empty at first. */
  limits: string;
  /**
   * What pam_exec saw, one line per call of the account and session stages:
   * `PAM_TYPE PAM_USER PAM_RHOST PAM_TTY` (`account bob 127.0.0.1 ssh`, `open_session …`).
   */
  calls(): string[];
  remove(): void;
}

/**
 * Installs a test service from the shipped file. Needs root. With `calls` (the default), pam_exec
 * records each stage's call; without, the service is the shipped file alone (for benchmarks).
 */
export function installTestPamService(options: { calls?: boolean } = {}): TestPamService {
  const shipped = fs.readFileSync(SHIPPED_PAM_FILE, 'utf8');
  const dir = tempDir('pam-');
  fs.chmodSync(dir, 0o755);
  const nologin = path.join(dir, 'nologin');
  const limits = path.join(dir, 'limits.conf');
  fs.writeFileSync(limits, '', { mode: 0o644 });
  const log = path.join(dir, 'calls');
  const recorder = path.join(dir, 'record-call');
  fs.writeFileSync(
    recorder,
    `#!/bin/sh\necho "$PAM_TYPE $PAM_USER $PAM_RHOST $PAM_TTY" >> ${log}\n`,
    { mode: 0o755 },
  );
  const text = shipped
    .replace(/^(account\s+required\s+pam_nologin\.so)\s*$/m, `$1 file=${nologin}`)
    .replace(/^(session\s+required\s+pam_limits\.so)\s*$/m, `$1 conf=${limits}`);
  if (!text.includes(`file=${nologin}`) || !text.includes(`conf=${limits}`))
    throw new Error(`${SHIPPED_PAM_FILE} has no pam_nologin or pam_limits line to point elsewhere`);
  const calls =
    options.calls === false
      ? ''
      : `account optional pam_exec.so quiet ${recorder}\nsession optional pam_exec.so quiet ${recorder}\n`;
  const name = randomName('sshcast-test-');
  const file = path.join('/etc/pam.d', name);
  fs.writeFileSync(file, text + calls, { mode: 0o644, flag: 'wx' });
  return {
    name,
    nologin,
    limits,
    calls: () =>
      fs.existsSync(log) ? fs.readFileSync(log, 'utf8').split('\n').filter(Boolean) : [],
    remove: () => {
      fs.rmSync(file, { force: true });
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
