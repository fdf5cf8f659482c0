/**
 * The bundle-size check (scripts/size.mjs --check) within `pnpm test`: a page's bundle of
 * `ReconnectingClient`, and of `connect` alone, stays within its limit and pulls in no
 * server-side module of core. Sizes are bytes of a minified bundle, not timings.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';

const script = fileURLToPath(new URL('../scripts/size.mjs', import.meta.url));

it('the browser bundles stay within their size limits', async () => {
  const result = await promisify(execFile)(process.execPath, [script, '--check']).then(
    ({ stdout }) => ({ ok: true, stdout }),
    (error: { stdout?: string; stderr?: string }) => ({
      ok: false,
      stdout: `${error.stdout ?? ''}${error.stderr ?? ''}`,
    }),
  );
  // The report names each bundle's size, its target and its limit: shown when the check fails.
  expect(result.stdout).toMatch(/ReconnectingClient: \d+ B gzip/);
  expect(result.stdout).toMatch(/connect: \d+ B gzip/);
  expect(result.ok, result.stdout).toBe(true);
});
