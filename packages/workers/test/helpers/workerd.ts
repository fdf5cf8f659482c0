/**
 * Starts real workerd (through Miniflare) with the test Worker, bundled from source, listening
 * on 127.0.0.1. No network needed: `cf: false` keeps Miniflare from fetching `Request.cf`.
 */
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { Log, LogLevel, Miniflare } from 'miniflare';

const FIXTURE = fileURLToPath(new URL('../fixtures/worker.ts', import.meta.url));

/** The compatibility date the adapter is measured and tested on. */
export const COMPATIBILITY_DATE = '2026-04-26';

export interface Workerd {
  /** `http://127.0.0.1:<port>` */
  http: string;
  /** `ws://127.0.0.1:<port>` */
  ws: string;
  port: number;
  dispose(): Promise<void>;
}

const bundled = new Map<string, Promise<string>>();

function bundle(entry: string): Promise<string> {
  let script = bundled.get(entry);
  if (!script) {
    script = bundleWorker(entry);
    bundled.set(entry, script);
  }
  return script;
}

/** Bundles a test Worker from source, as workerd loads it (`cloudflare:*` left to the runtime). */
export function bundleWorker(entry: string): Promise<string> {
  return build({
    entryPoints: [entry],
    bundle: true,
    format: 'esm',
    platform: 'neutral',
    target: 'es2022',
    conditions: ['workerd', 'worker', 'import'],
    mainFields: ['module', 'main'],
    external: ['cloudflare:*'],
    write: false,
    logLevel: 'warning',
  }).then((result) => result.outputFiles[0]!.text);
}

/**
 * Starts workerd with the test Worker, or with `fixture` (a Worker of its own, without the
 * test Worker's Durable Objects). Its output is dropped (the handshake tests make it log the
 * POSTs it refuses); `ANYWS_WORKERD_LOG=1` shows it, with the Worker's console.
 */
export async function startWorkerd(
  fixture?: string,
  /** A fixture's Durable Objects, a directory that keeps their storage across restarts, a port. */
  more: { durableObjects?: Record<string, string>; persist?: string; port?: number } = {},
): Promise<Workerd> {
  const entry = fixture ?? FIXTURE;
  const script = await bundle(entry);
  const verbose = Boolean(process.env.ANYWS_WORKERD_LOG);
  const mf = new Miniflare({
    modules: true,
    script,
    scriptPath: entry.replace(/\.ts$/, '.js'),
    compatibilityDate: COMPATIBILITY_DATE,
    host: '127.0.0.1',
    port: more.port ?? 0,
    cf: false,
    log: new Log(verbose ? LogLevel.DEBUG : LogLevel.WARN),
    handleRuntimeStdio(stdout, stderr) {
      if (verbose) {
        stdout.pipe(process.stdout);
        stderr.pipe(process.stderr);
      } else {
        stdout.resume();
        stderr.resume();
      }
    },
    durableObjects: fixture
      ? (more.durableObjects ?? {})
      : { ROOMS: 'TestRoom', STRICT: 'StrictRoom', ECHO: 'EchoRoom', LIMITED: 'LimitedRoom' },
    ...(more.persist === undefined ? {} : { durableObjectsPersist: more.persist }),
  });
  const url = await mf.ready;
  const port = Number(url.port);
  return {
    http: `http://127.0.0.1:${port}`,
    ws: `ws://127.0.0.1:${port}`,
    port,
    dispose: () => mf.dispose(),
  };
}
