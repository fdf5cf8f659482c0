/**
 * The Hono helper on Deno: the same handler served from a Hono route on `Deno.serve`, with
 * core's handshake checks, and plain HTTP passed on to the route's next handler.
 */
import { WSMsgType } from '@anyws/core';
import { Hono } from 'hono';
import { upgradeWebSocket } from '../src/hono.ts';
import { connect } from '../src/index.ts';
import { assertEquals, options } from './assert.ts';
import { handshakeLines, rawRequest } from './raw.ts';

const app = new Hono();
app.get(
  '/ws/echo',
  upgradeWebSocket({
    options: { protocols: ['echo.v1'] },
    message(conn, message) {
      if (message.type === WSMsgType.TEXT || message.type === WSMsgType.BINARY) {
        conn.send(message.data).catch(() => undefined);
      }
    },
  }),
  (c) => c.text('plain HTTP here'),
);
const server = Deno.serve({ hostname: '127.0.0.1', port: 0, onListen: () => undefined }, app.fetch);
const port = server.addr.port;

Deno.test({
  name: 'hono: a WebSocket route echoes, with the subprotocol answered',
  ...options,
  async fn() {
    const conn = await connect(`ws://127.0.0.1:${String(port)}/ws/echo`, {
      protocols: ['echo.v1'],
    });
    assertEquals(conn.protocol, 'echo.v1', 'protocol');
    await conn.sendText('via hono');
    assertEquals(await conn.receiveText({ timeout: 3000 }), 'via hono', 'echo');
    await conn.sendBytes(new Uint8Array([1, 2, 3]));
    assertEquals((await conn.receiveBytes({ timeout: 3000 })).join(','), '1,2,3', 'binary echo');
    await conn.close(4000, 'done');
    assertEquals(conn.closeCode, 4000, 'closeCode');
  },
});

Deno.test({
  name: 'hono: plain HTTP goes to the next handler; a bad handshake is refused, not a 500',
  ...options,
  async fn() {
    const plain = await fetch(`http://127.0.0.1:${String(port)}/ws/echo`);
    assertEquals(plain.status, 200, 'plain GET');
    assertEquals(await plain.text(), 'plain HTTP here', 'from the next handler');
    const lines = handshakeLines(port, '/ws/echo').map((line) =>
      line.startsWith('Sec-WebSocket-Version') ? 'Sec-WebSocket-Version: 12' : line,
    );
    const peer = await rawRequest(port, lines);
    const head = await peer.readHead();
    peer.close();
    assertEquals(head?.status, 426, 'version 12');
    assertEquals(head?.headers.get('sec-websocket-version'), '13', 'advertised version');
    const conn = await connect(`ws://127.0.0.1:${String(port)}/ws/echo`);
    await conn.sendText('still serving');
    assertEquals(await conn.receiveText({ timeout: 3000 }), 'still serving', 'echo after refusals');
    await conn.close();
  },
});
