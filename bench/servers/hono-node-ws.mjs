// @hono/node-ws on @hono/node-server. It has no topics: broadcast is a loop over a Set of
// its contexts, as its users write it. It has no compression option either: COMPRESS=1
// sets perMessageDeflate on the ws server it exposes, and sends ask for compression (its
// `send` passes `compress: undefined` to ws otherwise, which turns compression off).
import { serve } from '@hono/node-server';
import { createNodeWebSocket } from '@hono/node-ws';
import { Hono } from 'hono';
import { compress, HOST, port, ready } from './_common.mjs';

const app = new Hono();
const { injectWebSocket, upgradeWebSocket, wss } = createNodeWebSocket({ app });
if (compress) wss.options.perMessageDeflate = { threshold: 0 };
const subscribers = new Set();
const sendOptions = compress ? { compress: true } : undefined;

app.get(
  '/sub',
  upgradeWebSocket(() => ({
    onOpen: (_event, ws) => subscribers.add(ws),
    onClose: (_event, ws) => subscribers.delete(ws),
  })),
);
app.get(
  '/pub',
  upgradeWebSocket(() => ({
    onMessage: (event) => {
      for (const sub of subscribers) sub.send(event.data, sendOptions);
    },
  })),
);
app.get(
  '*',
  upgradeWebSocket(() => ({
    onMessage: (event, ws) => ws.send(event.data),
  })),
);

const server = serve({ fetch: app.fetch, port, hostname: HOST }, (info) => ready(info.port));
injectWebSocket(server);
