/** The demo on Deno: `pnpm demo:deno`. The same Hono app on `Deno.serve`, WebSockets through @anyws/deno. */
import { upgradeWebSocket } from '@anyws/deno/hono';
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

const { app, live, hostname, port, notice } = orExit(
  () =>
    createProcessDemo(
      'deno',
      (name) => Deno.env.get(name),
      (handler) => upgradeWebSocket(handler),
    ),
  (code) => Deno.exit(code),
);

const server = Deno.serve(
  {
    hostname,
    port,
    onListen(addr) {
      console.log(notice);
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
  Deno.exit(0);
}
Deno.addSignalListener('SIGINT', () => void shutdown('SIGINT'));
Deno.addSignalListener('SIGTERM', () => void shutdown('SIGTERM'));
