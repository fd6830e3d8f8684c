/**
 * Hostile peers and runaway output against the built example server (issue 9): a peer that
 * vanishes without closing TCP, window sizes from a real non-OpenSSH client, a recording size
 * cap, and a small real filesystem (tmpfs) for the free-space minimum and a full disk.
 */
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  execFileP,
  finished,
  makeKey,
  outputOf,
  readCast,
  recordings,
  requireTool,
  ssh,
  sshOptions,
  startExampleServer,
  tempDir,
  until,
  type ExampleServer,
} from '../helpers/e2e.js';

let work: string;
let key: { file: string; pub: string };
let authorizedKeys: string;
const servers: ExampleServer[] = [];
const mounts: string[] = [];

beforeAll(async () => {
  for (const tool of ['ssh', 'ssh-keygen', 'mount']) requireTool(tool);
  work = tempDir();
  key = await makeKey(work);
  authorizedKeys = path.join(work, 'authorized_keys');
  fs.writeFileSync(authorizedKeys, key.pub + '\n', { mode: 0o600 });
});

afterAll(async () => {
  for (const s of servers) await s.stop();
  for (const m of mounts) execFileSync('umount', ['-l', m]);
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

async function server(name: string, args: string[] = [], prefix?: string[]) {
  const dir = path.join(work, name);
  const s = await startExampleServer({
    ...(prefix ? { prefix } : {}),
    env: { TS_DEBUG_LOG_SSH: '1' },
    args: [
      '--dir',
      dir,
      '--host-key',
      path.join(work, 'hk'),
      '--authorized-keys',
      authorizedKeys,
      ...args,
    ],
  });
  servers.push(s);
  return { s, dir };
}

/** A TCP proxy on loopback that can freeze: stop forwarding without closing anything. */
async function freezingProxy(target: number) {
  const sockets: net.Socket[] = [];
  let frozen = false;
  const proxy = net.createServer((inbound) => {
    const outbound = net.connect(target, '127.0.0.1');
    sockets.push(inbound, outbound);
    for (const [a, b] of [
      [inbound, outbound],
      [outbound, inbound],
    ] as const) {
      a.on('data', (d) => {
        if (!frozen) b.write(d);
      });
      a.on('error', () => {});
    }
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  return {
    port: (proxy.address() as net.AddressInfo).port,
    freeze() {
      frozen = true;
      // Stop reading too, as a cut cable would: nothing is acknowledged, nothing is closed.
      for (const s of sockets) s.pause();
    },
    close() {
      for (const s of sockets) s.destroy();
      proxy.close();
    },
  };
}

describe('a peer that vanishes without closing TCP', () => {
  it('is dropped by keepalive; its process gets SIGHUP; its recording ends with x', async () => {
    const { s, dir } = await server('keepalive', ['--keepalive', '1']);
    const proxy = await freezingProxy(s.port);
    const hup = path.join(work, 'keepalive-hup');
    const client = spawn(
      'ssh',
      [
        ...sshOptions(proxy.port, key.file),
        '-tt',
        'root@127.0.0.1',
        '--',
        `trap 'echo hup > ${hup}; exit 0' HUP; echo pid=$$; while :; do sleep 0.05; done`,
      ],
      { stdio: ['pipe', 'pipe', 'pipe'] },
    );
    let out = '';
    client.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    const pid = Number(
      await until(() => /pid=(\d+)/.exec(out)?.[1], 'the session to start', {
        on: [[client.stdout!, 'data']],
      }),
    );
    proxy.freeze();
    // 1 s interval, 3 unanswered: the server gives up after about 4 s.
    await until(() => (fs.existsSync(hup) ? true : undefined), 'SIGHUP after keepalive', {
      timeout: 20_000,
      watch: path.dirname(hup),
    });
    await until(() => (fs.existsSync(`/proc/${pid}`) ? undefined : true), 'the process to be gone');
    const cast = await finished(recordings(dir)[0]!);
    expect(cast.events.at(-1)?.[1]).toBe('x');
    expect(client.exitCode).toBeNull(); // the client itself never noticed: only keepalive found it
    client.kill('SIGKILL');
    proxy.close();
  }, 40_000);
});

describe('window sizes from a real client (paramiko)', () => {
  it('ignores 0x0, clamps 70000x70000 to 1000x1000, records what was applied, and stays up', async () => {
    if (!fs.existsSync('/usr/lib/python3/dist-packages/paramiko'))
      throw new Error('python3-paramiko is not installed');
    const { s, dir } = await server('resize');
    const script = `
import paramiko, re, sys
c = paramiko.SSHClient()
c.set_missing_host_key_policy(paramiko.AutoAddPolicy())
c.connect('127.0.0.1', port=${s.port}, username='root', key_filename=${JSON.stringify(key.file)}, look_for_keys=False, allow_agent=False)
ch = c.get_transport().open_session()
ch.get_pty(term='xterm', width=80, height=24)
ch.exec_command('stty -echo; echo ready; read a; stty size; read b; stty size')
out = b''
while b'ready' not in out:
    out += ch.recv(1024)
ch.resize_pty(width=0, height=0)
ch.send('\\n')
while not re.search(rb'\\d+ \\d+', out):
    out += ch.recv(1024)
ch.resize_pty(width=70000, height=70000)
ch.send('\\n')
while not ch.exit_status_ready() or ch.recv_ready():
    d = ch.recv(1024)
    if not d: break
    out += d
sys.stdout.write(out.decode())
sys.stdout.write('status=%d\\n' % ch.recv_exit_status())
`;
    const r = await execFileP('/usr/bin/python3', ['-c', script]);
    expect(r.stderr).toBe('');
    expect(r.stdout.replace(/\r/g, '')).toBe('ready\n24 80\n1000 1000\nstatus=0\n');
    const cast = await finished(recordings(dir)[0]!);
    expect(cast.events.filter((e) => e[1] === 'r').map((e) => e[2])).toEqual(['1000x1000']);
    expect(s.child.exitCode).toBeNull();
    const after = await ssh(s.port, key.file, 'root', 'echo alive');
    expect(after.stdout.toString()).toBe('alive\n');
  });
});

describe('runaway output', () => {
  it('--max-recording-size: the recording stops with a marker and its x; the client gets every byte', async () => {
    const { s, dir } = await server('cap', ['--max-recording-size', '100K']);
    const r = await ssh(s.port, key.file, 'root', 'head -c 1000000 /dev/zero | tr "\\0" a; exit 4');
    expect(r.stdout.length).toBe(1_000_000);
    expect(r.code).toBe(4);
    const file = recordings(dir)[0]!;
    const cast = await finished(file);
    expect(cast.events.filter((e) => e[1] === 'm').map((e) => e[2])).toEqual([
      'recording size limit reached',
    ]);
    expect(cast.events.at(-1)?.slice(1)).toEqual(['x', '4']);
    expect(fs.statSync(file).size).toBeLessThanOrEqual(100 * 1024 + 200);
    expect(outputOf(cast).length).toBeLessThan(100 * 1024);
  });
});

// A real small filesystem where the machine allows mounting one; in a container without that
// right, the same faults come from the real free space and a real file size limit (RLIMIT_FSIZE).
describe('a small real filesystem (tmpfs, 1 MiB)', () => {
  let mnt: string;
  let tmpfs = false;
  beforeAll(() => {
    mnt = path.join(work, 'small');
    fs.mkdirSync(mnt, { mode: 0o700 });
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m,mode=0700', 'tmpfs', mnt], {
        stdio: 'ignore',
      });
      mounts.push(mnt);
      tmpfs = true;
    } catch {
      tmpfs = false;
    }
  });

  it('--min-free above what is free: the session is refused with "can\'t start new recording"', async () => {
    const st = fs.statfsSync(mnt);
    const free = st.bavail * st.bsize;
    if (tmpfs) expect(free).toBeLessThan(2 * 2 ** 20);
    const { s } = await server('small/minfree', ['--min-free', String(free * 2 + 2 ** 30)]);
    const r = await ssh(s.port, key.file, 'root', 'echo should-not-run');
    expect(r.stdout.toString()).toBe('');
    expect(r.stderr).toContain("can't start new recording");
    expect(r.code).not.toBe(0);
  });

  it('a disk that fills mid-session: the session goes on unrecorded and the failure is logged', async () => {
    const limit = 300_000;
    const { s, dir } = tmpfs
      ? await server('small/full')
      : await server(
          'small/full',
          [],
          [
            'prlimit',
            `--fsize=${limit}`,
            'perl',
            '-e',
            '$SIG{XFSZ} = "IGNORE"; exec { $ARGV[0] } @ARGV or die "exec: $!\\n"',
          ],
        );
    const r = await ssh(
      s.port,
      key.file,
      'root',
      'head -c 3000000 /dev/zero | tr "\\0" b; echo; echo end',
    );
    // The fault happened: the filesystem ran out of space (the server logs ENOSPC; the free
    // space itself grows back once the sink cuts the file to its last complete line), or the file
    // reached the size limit.
    if (tmpfs) {
      await s.waitFor(/ENOSPC/);
    } else {
      expect(fs.statSync(recordings(dir)[0]!).size).toBeLessThanOrEqual(limit);
    }
    expect(r.stdout.length).toBe(3_000_000 + 5);
    expect(r.stdout.toString().endsWith('\nend\n')).toBe(true);
    expect(r.code).toBe(0);
    await s.waitFor(/session continues unrecorded/);
    const text = fs.readFileSync(recordings(dir)[0]!, 'utf8');
    expect(text).not.toMatch(/"x"/);
    // What was written before the disk filled ends on a complete line.
    expect(text.endsWith('\n')).toBe(true);
    for (const line of text.trimEnd().split('\n')) expect(() => JSON.parse(line)).not.toThrow();
  });
});
