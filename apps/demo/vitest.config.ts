import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Each e2e file runs a server and Chromium: one file at a time on a 2-core machine.
    fileParallelism: false,
    testTimeout: 20_000,
    hookTimeout: 60_000,
  },
});
