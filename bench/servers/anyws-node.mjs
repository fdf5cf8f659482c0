// @anyws/node with the pull API: a session per connection that awaits each message and each
// send. Broadcast goes through its topics (a frame built once, written to every subscriber).
// COALESCE=0 switches write coalescing off. Each path has its handler, routed by `attach` as
// ws users compare `request.url`; nothing reads `conn.request`, so @anyws/node builds no web
// Request for the upgrade (it keeps what would build one: see bench/README.md, RSS).
import { attach, serve } from '@anyws/node';
import { compress, HOST, port, ready } from './_common.mjs';

const options = compress ? { compress: true } : undefined;
const coalesce = process.env.COALESCE !== '0';

const echo = {
  options,
  async session(conn) {
    for await (const message of conn) await conn.send(message.data);
  },
};
const subscriber = {
  options,
  async session(conn) {
    conn.subscribe('bench');
    await conn.whenClosed;
  },
};
const publisher = {
  options,
  async session(conn) {
    for await (const message of conn) conn.publish('bench', message.data);
  },
};

// Every other path echoes: the standalone server's own route is the fallback.
const server = await serve({ port, hostname: HOST, handler: echo, coalesce });
attach(server.server, { path: '/sub', handler: subscriber, coalesce });
attach(server.server, { path: '/pub', handler: publisher, coalesce });
ready(server.port);
