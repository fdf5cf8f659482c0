/** The demo on Node.js: `pnpm demo`. Hono on @hono/node-server, WebSockets through @anyws/node. */

import { createWebSocketServer, upgradeWebSocket } from '@anyws/node/hono';
import { serve } from '@hono/node-server';
import { createApp } from './app.js';
import { resolveSecret, secretNotice, verifyToken } from './auth.js';
import { createChatHandler } from './chat.js';
import { echoHandler } from './echo.js';
import { LiveConnections } from './live.js';

const hostname = process.env.HOST || '127.0.0.1';
const port = Number(process.env.PORT || 8787);
if (!Number.isInteger(port) || port < 0 || port > 65_535) {
  console.error(`PORT must be a port number, got ${JSON.stringify(process.env.PORT)}`);
  process.exit(1);
}
const { secret, isDefault } = resolveSecret(process.env.JWT_SECRET);

const live = new LiveConnections();
const chat = createChatHandler({ verifyToken: (token) => verifyToken(secret, token) });
const app = createApp({
  runtime: 'node',
  secret,
  echo: upgradeWebSocket(live.track(echoHandler)),
  chat: upgradeWebSocket(live.track(chat)),
});

// One ws server for both routes: it refuses anything over the echo's 16 MiB by itself, and
// core checks the chat's smaller limit.
const websocket = { server: createWebSocketServer({ maxPayload: 16 * 1024 * 1024 }) };
const server = serve({ fetch: app.fetch, hostname, port, websocket }, (info) => {
  console.log(secretNotice(isDefault));
  console.log(
    `anyws demo on Node.js ${process.version} listening on http://${hostname}:${info.port}`,
  );
});
server.on('error', (error) => {
  console.error(`cannot listen on ${hostname}:${port}: ${error.message}`);
  process.exit(1);
});

let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  console.log(`${signal}: closing ${live.size} connection(s) with 1001 and stopping`);
  server.close();
  await live.closeAll(1001, 'server shutting down');
  if ('closeAllConnections' in server) server.closeAllConnections();
  process.exit(0);
}
process.once('SIGINT', () => void shutdown('SIGINT'));
process.once('SIGTERM', () => void shutdown('SIGTERM'));
