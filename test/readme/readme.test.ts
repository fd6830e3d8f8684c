/**
 * Every code block of README.md, run as a reader would run it.
 *
 * The reader's project: `npm pack` makes the package's tarball, and `npm install` puts it into a
 * fresh directory, offline (the package's dependencies, and vitest, are linked from this
 * checkout's node_modules first, so npm has nothing to fetch and node-pty is not rebuilt). Then
 * the README's files are written and its commands run, in order: ssh-keygen, the ssh2 server
 * (recording, as root), the real OpenSSH client logging in as a throwaway account whose own
 * ~/.ssh/authorized_keys holds the key, `npx sshcast ls`, and vitest on the testing example.
 *
 * The checkout's blocks: `npm start` and `npx sshcast` run what package.json says they run (the
 * built server and CLI), in a scratch directory so that the checkout stays clean; `npm install`
 * and `npm test` are checked to be what the README says (running the suite from inside itself
 * would recurse).
 *
 * Each command must match one of the steps below: a command no step knows fails the test, as does
 * a code block that is neither a file nor commands (blocks.ts).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, makeKey, readCast, recordings, requireTool, ssh, tempDir } from '../helpers/e2e.js';
import { codeBlocks, commands, type CodeBlock } from './blocks.js';

interface PackageJson {
  version: string;
  scripts: Record<string, string>;
  bin: Record<string, string>;
  dependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
}

/** What `npm install` puts beside the package: its dependencies and its required peers. */
function installedWith(p: PackageJson): string[] {
  const peers = Object.keys(p.peerDependencies ?? {}).filter(
    (name) => !p.peerDependenciesMeta?.[name]?.optional,
  );
  return [...Object.keys(p.dependencies ?? {}), ...peers];
}
const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as PackageJson;
const blocks = codeBlocks(fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8'));
const USER = `sshcast-m${Math.random().toString(36).slice(2, 7)}`;
// node's own directory first on PATH, as an npm user has it; plain text out; no CI variable.
const ENV: NodeJS.ProcessEnv = {
  ...process.env,
  PATH: `${path.dirname(process.execPath)}:${process.env.PATH}`,
  NO_COLOR: '1',
};
delete ENV.CI;
delete ENV.FORCE_COLOR;

let work: string;
let key: { file: string; pub: string };
const servers: ChildProcess[] = [];

beforeAll(async () => {
  for (const tool of ['ssh', 'ssh-keygen', 'useradd', 'npm']) requireTool(tool);
  work = tempDir('readme-');
  execFileSync('useradd', ['-m', '-s', '/bin/bash', USER]);
  const home = execFileSync('getent', ['passwd', USER], { encoding: 'utf8' }).split(':')[5]!;
  key = await makeKey(work);
  fs.mkdirSync(path.join(home, '.ssh'), { mode: 0o700 });
  fs.writeFileSync(path.join(home, '.ssh/authorized_keys'), key.pub + '\n', { mode: 0o600 });
  execFileSync('chown', ['-R', `${USER}:`, path.join(home, '.ssh')]);
}, 60_000);

afterAll(() => {
  for (const s of servers) s.kill('SIGKILL');
  try {
    execFileSync('userdel', ['-r', USER], { stdio: 'ignore' });
  } catch {
    /* not created */
  }
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

interface Result {
  stdout: string;
  stderr: string;
  code: number | null;
}

/** Runs `argv` in `cwd` to its end. */
function run(argv: string[], cwd: string, env = ENV, timeout = 60_000): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeout);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ stdout, stderr, code });
    });
  });
}

/** Starts a server and resolves with its port once it prints `listening on`. */
function startServer(argv: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<number> {
  const child = spawn(argv[0]!, argv.slice(1), { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  servers.push(child);
  let out = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "listening on" line:\n${out}`)), 20_000);
    const onData = (d: Buffer) => {
      out += d.toString();
      const m = /listening on 127\.0\.0\.1:(\d+)/.exec(out);
      if (!m) return;
      clearTimeout(timer);
      resolve(Number(m[1]));
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the server exited (${code}) before listening:\n${out}`));
    });
  });
}

/** The throwaway account logs in with the README's ssh line, and runs one command. */
async function login(port: number, dir: string): Promise<void> {
  const r = await ssh(port, key.file, USER, 'whoami; exit 5');
  expect(r.stdout.toString()).toBe(`${USER}\n`);
  expect(r.code).toBe(5);
  // The recording is finished (its x written, its file closed) before the client gets the status.
  const [file] = recordings(dir);
  const cast = readCast(file!);
  expect(cast.header.localUser).toBe(USER);
  const output = cast.events.filter((e) => e[1] === 'o').map((e) => e[2]);
  expect(output.join('')).toBe(`${USER}\n`);
  expect(cast.events.at(-1)).toEqual([expect.any(Number), 'x', '5']);
}

/** What `sshcast ls` shows for that one session. */
function expectListing(r: Result): void {
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  expect(r.stdout).toMatch(/^FILE +START +DURATION +SIZE +USER +EXIT +STATUS +COMMAND\n/);
  const row = `^ssh-session-\\d+-\\w+\\.cast .* ${USER} +5 +ok +whoami; exit 5$`;
  expect(r.stdout).toMatch(new RegExp(row, 'm'));
}

/** The `npm pack` file list, once packed. */
let packedFiles: string[] = [];

/** Puts the checkout's installed `dep` into `project`'s node_modules, as npm would install it. */
function linkFromCheckout(project: string, dep: string): void {
  const link = path.join(project, 'node_modules', dep);
  fs.mkdirSync(path.dirname(link), { recursive: true });
  fs.symlinkSync(path.join(ROOT, 'node_modules', dep), link);
}

/** Packs this checkout and installs the tarball into `project`, offline. */
async function installPackage(project: string): Promise<void> {
  const pack = await run(
    ['npm', 'pack', '--ignore-scripts', '--json', '--pack-destination', work],
    ROOT,
  );
  expect(pack.code, pack.stderr).toBe(0);
  const [info] = JSON.parse(pack.stdout) as { filename: string; files: { path: string }[] }[];
  packedFiles = info!.files.map((f) => f.path);
  // What npm would fetch, linked from this checkout: the same versions, already built.
  for (const dep of installedWith(pkg)) linkFromCheckout(project, dep);
  const install = await run(
    // --ignore-scripts: npm would run a linked package's prepare (node-pty's rebuilds its lib/
    // inside this checkout); the package itself has no install script.
    [
      'npm',
      'install',
      '--offline',
      '--ignore-scripts',
      '--no-audit',
      '--no-fund',
      path.join(work, info!.filename),
    ],
    project,
  );
  expect(install.code, install.stderr).toBe(0);
  const installed = path.join(project, 'node_modules/sshcast/package.json');
  expect((JSON.parse(fs.readFileSync(installed, 'utf8')) as PackageJson).version).toBe(pkg.version);
}

/** A missing host key is one line naming the fix, with no stack trace. */
async function withoutHostKey(project: string): Promise<void> {
  const empty = path.join(work, 'no-host-key');
  fs.mkdirSync(empty);
  const r = await run([process.execPath, path.join(project, 'server.mjs')], empty);
  expect(r.code).toBe(1);
  expect(r.stderr).toBe(
    "server.mjs: no ./host_key; make one: ssh-keygen -t ed25519 -N '' -f host_key\n",
  );
}

/** One README command, and what running it must show. */
interface Step {
  command: RegExp;
  run(match: RegExpExecArray, cwd: string): Promise<void>;
}

interface Session {
  port?: number;
}

function projectSteps(session: Session): Step[] {
  return [
    { command: /^npm install sshcast$/, run: (_m, cwd) => installPackage(cwd) },
    {
      command: /^ssh-keygen .*-f host_key$/,
      run: async (m, cwd) => {
        const r = await run(['sh', '-c', m[0]], cwd);
        expect(r.code, r.stderr).toBe(0);
        expect(fs.existsSync(path.join(cwd, 'host_key'))).toBe(true);
      },
    },
    {
      command: /^TS_DEBUG_LOG_SSH=1 node server\.mjs$/,
      run: async (_m, cwd) => {
        await withoutHostKey(cwd);
        // PORT: the example's own override of 2222, so that the test takes a free port.
        const env = { ...ENV, TS_DEBUG_LOG_SSH: '1', PORT: '0' };
        session.port = await startServer([process.execPath, 'server.mjs'], cwd, env);
      },
    },
    {
      command: /^ssh -p 2222 \$USER@127\.0\.0\.1$/,
      run: (_m, cwd) => login(session.port!, path.join(cwd, 'recordings')),
    },
    {
      command: /^npx sshcast ls \.\/recordings$/,
      run: async (m, cwd) => expectListing(await run(['sh', '-c', `${m[0]}`], cwd)),
    },
    {
      // The checkout's vitest, recorded in package.json as `npm install -D vitest` would.
      command: /^npm install -D vitest$/,
      run: async (_m, cwd) => {
        linkFromCheckout(cwd, 'vitest');
        const version = (
          JSON.parse(
            fs.readFileSync(path.join(ROOT, 'node_modules/vitest/package.json'), 'utf8'),
          ) as PackageJson
        ).version;
        const r = await run(['npm', 'pkg', 'set', `devDependencies.vitest=^${version}`], cwd);
        expect(r.code, r.stderr).toBe(0);
      },
    },
    {
      command: /^npx vitest run greeter\.test\.mjs$/,
      run: async (m, cwd) => {
        const r = await run(['sh', '-c', m[0]], cwd);
        expect(r.code, r.stdout + r.stderr).toBe(0);
        expect(r.stdout).toMatch(/Tests +2 passed/);
      },
    },
  ];
}

function checkoutSteps(session: Session): Step[] {
  const script = (name: string) => {
    expect(pkg.scripts[name], `package.json has no "${name}" script`).toBeDefined();
    return pkg.scripts[name]!;
  };
  return [
    { command: /^npm install$/, run: async () => expect(script('prepare')).toMatch(/build/) },
    {
      command: /^npm start$/,
      run: async () => expect(script('start')).toMatch(/^node dist\/examples\/server\.js$/),
    },
    {
      command: /^npm test$/,
      run: async () => {
        expect(script('test')).toMatch(/^vitest run$/);
        expect(script('test:unit')).toMatch(/^vitest run --project unit$/);
      },
    },
    {
      command: /^TS_DEBUG_LOG_SSH=1 npm start -- (.*)$/,
      run: async (m, cwd) => {
        const [, server] = /^node (\S+)$/.exec(script('start'))!;
        const argv = [process.execPath, path.join(ROOT, server!), ...m[1]!.split(' ')];
        const env = { ...ENV, TS_DEBUG_LOG_SSH: '1' };
        session.port = await startServer([...argv, '--port', '0'], cwd, env);
      },
    },
    {
      command: /^ssh -p 2222 \$USER@127\.0\.0\.1$/,
      run: (_m, cwd) => login(session.port!, path.join(cwd, 'recordings')),
    },
    {
      command: /^npx sshcast (.*)$/,
      run: async (m, cwd) => {
        const cli = [process.execPath, path.join(ROOT, pkg.bin.sshcast!)];
        expectListing(await run([...cli, ...m[1]!.split(' ')], cwd));
      },
    },
  ];
}

/** Writes the file blocks and runs the command blocks of one kind, in README order. */
async function follow(kind: 'project' | 'checkout', cwd: string): Promise<number> {
  const session: Session = {};
  const steps = kind === 'project' ? projectSteps(session) : checkoutSteps(session);
  let ran = 0;
  const mine = (b: CodeBlock) =>
    'run' in b.kind ? b.kind.run === kind : kind === 'project' && 'file' in b.kind;
  for (const block of blocks.filter(mine)) {
    if ('file' in block.kind) {
      fs.writeFileSync(path.join(cwd, block.kind.file), block.body);
      continue;
    }
    for (const command of commands(block)) {
      const step = steps.find((s) => s.command.test(command));
      if (!step) throw new Error(`README.md:${block.line}: no test step runs "${command}"`);
      await step.run(step.command.exec(command)!, cwd);
      ran++;
    }
  }
  return ran;
}

describe('the README, pasted into a fresh project', () => {
  it('installs the packed package, runs the ssh2 server with OpenSSH, lists, and tests', async () => {
    const project = path.join(work, 'project');
    fs.mkdirSync(project);
    fs.writeFileSync(path.join(project, 'package.json'), '{ "private": true }\n');
    expect(await follow('project', project)).toBe(7);
  }, 120_000);

  it('ships what the README and docs link to, and no source map naming files it does not ship', () => {
    const pages = ['README.md', ...fs.readdirSync(path.join(ROOT, 'docs')).map((f) => `docs/${f}`)];
    for (const page of pages) {
      expect(packedFiles).toContain(page);
      const text = fs.readFileSync(path.join(ROOT, page), 'utf8');
      for (const [, target] of text.matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)) {
        if (/^[a-z]+:/.test(target!)) continue; // https:, mailto:
        const file = path.normalize(path.join(path.dirname(page), target!));
        if (file.endsWith('/') || fs.statSync(path.join(ROOT, file)).isDirectory()) continue;
        expect(packedFiles, `${page} links to ${target}`).toContain(file);
      }
    }
    // Source maps name src/*.ts, which the package does not ship: stack frames would point at
    // files a user does not have.
    expect(packedFiles.filter((f) => f.endsWith('.map'))).toEqual([]);
  });

  it("a wait that fails names the user's test line, before vitest's own 5 s timeout", async () => {
    const project = path.join(work, 'project');
    fs.writeFileSync(
      path.join(project, 'wait.test.mjs'),
      `import { expect, it } from 'vitest';
import { fakeSession } from 'sshcast/testing';

it('waits with the default timeout', async () => {
  const s = fakeSession();
  s.session.on('pty', (accept) => accept?.());
  s.session.on('shell', (accept) => accept());
  const ch = await s.shell();
  await ch.waitForOutput('never');
});
`,
    );
    const r = await run(['sh', '-c', 'npx vitest run wait.test.mjs'], project);
    expect(r.code).toBe(1);
    const out = r.stdout + r.stderr;
    expect(out).toMatch(/waitForOutput\("never"\): no match within 4000 ms/);
    expect(out).not.toMatch(/Test timed out/);
    // The code frame vitest prints is the test's own line.
    expect(out).toMatch(/❯ wait\.test\.mjs:9:\d+/);
  }, 60_000);
});

describe("the README's commands in a checkout", () => {
  it('npm start records a login over OpenSSH, and npx sshcast ls lists it', async () => {
    const scratch = path.join(work, 'checkout');
    fs.mkdirSync(scratch);
    expect(await follow('checkout', scratch)).toBe(6);
  }, 60_000);
});
