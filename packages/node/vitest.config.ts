import { defineConfig } from 'vitest/config';

/**
 * The node tests run twice: on the ws this package resolves (the newest of its range) and on
 * the oldest ws of the range (`ws-oldest`, an alias installed for the tests), so a change that
 * needs a newer ws fails here instead of for users. ANYWS_TEST_WS names the ws under test.
 */
const shared = { include: ['test/**/*.test.ts'], testTimeout: 20_000 };

export default defineConfig({
  test: {
    fileParallelism: false,
    projects: [
      {
        test: {
          ...shared,
          name: 'ws newest',
          env: { ANYWS_TEST_WS: 'ws' },
          // The exports test's option-name checks are types: tsc runs them within `pnpm test` too.
          typecheck: { enabled: true, include: ['test/exports.test.ts'], ignoreSourceErrors: true },
        },
      },
      {
        // Every `ws` and `ws/…` import of src and test goes to the oldest ws of the range.
        resolve: { alias: [{ find: /^ws(\/.*)?$/, replacement: 'ws-oldest$1' }] },
        test: { ...shared, name: 'ws oldest', env: { ANYWS_TEST_WS: 'ws-oldest' } },
      },
    ],
  },
});
