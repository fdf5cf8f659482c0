import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    environment: 'node',
    // One workerd per file, files one after another: a 2-core machine, and timing-based cases.
    fileParallelism: false,
    testTimeout: 20_000,
    hookTimeout: 30_000,
    // The exports test's option-name checks are types: tsc runs them within `pnpm test` too.
    typecheck: { enabled: true, include: ['test/exports.test.ts'], ignoreSourceErrors: true },
  },
});
