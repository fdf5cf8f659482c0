// The root README's server + client example, as written there, so the docs cannot drift.
import { defineHandler, WSCloseCode, WSMsgType } from '@anyws/core';
import { expect, it } from 'vitest';
import { connect, serve } from '../src/index.js';

it('the README example runs as written', async () => {
  const chat = defineHandler<{ user: string }>({
    options: { heartbeat: 30_000, maxMessageSize: 64 * 1024 },
    upgrade(request) {
      const user = new URL(request.url).searchParams.get('user');
      if (!user) return new Response('who are you?', { status: 401 }); // refused before upgrading
      return { context: { user } };
    },
    async session(conn) {
      conn.subscribe('lobby');
      for await (const msg of conn) {
        if (msg.type === WSMsgType.TEXT) conn.publish('lobby', `${conn.context.user}: ${msg.data}`);
      }
    },
  });

  const server = await serve({ port: 0, hostname: '127.0.0.1', handler: chat });

  const conn = await connect(`${server.url}/?user=ada`, { receiveTimeout: 5_000 });
  await conn.sendText('hello');
  const reply = await conn.receiveText();
  await conn.close(WSCloseCode.OK, 'bye');

  expect(reply).toBe('ada: hello');
  expect(conn.closeCode).toBe(1000);
  await expect(connect(server.url)).rejects.toMatchObject({ name: 'HandshakeError', status: 401 });
  await server.close();
});
