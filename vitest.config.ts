import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'examples/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // One OpenStack Swift for the files that need an S3 server (test/helpers/swift.ts).
    globalSetup: ['test/helpers/swift-global.ts'],
  },
});
