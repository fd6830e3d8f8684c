// authorized_keys read as the account: where the account may read, the result is exactly the
// server's own loader's (same StrictModes verdicts, same keys); where it may not, no key.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  MAX_AUTHORIZED_KEYS_BYTES,
  loadAuthorizedKeys,
} from '../../src/ssh/authorized-keys-file.js';
import { NOBODY, loadAuthorizedKeysAs } from '../../src/ssh/keys-as-user.js';
import { createAccount, type TestAccount } from '../helpers/accounts.js';
import { newKey } from './auth-harness.js';

let user: TestAccount;
let dotSsh: string;
let file: string;
const key = newKey('as-user');

beforeAll(() => {
  user = createAccount({ prefix: 'shc-ku-', shell: '/bin/sh' });
  user.authorize(`no-pty ${key.line}`);
  dotSsh = path.join(user.home, '.ssh');
  file = path.join(dotSsh, 'authorized_keys');
});
afterAll(() => user?.remove());

const policy = () => ({ owners: [user.uid], stopAt: user.home });

/** Both loaders on the current state, keys reduced to what a test can compare. */
async function both() {
  const simplify = (r: Awaited<ReturnType<typeof loadAuthorizedKeys>>) => ({
    refused: r.refused,
    keys: r.keys.map((k) => ({ line: k.line, blob: k.blob.toString('hex'), options: k.options })),
  });
  return {
    server: simplify(await loadAuthorizedKeys(file, policy())),
    account: simplify(await loadAuthorizedKeysAs(user, file, policy())),
  };
}

describe('where the account may read, the same verdict as the server’s own loader', () => {
  it('a good file: the same keys and options', async () => {
    const r = await both();
    expect(r.account.keys).toHaveLength(1);
    expect(r.account.keys[0]!.options).toEqual({ noPty: true });
    expect(r.account).toEqual(r.server);
  });

  it('missing, a FIFO, a symlink, too large, group-writable, another owner', async () => {
    const cases: [string, () => void, () => void][] = [
      ['missing', () => fs.renameSync(file, `${file}.x`), () => fs.renameSync(`${file}.x`, file)],
      [
        'fifo',
        () => {
          fs.renameSync(file, `${file}.x`);
          execFileSync('mkfifo', [file]);
          fs.chownSync(file, user.uid, user.gid);
        },
        () => {
          fs.rmSync(file);
          fs.renameSync(`${file}.x`, file);
        },
      ],
      [
        'symlink',
        () => {
          fs.renameSync(file, `${file}.x`);
          fs.symlinkSync(`${file}.x`, file);
        },
        () => {
          fs.rmSync(file);
          fs.renameSync(`${file}.x`, file);
        },
      ],
      [
        'too large',
        () => fs.appendFileSync(file, '#'.repeat(MAX_AUTHORIZED_KEYS_BYTES)),
        () => fs.writeFileSync(file, `no-pty ${key.line}\n`),
      ],
      ['group-writable', () => fs.chmodSync(dotSsh, 0o770), () => fs.chmodSync(dotSsh, 0o700)],
      [
        'another owner',
        () => {
          fs.chownSync(file, 65534, 65534);
          fs.chmodSync(file, 0o644);
        },
        () => {
          fs.chownSync(file, user.uid, user.gid);
          fs.chmodSync(file, 0o600);
        },
      ],
    ];
    for (const [name, setUp, tearDown] of cases) {
      setUp();
      try {
        const r = await both();
        expect(r.account, name).toEqual(r.server);
        if (name === 'missing') expect(r.account).toEqual({ refused: undefined, keys: [] });
        else expect(r.account.refused, name).toBeDefined();
      } finally {
        tearDown();
      }
    }
    expect((await both()).account.keys).toHaveLength(1);
  });
});

describe('where the account may not read, no key', () => {
  it('an unreadable file or directory gives no key, where the server itself would read one', async () => {
    fs.chownSync(file, 0, 0);
    try {
      const r = await both();
      expect(r.server.keys).toHaveLength(1);
      expect(r.account.keys).toEqual([]);
      expect(r.account.refused).toBe(`cannot open ${file}: EACCES`);
    } finally {
      fs.chownSync(file, user.uid, user.gid);
    }
    fs.chownSync(dotSsh, 0, 0);
    try {
      const r = await both();
      expect(r.server.keys).toHaveLength(1);
      expect(r.account.keys).toEqual([]);
    } finally {
      fs.chownSync(dotSsh, user.uid, user.gid);
    }
  });

  it('a login name with no account reads as nobody, and finds nothing', async () => {
    const r = await loadAuthorizedKeysAs(NOBODY, '/nonexistent/.ssh/authorized_keys', {
      owners: [NOBODY.uid],
      stopAt: '/nonexistent',
    });
    expect(r).toEqual({ keys: [] });
  });
});
