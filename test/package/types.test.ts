/**
 * The package's types as a host's TypeScript sees them: the built .d.ts of `sshcast`,
 * `sshcast/testing` and `sshcast/testing/vitest` compile with library checks on, and no name
 * marked @internal or left out of the root export is reachable from it.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { root } from '../cli/helpers.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sshcast-types-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function dts(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? dts(p) : p.endsWith('.d.ts') ? [p] : [];
  });
}

it('the built declarations hold nothing marked @internal', () => {
  const marked = dts(path.join(root, 'dist/src')).filter((f) =>
    fs.readFileSync(f, 'utf8').includes('@internal'),
  );
  expect(marked).toEqual([]);
});

it('a host project type-checks against the package with skipLibCheck off; internals are not exported', () => {
  fs.mkdirSync(path.join(tmp, 'node_modules'));
  fs.symlinkSync(root, path.join(tmp, 'node_modules/sshcast'));
  fs.writeFileSync(
    path.join(tmp, 'host.ts'),
    `import * as sshcast from 'sshcast';
import * as testing from 'sshcast/testing';
import 'sshcast/testing/vitest';
import type { CastMatchers } from 'sshcast/testing/vitest';

const recorder: sshcast.Recorder = new sshcast.Recorder({ enabled: false, log: () => {} });
recorder.on('write-failure', (err: sshcast.SinkWriteError, rec: sshcast.Recording) => void [err, rec]);
const code: sshcast.SshcastErrorCode = 'ERR_CONFIG';
const matchers: CastMatchers | undefined = undefined;
void [code, matchers, testing.loadCast, sshcast.hangUp];
// @ts-expect-error internal: spawning is the session layer's
void sshcast.spawnSession;
// @ts-expect-error internal: parsing TS_DEBUG_LOG_SSH is the recorder's
void sshcast.parseBool;
// @ts-expect-error internal: the directory is the recorder's
void sshcast.RecordingDirectory;
// @ts-expect-error internal: the stream decoder is the recording's
void sshcast.Utf8StreamDecoder;
// @ts-expect-error @internal: file faults are for sshcast's own tests
const opts: sshcast.RecorderOptions = { fileOps: {} };
void opts;
`,
  );
  fs.writeFileSync(
    path.join(tmp, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        target: 'ES2022',
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        strict: true,
        skipLibCheck: false,
        noEmit: true,
        types: ['node'],
        typeRoots: [path.join(root, 'node_modules/@types')],
      },
      files: ['host.ts'],
    }),
  );
  fs.writeFileSync(path.join(tmp, 'package.json'), '{"type":"module"}\n');
  const tsc = path.join(root, 'node_modules/typescript/bin/tsc');
  const r = spawnSync(process.execPath, [tsc, '-p', tmp], { encoding: 'utf8', timeout: 120_000 });
  expect(r.stdout + r.stderr).toBe('');
  expect(r.status).toBe(0);
}, 120_000);
