/**
 * Real workerd (Miniflare) running test/fixtures/client-worker.ts: a Worker and a Durable Object
 * that dial out with `connect`, and report the package's exports as workerd sees them.
 */
import { fileURLToPath } from 'node:url';
import { Log, LogLevel, Miniflare } from 'miniflare';
import { bundleWorker, COMPATIBILITY_DATE } from './workerd.js';

const FIXTURE = fileURLToPath(new URL('../fixtures/client-worker.ts', import.meta.url));

/** Starts workerd with the client fixture; `dispatchFetch` reaches it without a port. */
export function startClientWorkerd(): Promise<Miniflare> {
  return startDispatchWorkerd(FIXTURE, { DIALER: 'Dialer' });
}

/**
 * Starts workerd with the Worker at `entry` (bundled) and its Durable Object classes by binding;
 * no port: `dispatchFetch` reaches it.
 */
export async function startDispatchWorkerd(
  entry: string,
  durableObjects: Record<string, string>,
): Promise<Miniflare> {
  const mf = new Miniflare({
    modules: true,
    script: await bundleWorker(entry),
    scriptPath: entry.replace(/\.ts$/, '.js'),
    compatibilityDate: COMPATIBILITY_DATE,
    cf: false,
    log: new Log(process.env.ANYWS_WORKERD_LOG ? LogLevel.DEBUG : LogLevel.WARN),
    durableObjects,
  });
  await mf.ready;
  return mf;
}
