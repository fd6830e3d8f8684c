/**
 * Shared end-to-end helpers: keys from the real ssh-keygen, the built example server
 * (dist/examples/server.js under plain node) on a free loopback port, and the real OpenSSH client.
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** The checkout (also when these helpers run built, from dist/test/helpers, as the benchmarks do). */
export const ROOT = path.basename(HERE) === 'dist' ? path.dirname(HERE) : HERE;
export const SERVER_JS = path.join(ROOT, 'dist/examples/server.js');

/** Fails (never skips) when a tool the test needs is missing. */
export function requireTool(name: string): void {
  const found = (process.env.PATH ?? '').split(':').some((d) => {
    try {
      fs.accessSync(path.join(d, name), fs.constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
  if (!found) throw new Error(`${name} is not installed (apt-get install it; .ci/run does)`);
}

// Not under /tmp, nor under the checkout (which may itself sit below /tmp): authorized_keys
// files must pass sshd's StrictModes, which refuses a path through a directory writable by others.
const TEMP_BASE =
  process.getuid?.() === 0 ? '/var/lib/sshcast-e2e' : path.join(os.homedir(), '.cache/sshcast-e2e');

/** A fresh directory (mode 0700) on a path of root-owned, not world-writable directories. */
export function tempDir(prefix = 't-'): string {
  fs.mkdirSync(TEMP_BASE, { recursive: true, mode: 0o755 });
  return fs.mkdtempSync(path.join(TEMP_BASE, prefix));
}

/**
 * The built example server at a path any account can reach, for tests that run it as an ordinary
 * account: the checkout itself when every directory above it lets others through, else a bind
 * mount of the checkout under the e2e temp base (CI may clone below a 0700 directory).
 * `release()` removes the mount.
 */
export function serverJsForOthers(): { serverJs: string; release: () => void } {
  let dir = ROOT;
  let reachable = true;
  for (;;) {
    if ((fs.statSync(dir).mode & 0o001) === 0) reachable = false;
    const up = path.dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  if (reachable) return { serverJs: SERVER_JS, release: () => {} };
  const mountPoint = tempDir('checkout-');
  fs.chmodSync(mountPoint, 0o755);
  execFileSync('mount', ['--bind', ROOT, mountPoint]);
  return {
    serverJs: path.join(mountPoint, path.relative(ROOT, SERVER_JS)),
    release: () => {
      execFileSync('umount', [mountPoint]);
      fs.rmdirSync(mountPoint);
    },
  };
}

/** Makes an ed25519 key pair with ssh-keygen; returns the private key path and the public line. */
export async function makeKey(
  dir: string,
  name = 'id_ed25519',
): Promise<{ file: string; pub: string }> {
  const file = path.join(dir, name);
  await execFileP('ssh-keygen', [
    '-q',
    '-t',
    'ed25519',
    '-N',
    '',
    '-C',
    `${name}@sshcast-test`,
    '-f',
    file,
  ]);
  return { file, pub: fs.readFileSync(`${file}.pub`, 'utf8').trim() };
}

export function execFileP(
  file: string,
  args: string[],
  options: { input?: string; timeout?: number; env?: NodeJS.ProcessEnv } = {},
) {
  return new Promise<{ stdout: string; stderr: string; code: number | null }>((resolve, reject) => {
    const child = execFile(
      file,
      args,
      { timeout: options.timeout ?? 30_000, env: options.env, maxBuffer: 64 * 2 ** 20 },
      (err, stdout, stderr) => {
        if (err && typeof (err as { code?: unknown }).code !== 'number') return reject(err);
        resolve({ stdout, stderr, code: err ? ((err as { code?: number }).code ?? 1) : 0 });
      },
    );
    if (options.input !== undefined) child.stdin!.end(options.input);
  });
}

/** A running example server. */
export interface ExampleServer {
  port: number;
  child: ChildProcess;
  /** Everything it printed so far, stdout and stderr. */
  output(): string;
  /** Resolves when a line containing `text` has been printed. */
  waitFor(text: string | RegExp, timeoutMs?: number): Promise<void>;
  /** SIGTERM and wait for exit; returns the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export interface ServerStart {
  args?: string[];
  env?: NodeJS.ProcessEnv;
  /** Resolve as soon as the process exits (for start-up failures) instead of waiting for listening. */
  expectExit?: boolean;
  /** A command the server runs under, such as `['setpriv', '--groups=1234', '--']`. */
  prefix?: string[];
  /** The server script to run (default the checkout's); see serverJsForOthers(). */
  serverJs?: string;
}

/** Where a recording server keeps its files: recordings, host key, and the keys it accepts. */
export interface RecordingServerFiles {
  dir: string;
  hostKey: string;
  authorizedKeys: string;
}

/**
 * Starts the example server with recording on (`TS_DEBUG_LOG_SSH=1`, unless `env` says otherwise)
 * into `dir`, its host key at `hostKey` and logins from `authorizedKeys`; `args` come after.
 */
export function startRecordingServer(
  options: RecordingServerFiles & ServerStart,
): Promise<ExampleServer> {
  const { dir, hostKey, authorizedKeys, ...start } = options;
  return startExampleServer({
    ...start,
    env: { TS_DEBUG_LOG_SSH: '1', ...start.env },
    args: [
      '--dir',
      dir,
      '--host-key',
      hostKey,
      '--authorized-keys',
      authorizedKeys,
      ...(start.args ?? []),
    ],
  });
}

/** An ed25519 key from ssh-keygen in `work`, authorized in `work/authorized_keys` (mode 0600). */
export async function authorizedKey(
  work: string,
): Promise<{ file: string; pub: string; authorizedKeys: string }> {
  const key = await makeKey(work);
  const authorizedKeys = path.join(work, 'authorized_keys');
  fs.writeFileSync(authorizedKeys, key.pub + '\n', { mode: 0o600 });
  return { ...key, authorizedKeys };
}

/**
 * Collects what `child` prints (stdout and stderr, whichever are pipes) and waits for text in it:
 * `waitFor` rejects after `timeoutMs`, or once the child exited without printing it.
 */
export function watchOutput(
  child: ChildProcess,
  who: string,
  exited: Promise<unknown>,
): { output(): string; waitFor(text: string | RegExp, timeoutMs?: number): Promise<void> } {
  let out = '';
  const waiters = new Set<() => void>();
  const onData = (d: Buffer) => {
    out += d.toString();
    for (const w of waiters) w();
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  const waitFor = (text: string | RegExp, timeoutMs = 20_000) =>
    new Promise<void>((resolve, reject) => {
      const check = () => {
        if (typeof text === 'string' ? out.includes(text) : text.test(out)) {
          waiters.delete(check);
          clearTimeout(timer);
          resolve();
        }
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`${who} did not print ${String(text)}; it printed:\n${out}`));
      }, timeoutMs);
      waiters.add(check);
      void exited.then(() => {
        check();
        if (waiters.has(check)) {
          waiters.delete(check);
          clearTimeout(timer);
          reject(new Error(`${who} exited before printing ${String(text)}:\n${out}`));
        }
      });
      check();
    });
  return { output: () => out, waitFor };
}

/** Starts `node dist/examples/server.js --host 127.0.0.1 --port 0 ARGS` and waits for `listening on`. */
export async function startExampleServer(options: ServerStart = {}): Promise<ExampleServer> {
  const env = { ...process.env, ...options.env };
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete env[k];
  const argv = [
    process.execPath,
    options.serverJs ?? SERVER_JS,
    '--host',
    '127.0.0.1',
    '--port',
    '0',
    ...(options.args ?? []),
  ];
  if (options.prefix) argv.unshift(...options.prefix);
  const child = spawn(argv[0]!, argv.slice(1), {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => resolve(code)),
  );
  const { output, waitFor } = watchOutput(child, 'server', exited);
  const server: ExampleServer = {
    port: 0,
    child,
    output,
    waitFor,
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
  if (options.expectExit) {
    await exited;
    return server;
  }
  await waitFor(/listening on 127\.0\.0\.1:\d+/);
  server.port = Number(/listening on 127\.0\.0\.1:(\d+)/.exec(output())![1]);
  return server;
}

/** The OpenSSH client options every test uses: no known_hosts, no agent, no prompts. */
export function sshOptions(port: number, key: string): string[] {
  return [
    '-p',
    String(port),
    '-i',
    key,
    '-o',
    'StrictHostKeyChecking=no',
    '-o',
    'UserKnownHostsFile=/dev/null',
    '-o',
    'GlobalKnownHostsFile=/dev/null',
    '-o',
    'BatchMode=yes',
    '-o',
    'IdentitiesOnly=yes',
    '-o',
    'IdentityAgent=none',
    '-o',
    'LogLevel=ERROR',
    '-F',
    '/dev/null',
  ];
}

/**
 * Runs the real `ssh` client; `args` follow the destination (`-tt` etc. go in `pre`, which comes
 * before the defaults of sshOptions, so that `-o LogLevel=INFO` there wins: ssh takes the first).
 */
export function ssh(
  port: number,
  key: string,
  user: string,
  command: string | undefined,
  options: { pre?: string[]; input?: string; timeout?: number } = {},
): Promise<{ stdout: Buffer; stderr: string; code: number | null }> {
  return new Promise((resolve, reject) => {
    const args = [
      ...(options.pre ?? []),
      ...sshOptions(port, key),
      `${user}@127.0.0.1`,
      ...(command !== undefined ? ['--', command] : []),
    ];
    const child = spawn('ssh', args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeout ?? 30_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ stdout: Buffer.concat(out), stderr: err, code });
    });
    if (options.input !== undefined) child.stdin.end(options.input);
    else child.stdin.end();
  });
}

/** The recordings in `dir` (full paths), oldest first by name. */
export function recordings(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.cast'))
    .sort()
    .map((f) => path.join(dir, f));
}

/** What wakes {@link until} to check again. */
export interface UntilOptions {
  /** Give up after this many milliseconds. Default 15000. */
  timeout?: number;
  /** A file or directory: check again whenever inotify reports a change in it. */
  watch?: string;
  /** Emitters and event names: check again whenever one fires (a child's output, say). */
  on?: [NodeJS.EventEmitter, string][];
}

/**
 * Waits (bounded) until `check()` returns a value other than undefined. With `watch` or `on` it
 * checks again when something changed, an event, never a timer; without, it polls every 20 ms,
 * for what no event announces (another process's exit, read from /proc).
 */
export function until<T>(
  check: () => T | undefined,
  what: string,
  options: number | UntilOptions = {},
): Promise<T> {
  const o = typeof options === 'number' ? { timeout: options } : options;
  const timeoutMs = o.timeout ?? 15_000;
  const evented = o.watch !== undefined || (o.on?.length ?? 0) > 0;
  return new Promise<T>((resolve, reject) => {
    let pending = false;
    const cleanups: (() => void)[] = [];
    const done = (err: Error | undefined, value?: T) => {
      for (const c of cleanups.splice(0)) c();
      if (err) reject(err);
      else resolve(value!);
    };
    const attempt = () => {
      pending = false;
      let v: T | undefined;
      try {
        v = check();
      } catch (err) {
        return done(err as Error);
      }
      if (v !== undefined) done(undefined, v);
    };
    // Several events in one turn (a file being written) make one check.
    const wake = () => {
      if (pending) return;
      pending = true;
      setImmediate(attempt);
    };
    const timer = setTimeout(() => done(new Error(`timed out waiting for ${what}`)), timeoutMs);
    cleanups.push(() => clearTimeout(timer));
    if (o.watch !== undefined) {
      const watcher = fs.watch(o.watch, { persistent: false }, wake);
      watcher.on('error', (err) => done(err));
      cleanups.push(() => watcher.close());
    }
    for (const [emitter, event] of o.on ?? []) {
      emitter.on(event, wake);
      cleanups.push(() => emitter.off(event, wake));
    }
    if (!evented) {
      const poll = setInterval(wake, 20);
      cleanups.push(() => clearInterval(poll));
    }
    attempt();
  });
}

/** The parsed lines of a finished recording (one with its `x` event). */
export function readCast(file: string): {
  header: Record<string, unknown>;
  events: [number, string, string][];
  text: string;
} {
  const text = fs.readFileSync(file, 'utf8');
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  return {
    header: JSON.parse(lines[0]!) as Record<string, unknown>,
    events: lines.slice(1).map((l) => JSON.parse(l) as [number, string, string]),
    text,
  };
}

/** Resolves when `file` is finished (ends with an `x` event line). */
export function finished(file: string): Promise<ReturnType<typeof readCast>> {
  return until(
    () => {
      const text = fs.readFileSync(file, 'utf8');
      return /\n\[[0-9.]+,"x","-?[0-9]+"\]\n$/.test(text) ? readCast(file) : undefined;
    },
    `${file} to be finished`,
    { watch: file },
  );
}

/** Resolves with the first recording in `dir` not among `before`, once there is one. */
export function recordingAfter(dir: string, before: readonly string[] = []): Promise<string> {
  return until(() => recordings(dir).find((f) => !before.includes(f)), `a recording in ${dir}`, {
    watch: dir,
  });
}

/** Output text of a recording (all `o` events joined). */
export function outputOf(cast: { events: [number, string, string][] }): string {
  return cast.events
    .filter((e) => e[1] === 'o')
    .map((e) => e[2])
    .join('');
}

/** Resolves once something accepts TCP connections on 127.0.0.1:`port` (bounded). */
export async function waitForPort(port: number, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const open = await new Promise<boolean>((resolve) => {
      const c = net.connect(port, '127.0.0.1', () => {
        c.destroy();
        resolve(true);
      });
      c.on('error', () => resolve(false));
    });
    if (open) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on port ${port}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
