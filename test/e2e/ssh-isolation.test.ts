/**
 * Isolation between sessions and the account, wholly (issue 8), against the built example
 * server and the real OpenSSH client. Each attack is first shown working against a naive server
 * (node-pty spawning shells directly, with its uid/gid options), then failing against sshcast.
 * The server runs with a supplementary group of its own, so inheriting the server's groups shows.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import {
  ROOT,
  execFileP,
  finished,
  makeKey,
  recordingAfter,
  recordings,
  requireTool,
  ssh,
  sshOptions,
  serverJsForOthers,
  startExampleServer,
  tempDir,
  until,
  type ExampleServer,
} from '../helpers/e2e.js';

const suffix = Math.random().toString(36).slice(2, 7);
const USER = `sshcast-u${suffix}`;
const GROUPS = [`sshcast-a${suffix}`, `sshcast-b${suffix}`];
const SERVER_GROUP = `sshcast-s${suffix}`;
let serverGid = 0;
let uid = 0;
let gid = 0;
let home = '';
let work: string;
let dir: string;
let rootKey: { file: string; pub: string };
let userKey: { file: string; pub: string };
let server: ExampleServer;
const clients: ChildProcess[] = [];

// Prints the account's groups and terminal, lists its descriptors above 2, and writes a command
// into every pty master it finds: the attack from node-pty #657.
function attackScript(pwned: string): string {
  return [
    'echo "groups=$(id -Gn)"',
    'echo "tty=$(stat -c "%U %G %a" "$(tty)" 2>/dev/null)"',
    `perl -e 'opendir(D, "/proc/self/fd"); my @fds = grep { /^\\d+$/ && $_ > 2 } readdir D; closedir D;` +
      ` for my $fd (@fds) { my $l = readlink("/proc/self/fd/$fd") // "gone"; next if $l eq "gone";` +
      ` print "fd $fd -> $l\\n"; if ($l eq "/dev/ptmx") { if (open(my $h, ">&=", $fd)) { syswrite($h, "touch ${pwned}\\n") and print "injected $fd\\n" } } }'`,
    'echo done',
  ].join('; ');
}

function parseAttack(out: string) {
  const fds = [...out.matchAll(/^fd (\d+) -> (.*?)\r?$/gm)].map((m) => m[2]!);
  return {
    groups: /groups=(.*?)\r?$/m.exec(out)?.[1]?.split(' ').sort() ?? [],
    tty: /tty=(.*?)\r?$/m.exec(out)?.[1] ?? '',
    // The listing's own directory handle is not inherited: leave it out.
    inherited: fds.filter((l) => !/^\/proc\/\d+\/fd$/.test(l)),
    injected: /injected/.test(out),
  };
}

beforeAll(async () => {
  for (const tool of ['ssh', 'ssh-keygen', 'useradd', 'groupadd', 'setpriv', 'perl'])
    requireTool(tool);
  if (process.getuid?.() !== 0) throw new Error('the isolation tests need root (useradd, setpriv)');
  for (const g of [...GROUPS, SERVER_GROUP]) execFileSync('groupadd', [g]);
  execFileSync('useradd', ['-m', '-s', '/bin/bash', '-G', GROUPS.join(','), USER]);
  const pw = execFileSync('getent', ['passwd', USER], { encoding: 'utf8' }).split(':');
  uid = Number(pw[2]);
  gid = Number(pw[3]);
  home = pw[5]!;
  serverGid = Number(
    execFileSync('getent', ['group', SERVER_GROUP], { encoding: 'utf8' }).split(':')[2],
  );
  work = tempDir();
  // Traversable, so that only the recording directory's own mode keeps the account out.
  fs.chmodSync(work, 0o755);
  dir = path.join(work, 'rec');
  rootKey = await makeKey(work, 'root_key');
  userKey = await makeKey(work, 'user_key');
  const authorizedKeys = path.join(work, 'authorized_keys');
  fs.writeFileSync(authorizedKeys, `${rootKey.pub}\n${userKey.pub}\n`, { mode: 0o600 });
  server = await startExampleServer({
    prefix: ['setpriv', `--groups=${serverGid}`, '--'],
    env: { TS_DEBUG_LOG_SSH: '1' },
    args: ['--dir', dir, '--host-key', path.join(work, 'hk'), '--authorized-keys', authorizedKeys],
  });
});

afterAll(async () => {
  for (const c of clients) c.kill('SIGKILL');
  await server?.stop();
  try {
    execFileSync('pkill', ['-KILL', '-u', USER]);
  } catch {
    /* no processes left */
  }
  try {
    execFileSync('userdel', ['-r', USER], { stdio: 'ignore' });
  } catch {
    /* not created */
  }
  for (const g of [...GROUPS, SERVER_GROUP]) {
    try {
      execFileSync('groupdel', [g]);
    } catch {
      /* not created */
    }
  }
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

/** A root interactive shell kept open through the real ssh client: the session to attack. */
async function victimSession(): Promise<{ child: ChildProcess; type(line: string): void }> {
  const child = spawn(
    'ssh',
    [
      ...sshOptions(server.port, rootKey.file),
      '-tt',
      'root@127.0.0.1',
      '--',
      'bash --norc --noprofile -i',
    ],
    {
      stdio: ['pipe', 'pipe', 'pipe'],
    },
  );
  clients.push(child);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stdin!.write('echo victim-$((1+1))\n');
  await until(() => (out.includes('victim-2') ? true : undefined), 'the victim shell', {
    on: [[child.stdout!, 'data']],
  });
  return { child, type: (line) => child.stdin!.write(line + '\n') };
}

/** A naive server: node-pty, as a library user would first write it (run in its own process). */
function naive(script: string, pwned: string, sentinel: string): string {
  const program = `
    const pty = require(${JSON.stringify(path.join(ROOT, 'node_modules/node-pty'))});
    const fs = require('fs');
    const victim = pty.spawn('/bin/bash', ['--norc', '--noprofile', '-i'], { env: { PATH: process.env.PATH }, encoding: null });
    const attacker = pty.spawn('/bin/sh', ['-c', ${JSON.stringify(script)}], { uid: ${uid}, gid: ${gid}, cwd: '/', env: { PATH: process.env.PATH }, encoding: null });
    let out = '';
    attacker.onData((d) => (out += d.toString()));
    attacker.onExit(() => {
      victim.write('touch ${sentinel}\\n');
      const t = setInterval(() => {
        if (!fs.existsSync(${JSON.stringify(sentinel)})) return;
        clearInterval(t);
        process.stdout.write(out);
        victim.kill('SIGKILL');
        process.exit(0);
      }, 20);
    });`;
  const file = path.join(work, 'naive.cjs');
  fs.writeFileSync(file, program);
  void pwned;
  return execFileSync('setpriv', [`--groups=${serverGid}`, '--', process.execPath, file], {
    encoding: 'utf8',
    timeout: 20_000,
  });
}

describe('isolation between sessions', () => {
  it('naive: a later session inherits another session’s pty master, injects a command into it, and keeps the server’s group', () => {
    const pwned = path.join(work, 'naive-pwned');
    const out = naive(attackScript(pwned), pwned, path.join(work, 'naive-sentinel'));
    const a = parseAttack(out);
    expect(a.inherited).toContain('/dev/ptmx');
    expect(a.injected).toBe(true);
    expect(fs.existsSync(pwned)).toBe(true);
    expect(a.groups).toContain(SERVER_GROUP);
    expect(a.tty).toBe('root root 600');
    console.log(
      `naive: descriptors inherited ${JSON.stringify(a.inherited)}; groups ${a.groups.join(',')}; tty ${a.tty}`,
    );
  });

  for (const pty of [true, false]) {
    it(`sshcast (${pty ? 'pty' : 'no pty'}): the session holds only its own stdio, and the injection fails`, async () => {
      const victim = await victimSession();
      const pwned = path.join(work, `pwned-${pty}`);
      const r = await ssh(server.port, userKey.file, USER, attackScript(pwned), {
        pre: pty ? ['-tt'] : ['-T'],
      });
      const a = parseAttack(r.stdout.toString());
      expect(r.stdout.toString()).toContain('done');
      expect(a.inherited).toEqual([]);
      expect(a.injected).toBe(false);
      // The victim processes its input in order: once the sentinel exists, an injection would have run.
      const sentinel = path.join(work, `sentinel-${pty}`);
      victim.type(`touch ${sentinel}`);
      await until(() => (fs.existsSync(sentinel) ? true : undefined), 'the sentinel', {
        watch: work,
      });
      expect(fs.existsSync(pwned)).toBe(false);
      expect(a.groups).toEqual([USER, ...GROUPS].sort());
      if (pty) expect(a.tty).toBe(`${USER} tty 620`);
      console.log(
        `sshcast ${pty ? 'pty' : 'exec'}: descriptors inherited ${JSON.stringify(a.inherited)}; groups ${a.groups.join(',')}; tty ${a.tty}`,
      );
      victim.child.kill();
    });
  }
});

describe('the account, wholly', () => {
  it('id shows exactly the account’s groups; its terminal is its own (620) and reopenable; env and cwd are its own', async () => {
    const r = await ssh(
      server.port,
      userKey.file,
      USER,
      'id -u; id -g; id -Gn; stat -c "%U %G %a" $(tty); exec 3<>$(tty) && echo reopened; pwd; echo $HOME $USER $LOGNAME $SHELL',
      { pre: ['-tt'] },
    );
    const lines = r.stdout.toString().split('\r\n');
    expect(lines[0]).toBe(String(uid));
    expect(lines[1]).toBe(String(gid));
    expect(lines[2]!.split(' ').sort()).toEqual([USER, ...GROUPS].sort());
    expect(lines[3]).toBe(`${USER} tty 620`);
    expect(lines[4]).toBe('reopened');
    expect(lines[5]).toBe(home);
    expect(lines[6]).toBe(`${home} ${USER} ${USER} /bin/bash`);
  });

  it('cannot read or change the recording directory; the recording names the account', async () => {
    const before = recordings(dir);
    const r = await ssh(
      server.port,
      userKey.file,
      USER,
      `ls ${dir}; cat ${dir}/*.cast; touch ${dir}/x; echo end`,
    );
    expect(r.stdout.toString()).toBe('end\n');
    expect(r.stderr).toMatch(/Permission denied/);
    const file = await recordingAfter(dir, before);
    const cast = await finished(file);
    expect(cast.header.localUser).toBe(USER);
    const st = fs.statSync(file);
    expect([st.uid, st.mode & 0o777]).toEqual([0, 0o600]);
  });

  it('a dropped client’s process gets SIGHUP while other sessions stay open', async () => {
    const victim = await victimSession();
    const hup = path.join(home, 'got-hup');
    const child = spawn(
      'ssh',
      [
        ...sshOptions(server.port, userKey.file),
        '-tt',
        `${USER}@127.0.0.1`,
        '--',
        `trap 'echo hup > ${hup}; exit 0' HUP; echo pid=$$; while :; do sleep 0.05; done`,
      ],
      { stdio: ['pipe', 'pipe', 'pipe'] },
    );
    clients.push(child);
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    const pid = Number(
      await until(() => /pid=(\d+)/.exec(out)?.[1], 'the session’s pid', {
        on: [[child.stdout!, 'data']],
      }),
    );
    child.kill('SIGKILL');
    await until(() => (fs.existsSync(hup) ? true : undefined), 'SIGHUP in the dropped session', {
      watch: path.dirname(hup),
    });
    await until(() => (fs.existsSync(`/proc/${pid}`) ? undefined : true), 'the process to be gone');
    // The other session is untouched.
    const sentinel = path.join(work, 'still-open');
    victim.type(`touch ${sentinel}`);
    await until(() => (fs.existsSync(sentinel) ? true : undefined), 'the other session to answer', {
      watch: work,
    });
    victim.child.kill();
    const left = await execFileP('pgrep', ['-u', USER]);
    expect(left.stdout).toBe('');
  });
});

describe('a server that is not root', () => {
  it('says so, serves only its own account (without setpriv), and refuses root', async () => {
    const own = path.join(home, 'server');
    fs.mkdirSync(own, { mode: 0o700 });
    fs.writeFileSync(path.join(own, 'authorized_keys'), `${rootKey.pub}\n${userKey.pub}\n`, {
      mode: 0o600,
    });
    execFileSync('chown', ['-R', `${uid}:${gid}`, own]);
    const reach = serverJsForOthers();
    onTestFinished(reach.release);
    const s = await startExampleServer({
      serverJs: reach.serverJs,
      prefix: ['setpriv', `--reuid=${uid}`, `--regid=${gid}`, '--init-groups', '--'],
      env: { TS_DEBUG_LOG_SSH: '1' },
      args: [
        '--dir',
        path.join(own, 'rec'),
        '--host-key',
        path.join(own, 'hk'),
        '--authorized-keys',
        path.join(own, 'authorized_keys'),
      ],
    });
    try {
      expect(s.output()).toMatch(/only this server's own account/);
      const r = await ssh(s.port, userKey.file, USER, 'id -un; id -Gn; pwd', { pre: ['-tt'] });
      const lines = r.stdout.toString().split('\r\n');
      expect(lines[0]).toBe(USER);
      expect(lines[1]!.split(' ').sort()).toEqual([USER, ...GROUPS].sort());
      expect(lines[2]).toBe(home);
      const asRoot = await ssh(s.port, rootKey.file, 'root', 'id');
      expect(asRoot.code).toBe(255);
      expect(asRoot.stderr).toMatch(/Permission denied/);
      const file = await recordingAfter(path.join(own, 'rec'));
      expect((await finished(file)).header.localUser).toBe(USER);
    } finally {
      await s.stop();
    }
  });
});

describe('a user’s own authorized_keys', () => {
  it('cannot make the server run the user’s code with its privileges (environment=)', async () => {
    const lib = path.join(home, 'lib');
    const proof = path.join(home, 'proof');
    fs.mkdirSync(lib);
    fs.writeFileSync(
      path.join(lib, 'Evil.pm'),
      `package Evil; open(my $f, '>>', '${proof}'); print $f "uid=$<\\n"; 1;\n`,
    );
    fs.mkdirSync(path.join(home, '.ssh'), { mode: 0o700 });
    fs.writeFileSync(
      path.join(home, '.ssh/authorized_keys'),
      `environment="PERL5LIB=${lib}",environment="PERL5OPT=-MEvil" ${userKey.pub}\n`,
      { mode: 0o600 },
    );
    execFileSync('chown', ['-R', `${uid}:${gid}`, lib, path.join(home, '.ssh')]);
    const own = tempDir();
    const s = await startExampleServer({
      env: { TS_DEBUG_LOG_SSH: '1' },
      args: ['--dir', path.join(own, 'rec'), '--host-key', path.join(own, 'hk')],
    });
    try {
      const r = await ssh(s.port, userKey.file, USER, 'echo $PERL5OPT', { pre: ['-tt'] });
      // The key's environment reached the session, and only the session.
      expect(r.stdout.toString()).toBe('-MEvil\r\n');
      expect(fs.existsSync(proof)).toBe(false);
      // The same variables, given to a perl, do run the module: the test's attack is real.
      execFileSync(
        'setpriv',
        [`--reuid=${uid}`, `--regid=${gid}`, '--init-groups', '--', 'perl', '-e', '1'],
        {
          env: { PATH: '/usr/bin:/bin', PERL5LIB: lib, PERL5OPT: '-MEvil' },
        },
      );
      expect(fs.readFileSync(proof, 'utf8')).toBe(`uid=${uid}\n`);
    } finally {
      await s.stop();
      fs.rmSync(own, { recursive: true, force: true });
    }
  });
});
