/**
 * The reconnecting client on Deno (Deno's WebSocket client, Deno.upgradeWebSocket server): core's
 * `ReconnectingClient` over this package's `connect`. The server drops the client's connection
 * itself and refuses it while publications are made; the client comes back by itself, and the
 * channel followed through it joins again from its position with no code of the test's.
 */
import type { WebSocketConnection } from '@anyws/core';
import { ChannelClient, ChannelServer, type JoinResult } from '@anyws/core/channels';
import { chatMessages as messages, until } from '@anyws/core/contract';
import { ReconnectingClient, serve } from '../src/index.ts';
import { assertEquals, options } from './assert.ts';

Deno.test(
  'ReconnectingClient on Deno: dropped and refused, it comes back and its channel re-joins by itself: each missed message once, in order',
  options,
  async () => {
    const channels = new ChannelServer({
      messages,
      authorize: (_p, channel) => channel === 'room',
    });
    const open = new Set<WebSocketConnection<unknown>>();
    let refusing = false;
    let upgrades = 0;
    const server = await serve({
      hostname: '127.0.0.1',
      port: 0,
      handler: channels.handler({
        upgrade: () => {
          upgrades++;
          return refusing ? new Response('not now', { status: 503 }) : undefined;
        },
        open: (conn) => {
          open.add(conn);
        },
        close: (conn) => {
          open.delete(conn);
        },
      }),
    });
    const client = new ReconnectingClient(`ws://127.0.0.1:${String(server.port)}/`, {
      reconnect: { minDelay: 20, maxDelay: 100 },
      heartbeat: null,
    });
    try {
      const room = new ChannelClient({ messages }, client).channel('room');
      const got: { offset: number; text: string }[] = [];
      const joins: JoinResult[] = [];
      room.on('publication', (p) => got.push({ offset: p.offset, text: p.data.text }));
      room.on('joined', (result) => joins.push(result));
      await room.join();
      for (let i = 1; i <= 3; i++) await channels.publish('room', 'chat', { text: `m${i}` });
      await until(() => got.length === 3, 'three live publications');

      refusing = true;
      const conns = [...open];
      for (const conn of conns) conn.terminate();
      await Promise.all(conns.map((conn) => conn.whenClosed));
      for (let i = 4; i <= 20; i++) await channels.publish('room', 'chat', { text: `m${i}` });
      await until(() => upgrades >= 2, 'a refused attempt');
      assertEquals(got.length, 3, 'nothing arrives while cut off');
      refusing = false;

      await until(() => got.length === 20, 'the missed publications');
      await channels.publish('room', 'chat', { text: 'm21' });
      await until(() => got.length === 21, 'the live one after them');
      const all = Array.from({ length: 21 }, (_, i) => i + 1);
      assertEquals(got.map((p) => p.offset).join(), all.join(), 'offsets, once and in order');
      assertEquals(got.map((p) => p.text).join(), all.map((i) => `m${i}`).join(), 'texts');
      assertEquals(
        joins.map((j) => `${j.recovered}@${j.offset}`).join(),
        'false@0,true@3',
        'one join by the test, one re-join by the client, recovered',
      );
      assertEquals(client.state, 'connected', 'state');
    } finally {
      await client.close();
      await server.close();
    }
  },
);
