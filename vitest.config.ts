import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    globalSetup: ['test/support/global-setup.ts'],
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 180_000,
    // One Postgres serves every file; two workers match our two cores.
    pool: 'forks',
    maxWorkers: 2,
  },
});
