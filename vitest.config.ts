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
    // Teardown ends connections on purpose (DROP DATABASE … WITH (FORCE), servers stopping); a pg
    // client that is still closing then emits SQLSTATE 57P01 with nobody listening. Only that is
    // ignored: every other unhandled error still fails the run.
    onUnhandledError: (error) => (error as { code?: string }).code !== '57P01',
  },
});
