import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    environment: 'node',
    // Files run in parallel forks; each PostgreSQL-backed file gets its own schema, each server a
    // free port. Vitest's default on this 2-core machine is ONE fork (cores - 1), which left a core
    // idle whenever a test waited on a child process (the CLI, server and browser tests are most of
    // the suite's time); two forks keep both cores busy.
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 60_000,
    reporters: ['default', './test/helpers/summary-reporter.ts'],
  },
});
