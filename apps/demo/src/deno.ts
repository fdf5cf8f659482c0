/** The demo on Deno: `pnpm demo:deno`. The same Hono app on `Deno.serve`, WebSockets through @anyws/deno. */
import { upgradeWebSocket } from '@anyws/deno/hono';
import { createApp } from './app.js';
import { resolveSecret, secretNotice, verifyToken } from './auth.js';
import { createChatHandler } from './chat.js';
import { echoHandler } from './echo.js';
import { LiveConnections } from './live.js';

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

const hostname = Deno.env.get('HOST') || '127.0.0.1';
const port = Number(Deno.env.get('PORT') || 8787);
if (!Number.isInteger(port) || port < 0 || port > 65_535) {
  console.error(`PORT must be a port number, got ${JSON.stringify(Deno.env.get('PORT'))}`);
  Deno.exit(1);
}
const { secret, isDefault } = resolveSecret(Deno.env.get('JWT_SECRET'));

const live = new LiveConnections();
const chat = createChatHandler({ verifyToken: (token) => verifyToken(secret, token) });
const app = createApp({
  runtime: 'deno',
  secret,
  echo: upgradeWebSocket(live.track(echoHandler)),
  chat: upgradeWebSocket(live.track(chat)),
});

const server = Deno.serve(
  {
    hostname,
    port,
    onListen(addr) {
      console.log(secretNotice(isDefault));
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
