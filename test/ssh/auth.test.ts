import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import ssh2 from 'ssh2';
import type { AuthContext, ClientInfo, Connection } from 'ssh2';
import { authenticate, describeAuthPolicy, type AuthOptions } from '../../src/ssh/auth.js';
import { lookupAccount, parsePasswdLine, type Account } from '../../src/ssh/account.js';
import type { Identity } from '../../src/ssh/identity.js';
import {
  ForgingAgent,
  newKey,
  safeTempDir,
  startServer,
  tryLogin,
  writeKeys,
  type TestServer,
} from './auth-harness.js';

const user = newKey('user');
const other = newKey('other');
let tmp: ReturnType<typeof safeTempDir>;
let keysFile: string;
const logs: string[] = [];

function ours(extra: AuthOptions = {}) {
  return (client: Connection, info: ClientInfo) =>
    authenticate(client, info, {
      authorizedKeysFile: keysFile,
      log: (m) => logs.push(m),
      ...extra,
    });
}

// What a hurried integration writes: look the name up (getent, first line), accept a listed
// key whenever the client sends one, signed or not, never checking the signature.
function naive(opts: { maxAttempts?: number } = {}) {
  return (client: Connection) =>
    new Promise<Identity | undefined>((resolve) => {
      client.on('authentication', (ctx: AuthContext) => {
        if (ctx.method !== 'publickey') return ctx.reject(['publickey']);
        const line = execFileSync('getent', ['passwd', ctx.username], { encoding: 'utf8' });
        const account = parsePasswdLine(line.split('\n')[0] ?? '');
        if (account && ctx.key.data.equals(user.parsed.getPublicSSH())) {
          ctx.accept();
          if (ctx.signature) resolve({ account, keyOptions: {} });
        } else ctx.reject(['publickey']);
      });
      client.on('close', () => resolve(undefined));
      void opts;
    });
}

const withKey = (username: string, key: string) => ({ username, privateKey: key });

beforeAll(() => {
  tmp = safeTempDir();
  keysFile = writeKeys(path.join(tmp.dir, 'authorized_keys'), `${user.line}\n`);
});
afterAll(() => tmp.cleanup());

describe('authenticate', () => {
  let server: TestServer;
  let naiveServer: TestServer;
  beforeAll(async () => {
    server = await startServer(ours());
    naiveServer = await startServer(naive());
  });
  afterAll(async () => {
    await server.close();
    await naiveServer.close();
  });

  it('lets in the right key, as the named account, only after its signature', async () => {
    const o = await tryLogin(server.port, withKey('root', user.private));
    expect(o.result).toBe('ready');
    const id = server.results.at(-1);
    expect(id?.account.name).toBe('root');
    expect(id?.account.uid).toBe(0);
    expect(id?.keyOptions).toEqual({});
  });

  it('refuses a client that holds only the public key and forges the signature', async () => {
    const naiveAgent = new ForgingAgent(user.parsed);
    const attack = await tryLogin(naiveServer.port, { username: 'root', agent: naiveAgent });
    expect(attack.result).toBe('ready'); // the attack works against the naive version
    expect(naiveServer.results.at(-1)?.account.name).toBe('root');

    const agent = new ForgingAgent(user.parsed);
    const before = server.results.length;
    const o = await tryLogin(server.port, { username: 'root', agent });
    expect(o.result).toBe('refused');
    expect(agent.signCalls).toBe(1); // it got past the query ("this key would do") and signed
    await expect.poll(() => server.results.length).toBe(before + 1);
    expect(server.results.at(-1)).toBeUndefined();
    expect(logs.some((l) => l.includes('bad signature for root'))).toBe(true);
  });

  it('refuses a wrong key', async () => {
    const o = await tryLogin(server.port, withKey('root', other.private));
    expect(o.result).toBe('refused');
    expect(o.error).toMatch(/authentication methods failed/);
  });

  it('refuses a numeric login name that the account database would map to root', async () => {
    const attack = await tryLogin(naiveServer.port, withKey('0', user.private));
    expect(attack.result).toBe('ready');
    expect(naiveServer.results.at(-1)?.account.name).toBe('root');

    const o = await tryLogin(server.port, withKey('0', user.private));
    expect(o.result).toBe('refused');
  });

  it('gives an unknown account exactly the answer a wrong key gets', async () => {
    const seen = async (username: string, key: string) => {
      const steps: string[][] = [];
      const o = await tryLogin(server.port, {
        username,
        authHandler: (left, _partial, next) => {
          steps.push(left ? [...left] : ['(start)']);
          if (steps.length === 1) return next({ type: 'publickey', username, key } as never);
          return false as never;
        },
      });
      return { result: o.result, steps, error: o.error };
    };
    const wrongKey = await seen('root', other.private);
    const unknown = await seen('nosuchuser-sshcast', user.private);
    expect(unknown).toEqual(wrongKey);
    expect(unknown.steps).toEqual([['(start)'], ['publickey']]);
  });

  it('offers only publickey, and refuses passwords', async () => {
    const o = await tryLogin(server.port, { username: 'root', password: 'x' });
    expect(o.result).toBe('refused');
  });
});

describe('key types', () => {
  it('lets in every key type ssh-keygen makes that ssh2 can verify', async () => {
    const kinds: [string, string[]][] = [
      ['ecdsa256', ['-t', 'ecdsa', '-b', '256']],
      ['ecdsa384', ['-t', 'ecdsa', '-b', '384']],
      ['ecdsa521', ['-t', 'ecdsa', '-b', '521']],
      ['rsa', ['-t', 'rsa', '-b', '2048']],
      ['ed25519', ['-t', 'ed25519']],
    ];
    const made = kinds.map(([name, args]) => {
      const file = path.join(tmp.dir, `kt_${name}`);
      execFileSync('ssh-keygen', [...args, '-N', '', '-q', '-f', file]);
      return { name, file, pub: readFileSync(`${file}.pub`, 'utf8') };
    });
    const file = writeKeys(path.join(tmp.dir, 'types_keys'), made.map((m) => m.pub).join(''));
    const server = await startServer(ours({ authorizedKeysFile: file }));
    try {
      for (const m of made) {
        const o = await tryLogin(server.port, withKey('root', readFileSync(m.file, 'utf8')));
        expect([m.name, o.result]).toEqual([m.name, 'ready']);
      }
    } finally {
      await server.close();
    }
  });
});

describe('key options', () => {
  const forced = newKey('forced');
  const unknownOpt = newKey('unknown-option');
  const remote = newKey('remote-only');
  const local = newKey('local-only');
  const expired = newKey('expired');
  const second = newKey('second');
  let server: TestServer;
  beforeAll(async () => {
    const file = writeKeys(
      path.join(tmp.dir, 'options_keys'),
      [
        `command="echo forced",no-pty ${forced.line}`,
        `frobnicate ${unknownOpt.line}`,
        `from="10.0.0.0/8" ${remote.line}`,
        `from="127.0.0.*,!127.0.0.2" ${local.line}`,
        `expiry-time="20000101" ${expired.line}`,
        `expiry-time="20000101" ${second.line}`,
        `from="10.0.0.0/8" ${second.line}`,
        `command="echo second" ${second.line}`,
      ].join('\n'),
    );
    server = await startServer(ours({ authorizedKeysFile: file }));
  });
  afterAll(() => server.close());

  it('hands command= and no-pty to the session layer', async () => {
    expect((await tryLogin(server.port, withKey('root', forced.private))).result).toBe('ready');
    expect(server.results.at(-1)?.keyOptions).toEqual({ command: 'echo forced', noPty: true });
  });

  it('skips a key with an unknown option, with a logged warning', async () => {
    expect((await tryLogin(server.port, withKey('root', unknownOpt.private))).result).toBe(
      'refused',
    );
    expect(
      logs.some((l) => /options_keys:2: key skipped: unsupported option "frobnicate"/.test(l)),
    ).toBe(true);
  });

  it('checks from= against the client address', async () => {
    expect((await tryLogin(server.port, withKey('root', remote.private))).result).toBe('refused');
    expect(logs.some((l) => l.includes('not allowed from this address (from="10.0.0.0/8")'))).toBe(
      true,
    );
    expect((await tryLogin(server.port, withKey('root', local.private))).result).toBe('ready');
  });

  it('uses the first line of a key whose restrictions pass, as sshd does', async () => {
    expect((await tryLogin(server.port, withKey('root', second.private))).result).toBe('ready');
    expect(server.results.at(-1)?.keyOptions).toEqual({ command: 'echo second' });
  });

  it('refuses a key past its expiry-time', async () => {
    expect((await tryLogin(server.port, withKey('root', expired.private))).result).toBe('refused');
    expect(logs.some((l) => /key at line 5 expired/.test(l))).toBe(true);
  });
});

describe('an authorized_keys that is a FIFO', () => {
  it('is refused with a warning while other logins go on', async () => {
    const fifo = path.join(tmp.dir, 'fifo_keys');
    execFileSync('mkfifo', ['-m', '600', fifo]);
    const fifoServer = await startServer(ours({ authorizedKeysFile: fifo }));
    const goodServer = await startServer(ours());
    try {
      const [viaFifo, good] = await Promise.all([
        tryLogin(fifoServer.port, withKey('root', user.private)),
        tryLogin(goodServer.port, withKey('root', user.private)),
      ]);
      expect(viaFifo.result).toBe('refused');
      expect(good.result).toBe('ready');
      expect(logs.some((l) => l.includes(`${fifo} is not a regular file`))).toBe(true);
      // And again, with the first FIFO read still never answered by any writer.
      expect((await tryLogin(goodServer.port, withKey('root', user.private))).result).toBe('ready');
    } finally {
      await fifoServer.close();
      await goodServer.close();
    }
  });
});

describe('attempt limit', () => {
  // A client trying one wrong key after another, as a key-guessing attacker would.
  async function guess(port: number, tries: number) {
    const keys = Array.from({ length: tries }, () => newKey().private);
    let asked = 0;
    const o = await tryLogin(port, {
      username: 'root',
      authHandler: (_left, _partial, next) => {
        const key = keys[asked++];
        if (!key) return false as never;
        return next({ type: 'publickey', username: 'root', key } as never);
      },
    });
    return { ...o, asked };
  }

  it('disconnects after maxAttempts failures', async () => {
    const naiveServer = await startServer(naive());
    const server = await startServer(ours({ maxAttempts: 3 }));
    try {
      const attack = await guess(naiveServer.port, 20);
      expect(attack.result).toBe('refused'); // all 20 guesses were answered
      expect(attack.failures.length).toBe(20);

      const o = await guess(server.port, 20);
      expect(o.result).toBe('closed');
      expect(o.failures.length).toBe(2); // the third failure is a disconnect, not an answer
      expect(logs.some((l) => l.includes('too many authentication failures (3)'))).toBe(true);
    } finally {
      await naiveServer.close();
      await server.close();
    }
  });
});

describe('auth timeout', () => {
  it('closes a connection that never authenticates', async () => {
    const naiveServer = await startServer(naive());
    const server = await startServer(ours({ timeoutMs: 300 }));
    try {
      // A client that completes the key exchange, then never answers the auth prompt.
      const idle = (port: number) => {
        const c = new ssh2.Client();
        const state = {
          closed: false,
          closedAt: new Promise<void>((resolve) => c.on('close', () => resolve())),
        };
        void state.closedAt.then(() => (state.closed = true));
        c.on('error', () => {});
        c.connect({
          host: '127.0.0.1',
          port,
          username: 'root',
          authHandler: () => undefined as never,
        });
        return { c, state };
      };
      const naiveIdle = idle(naiveServer.port);
      const ourIdle = idle(server.port);
      await ourIdle.state.closedAt;
      await expect.poll(() => server.results.length).toBe(1);
      expect(server.results).toEqual([undefined]);
      expect(logs.some((l) => l.includes('not authenticated within 300 ms'))).toBe(true);
      // The naive server, reached at the same time, still holds its idle connection.
      expect(naiveIdle.state.closed).toBe(false);
      naiveIdle.c.end();
    } finally {
      await naiveServer.close();
      await server.close();
    }
  });
});

describe('a server not running as root', () => {
  it('serves only its own account, and says so', async () => {
    const server = await startServer(ours({ serverUid: 4242, lookup: fakeLookup }));
    try {
      expect(describeAuthPolicy({ serverUid: 4242 })).toMatch(
        /only this server's own account \(uid 4242\)/,
      );
      expect(describeAuthPolicy({ serverUid: 0 })).toMatch(/any local account/);
      expect((await tryLogin(server.port, withKey('root', user.private))).result).toBe('refused');
      expect((await tryLogin(server.port, withKey('self', user.private))).result).toBe('ready');
      // As sshd: an account whose shell does not exist is refused.
      expect((await tryLogin(server.port, withKey('noshell', user.private))).result).toBe(
        'refused',
      );
      expect(logs.some((l) => l.includes('shell /nonexistent/sh is not executable'))).toBe(true);
    } finally {
      await server.close();
    }
  });
});

async function fakeLookup(name: string): Promise<Account | undefined> {
  if (name === 'self')
    return { name, uid: 4242, gid: 4242, home: '/nonexistent', shell: '/bin/sh' };
  if (name === 'noshell')
    return { name, uid: 4242, gid: 4242, home: '/nonexistent', shell: '/nonexistent/sh' };
  return lookupAccount(name);
}
