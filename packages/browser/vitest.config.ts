import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Each browser test file drives its own Chromium; one at a time keeps timings honest on 2 cores.
    fileParallelism: false,
    testTimeout: 20_000,
    hookTimeout: 30_000,
    // The exports test's option-name checks are types: tsc runs them within `pnpm test` too.
    typecheck: { enabled: true, include: ['test/exports.test.ts'], ignoreSourceErrors: true },
  },
});
