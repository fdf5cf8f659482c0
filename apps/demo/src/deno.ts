/** The demo on Deno: `pnpm demo:deno`. The same Hono app on `Deno.serve`, WebSockets through @anyws/deno. */
import { upgradeWebSocket } from '@anyws/deno/hono';
import { connectCluster } from './cluster.js';
import { createProcessDemo, orExit } from './process.js';

/** The parts of the `Deno` global used here (this file builds with plain tsc). */
declare const Deno: {
  version: { deno: string };
  env: { get(name: string): string | undefined };
  serve(
    options: {
      hostname: string;
      port: number;
      onListen(addr: { hostname: string; port: number }): void;
    },
    handler: (request: Request) => Response | Promise<Response>,
  ): { shutdown(): Promise<void> };
  addSignalListener(signal: 'SIGINT' | 'SIGTERM', handler: () => void): void;
  exit(code: number): never;
};

// With REDIS_URL: one of several processes sharing rooms and presence through Redis.
const cluster = await connectCluster((name) => Deno.env.get(name)).catch((error: Error) => {
  console.error(`anyws demo cannot start: Redis at REDIS_URL: ${error.message}`);
  return Deno.exit(1);
});

const { app, live, hostname, port, notice } = orExit(
  () =>
    createProcessDemo(
      'deno',
      (name) => Deno.env.get(name),
      (handler) => upgradeWebSocket(handler, { topics: cluster?.topics }),
      cluster,
    ),
  (code) => Deno.exit(code),
);

const server = Deno.serve(
  {
    hostname,
    port,
    onListen(addr) {
      console.log(notice);
      if (cluster)
        console.log(
          `rooms, history and presence across processes on Redis (${cluster.topics.processId})`,
        );
      console.log(
        `anyws demo on Deno ${Deno.version.deno} listening on http://${addr.hostname}:${addr.port}`,
      );
    },
  },
  (request) => app.fetch(request),
);

let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  console.log(`${signal}: closing ${live.size} connection(s) with 1001 and stopping`);
  await live.closeAll(1001, 'server shutting down');
  await server.shutdown();
  await cluster?.close();
  Deno.exit(0);
}
Deno.addSignalListener('SIGINT', () => void shutdown('SIGINT'));
Deno.addSignalListener('SIGTERM', () => void shutdown('SIGTERM'));
