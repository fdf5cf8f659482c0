// @anyws/node with the pull API: a session per connection that awaits each message and each
// send. Broadcast goes through its topics (a frame built once, written to every subscriber).
// COALESCE=0 switches write coalescing off. The session reads its path from `conn.url` and
// does not declare the request: @anyws/node then builds no web Request for the upgrade, and
// nothing holds one for the connection's life.
import { serve } from '@anyws/node';
import { compress, HOST, port, ready } from './_common.mjs';

const handler = {
  options: compress ? { compress: true } : undefined,
  async session(conn) {
    const path = new URL(conn.url).pathname;
    if (path === '/sub') {
      conn.subscribe('bench');
      await conn.whenClosed;
    } else if (path === '/pub') {
      for await (const message of conn) conn.publish('bench', message.data);
    } else {
      for await (const message of conn) await conn.send(message.data);
    }
  },
};

const server = await serve({
  port,
  hostname: HOST,
  handler,
  coalesce: process.env.COALESCE !== '0',
});
ready(server.port);
