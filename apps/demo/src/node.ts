/** The demo on Node.js: `pnpm demo`. Hono on @hono/node-server, WebSockets through @anyws/node. */
import { createServer, createWebSocketServer, upgradeWebSocket } from '@anyws/node/hono';
import { serve } from '@hono/node-server';
import { connectCluster } from './cluster.js';
import { createProcessDemo, orExit } from './process.js';

// With REDIS_URL: one of several processes sharing rooms and presence through Redis.
const cluster = await connectCluster((name) => process.env[name]).catch((error: Error) => {
  console.error(`anyws demo cannot start: Redis at REDIS_URL: ${error.message}`);
  return process.exit(1);
});

const { app, live, hostname, port, notice } = orExit(
  () =>
    createProcessDemo(
      'node',
      (name) => process.env[name],
      (handler) => upgradeWebSocket(handler, { topics: cluster?.topics }),
      cluster,
    ),
  (code) => process.exit(code),
);

// One ws server for both routes: it refuses anything over the echo's 16 MiB by itself, and
// core checks the chat's smaller limit.
const websocket = { server: createWebSocketServer({ maxPayload: 16 * 1024 * 1024 }) };
// anyws's createServer: an upgrade other than websocket (h2c, …) is answered 426 instead of
// hanging, and a half-sent handshake is closed after 10 s (its handshakeTimeout).
const server = serve({ fetch: app.fetch, hostname, port, websocket, createServer }, (info) => {
  console.log(notice);
  if (cluster)
    console.log(
      `rooms, history and presence across processes on Redis (${cluster.topics.processId})`,
    );
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
  await cluster?.close();
  process.exit(0);
}
process.once('SIGINT', () => void shutdown('SIGINT'));
process.once('SIGTERM', () => void shutdown('SIGTERM'));
