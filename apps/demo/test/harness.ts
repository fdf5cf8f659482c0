// Starts the demo's real entry points as child processes on 127.0.0.1, waits (bounded) for the
// line that announces the address, and stops them again.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export type Runtime = 'node' | 'deno' | 'workers';

export const APP_DIR = join(dirname(fileURLToPath(import.meta.url)), '..');
const BIN = join(APP_DIR, 'node_modules', '.bin');

/** The secret the servers under test sign with (not the development default). */
export const TEST_SECRET = 'test-secret-for-the-demo-e2e-tests';

/** A running server. */
export interface DemoServer {
  runtime: Runtime;
  port: number;
  /** http://127.0.0.1:port */
  url: string;
  /** Everything it printed, for failure messages. */
  output(): string;
  /** SIGTERM, then SIGKILL after a grace period; resolves once the process is gone. */
  stop(): Promise<void>;
}

function signal(child: ChildProcess, name: NodeJS.Signals): void {
  try {
    if (child.pid !== undefined) process.kill(-child.pid, name);
  } catch {
    // The group is gone already.
  }
}

/** A port that was free a moment ago (for the runtimes that cannot report the one they got). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address
          ? resolve(address.port)
          : reject(new Error('no port')),
      );
    });
  });
}

function command(
  runtime: Runtime,
  port: number,
  persistDir: string,
  secret: string | null,
): [string, string[]] {
  switch (runtime) {
    case 'node':
      return [process.execPath, [join(APP_DIR, 'dist', 'node.js')]];
    case 'deno':
      return [
        join(BIN, 'deno'),
        [
          'run',
          '--node-modules-dir=manual',
          '--allow-net',
          '--allow-env',
          '--allow-read',
          join(APP_DIR, 'dist', 'deno.js'),
        ],
      ];
    case 'workers':
      return [
        join(BIN, 'wrangler'),
        [
          'dev',
          '--ip',
          '127.0.0.1',
          '--port',
          String(port),
          '--inspector-port',
          '0',
          '--persist-to',
          persistDir,
          // A Worker's settings come from wrangler, not from the process environment.
          ...(secret === null ? [] : ['--var', `JWT_SECRET:${secret}`]),
        ],
      ];
  }
}

/** Options of {@link startDemo}. */
export interface StartOptions {
  port?: number;
  env?: Record<string, string>;
  timeoutMs?: number;
  /** JWT_SECRET; null starts it without one. Default {@link TEST_SECRET}. */
  secret?: string | null;
}

/**
 * Starts the demo on `runtime`. `port` 0 lets Node and Deno pick one (they print it); wrangler
 * is given a free one.
 */
export async function startDemo(runtime: Runtime, options: StartOptions = {}): Promise<DemoServer> {
  const secret = options.secret === undefined ? TEST_SECRET : options.secret;
  let port = options.port ?? 0;
  if (runtime === 'workers' && port === 0) port = await freePort();
  const persistDir = await mkdtemp(join(tmpdir(), 'anyws-demo-'));
  const [file, args] = command(runtime, port, persistDir, secret);
  if (!existsSync(file) && runtime !== 'node')
    throw new Error(`${file} is missing: run pnpm install`);
  const child: ChildProcess = spawn(file, args, {
    cwd: APP_DIR,
    env: {
      ...process.env,
      PORT: String(port),
      HOST: '127.0.0.1',
      JWT_SECRET: secret ?? '',
      NO_COLOR: '1',
      // Keep wrangler off the network: no metrics, no update check (banner), no Request.cf download.
      WRANGLER_SEND_METRICS: 'false',
      WRANGLER_HIDE_BANNER: 'true',
      CLOUDFLARE_CF_FETCH_ENABLED: 'false',
      ...options.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    // Its own process group: wrangler runs workerd as a child, and both must go on stop.
    detached: true,
  });
  let output = '';
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const address = new Promise<number>((resolve, reject) => {
    const timer = setTimeout(
      () =>
        reject(
          new Error(
            `${runtime} demo did not start within ${options.timeoutMs ?? 30_000} ms:\n${output}`,
          ),
        ),
      options.timeoutMs ?? 30_000,
    );
    const onData = (chunk: Buffer): void => {
      output += chunk.toString('utf8');
      // Node and Deno entries print "listening on http://…"; wrangler prints "Ready on http://…".
      // (Node and Deno may be told another HOST; the tests still talk to 127.0.0.1.)
      const match = /(?:listening|Ready) on http:\/\/[^/\s]+:(\d+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(
        new Error(`${runtime} demo exited with ${String(code)} before it was ready:\n${output}`),
      );
    });
  });
  const cleanup = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      signal(child, 'SIGTERM');
      const killer = setTimeout(() => signal(child, 'SIGKILL'), 5000);
      await exited;
      clearTimeout(killer);
    }
    // Whatever the group left behind (workerd under wrangler).
    signal(child, 'SIGKILL');
    await rm(persistDir, { recursive: true, force: true });
  };
  let actual: number;
  try {
    actual = await address;
  } catch (error) {
    await cleanup();
    throw error;
  }
  return {
    runtime,
    port: actual,
    url: `http://127.0.0.1:${actual}`,
    output: () => output,
    stop: cleanup,
  };
}
