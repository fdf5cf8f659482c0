// One workerd for `pnpm bench:workers`, in its own process: bundles worker.mjs from source
// (the way the @anyws/workers tests do), starts it through Miniflare on 127.0.0.1 and prints
// `ready <port> <workerd pid>`. Ends (disposing workerd) when its stdin closes or on SIGTERM.
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BINDINGS } from './bindings.mjs';

const here = dirname(fileURLToPath(import.meta.url));
// Miniflare and esbuild are @anyws/workers' dev dependencies: the same versions its tests run.
const fromWorkers = createRequire(join(here, '..', '..', 'packages', 'workers', 'package.json'));
const { build } = await import(fromWorkers.resolve('esbuild'));
const { Log, LogLevel, Miniflare } = await import(fromWorkers.resolve('miniflare'));

/** The compatibility date @anyws/workers is tested on (test/helpers/workerd.ts). */
const COMPATIBILITY_DATE = '2026-04-26';
const entry = join(here, 'worker.mjs');
const bundled = await build({
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
});

const verbose = Boolean(process.env.ANYWS_WORKERD_LOG);
const mf = new Miniflare({
  modules: true,
  script: bundled.outputFiles[0].text,
  scriptPath: entry.replace(/\.mjs$/, '.js'),
  compatibilityDate: COMPATIBILITY_DATE,
  host: '127.0.0.1',
  port: 0,
  cf: false,
  log: new Log(verbose ? LogLevel.DEBUG : LogLevel.WARN),
  handleRuntimeStdio(stdout, stderr) {
    if (verbose) {
      stdout.pipe(process.stderr);
      stderr.pipe(process.stderr);
    } else {
      stdout.resume();
      stderr.resume();
    }
  },
  // `ANYWS_INSPECT=<port>`: the V8 inspector of workerd, to profile the Worker.
  ...(process.env.ANYWS_INSPECT ? { inspectorPort: Number(process.env.ANYWS_INSPECT) } : {}),
  durableObjects: Object.fromEntries(Object.values(BINDINGS).map((name) => [name, name])),
});
const url = await mf.ready;

/** workerd is a child of this process (Miniflare spawns it): its pid, for CPU readings. */
function workerdPid() {
  for (const task of readdirSync(`/proc/${process.pid}/task`)) {
    const children = readFileSync(`/proc/${process.pid}/task/${task}/children`, 'utf8');
    for (const pid of children.trim().split(/\s+/).filter(Boolean)) {
      if (readFileSync(`/proc/${pid}/comm`, 'utf8').includes('workerd')) return Number(pid);
    }
  }
  throw new Error('workerd not found among the children of this process');
}

let ending = false;
const end = async () => {
  if (ending) return;
  ending = true;
  await mf.dispose();
  process.exit(0);
};
process.on('SIGTERM', end);
process.stdin.on('end', end);
process.stdin.resume();
process.stdout.write(`ready ${url.port} ${workerdPid()}\n`);
