import { configDefaults, defineConfig } from 'vitest/config';

/**
 * Three projects, chosen by path so that no test file has to move and none escapes:
 * - `e2e`: the real tools (OpenSSH, asciinema, chromium, tmux, mount, useradd, OpenStack Swift),
 *   and the tests that log in as root or make accounts: run as root;
 * - `load-fuzz`: hundreds of sessions, hundreds of thousands of generated inputs;
 * - `unit`: everything else under test/, which runs as any account, with no network beyond
 *   in-process loopback sockets, in well under 30 s (`npm run test:unit`).
 * `npm test` runs all three.
 */
const e2e = [
  'test/e2e/**/*.test.ts',
  'test/faults/**/*.test.ts',
  'test/hostile/**/*.test.ts',
  'test/ssh/auth-account.test.ts',
  'test/ssh/auth.test.ts',
  'test/ssh/keys-as-user.test.ts',
  'test/ssh/session-pam.test.ts',
  'test/testing/test-server.test.ts',
  'test/readme/readme.test.ts',
  'examples/**/*.test.ts',
  // Off-device copies: collectors as processes, most on a real Swift (test/helpers/swift.ts).
  'test/collect/**/*.test.ts',
  'test/remote/**/*.test.ts',
  'test/storage/objects.test.ts',
  'test/storage/swift.test.ts',
  'test/cli/collect.test.ts',
  'test/cli/ls-stored.test.ts',
];
const loadFuzz = ['test/load/**/*.test.ts', 'test/fuzz/**/*.test.ts'];

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          // Its files mostly wait on child processes (shells, the CLI), so more than the cores;
          // it runs first, alone, then the other two with vitest's default (cores - 1).
          maxWorkers: 4,
          sequence: { groupOrder: 0 },
          include: ['test/**/*.test.ts'],
          exclude: [...configDefaults.exclude, ...e2e, ...loadFuzz],
        },
      },
      {
        extends: true,
        test: {
          name: 'e2e',
          include: e2e,
          sequence: { groupOrder: 1 },
          // One OpenStack Swift for the files that need an S3 server (test/helpers/swift.ts).
          globalSetup: ['test/helpers/swift-global.ts'],
        },
      },
      {
        extends: true,
        test: { name: 'load-fuzz', include: loadFuzz, sequence: { groupOrder: 2 } },
      },
    ],
  },
});
