/**
 * Real workerd (Miniflare) running test/fixtures/client-worker.ts: a Worker and a Durable Object
 * that dial out with `connect`, and report the package's exports as workerd sees them.
 */
import { fileURLToPath } from 'node:url';
import { Log, LogLevel, Miniflare } from 'miniflare';
import { bundleWorker, COMPATIBILITY_DATE } from './workerd.js';

const FIXTURE = fileURLToPath(new URL('../fixtures/client-worker.ts', import.meta.url));

/** Starts workerd with the client fixture; `dispatchFetch` reaches it without a port. */
export async function startClientWorkerd(): Promise<Miniflare> {
  const mf = new Miniflare({
    modules: true,
    script: await bundleWorker(FIXTURE),
    scriptPath: FIXTURE.replace(/\.ts$/, '.js'),
    compatibilityDate: COMPATIBILITY_DATE,
    cf: false,
    log: new Log(process.env.ANYWS_WORKERD_LOG ? LogLevel.DEBUG : LogLevel.WARN),
    durableObjects: { DIALER: 'Dialer' },
  });
  await mf.ready;
  return mf;
}
