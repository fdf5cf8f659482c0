// @anyws/deno with the pull API: a session per connection that awaits each message and each
// send. Broadcast goes through its topics. Same protocol as servers/_common.mjs (any path
// echoes; `/sub` subscribes; `/pub` publishes). Run: deno run -A bench/servers/deno-anyws.ts
// (PORT to choose).
import { type WebSocketConnection, WSMsgType } from '@anyws/core';
import { serve } from '@anyws/deno';

const port = Number(Deno.env.get('PORT') ?? 0);

const handler = {
  async session(conn: WebSocketConnection) {
    const path = new URL(conn.request.url).pathname;
    if (path === '/sub') {
      conn.subscribe('bench');
      await conn.whenClosed;
    } else if (path === '/pub') {
      for await (const msg of conn) {
        if (msg.type === WSMsgType.TEXT || msg.type === WSMsgType.BINARY)
          conn.publish('bench', msg.data);
      }
    } else {
      for await (const msg of conn) {
        if (msg.type === WSMsgType.TEXT || msg.type === WSMsgType.BINARY) await conn.send(msg.data);
      }
    }
  },
};

const server = await serve({ hostname: '127.0.0.1', port, handler });
console.log(`ready ${String(server.port)}`);

Deno.addSignalListener('SIGTERM', () => Deno.exit(0));
