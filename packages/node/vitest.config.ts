import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  // The README example imports the package by its own name, as a user would.
  resolve: {
    alias: [
      {
        find: /^@anyws\/node$/,
        replacement: fileURLToPath(new URL('./src/index.ts', import.meta.url)),
      },
    ],
  },
  test: { include: ['test/**/*.test.ts'], testTimeout: 20_000, fileParallelism: false },
});
