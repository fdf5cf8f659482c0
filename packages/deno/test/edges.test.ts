/**
 * @anyws/deno at its edge: `serve()`'s defaults, `maxConnections` (503 with `Retry-After`
 * before upgrading, tested with the limit plus 10), a non-WebSocket upgrade answered at once,
 * and `conn.request` still readable after Deno consumed the upgrade request.
 */
import { UnsupportedOptionError, type WebSocketHandler, WSMsgType } from '@anyws/core';
import { connect, serve, upgrade } from '../src/index.ts';
import { assert, assertEquals, options } from './assert.ts';
import { handshakeLines, type RawPeer, rawRequest } from './raw.ts';

const echo: WebSocketHandler = {
  message(conn, message) {
    if (message.type === WSMsgType.TEXT) conn.sendText(message.data).catch(() => undefined);
  },
};

async function expectEcho(url: string): Promise<void> {
  const conn = await connect(url);
  await conn.sendText('still serving');
  assertEquals(await conn.receiveText({ timeout: 5000 }), 'still serving', 'echo');
  await conn.close();
}

/** Opens limit + 10 raw handshakes; returns their statuses, Retry-After values and peers. */
async function fill(port: number, path: string, count: number) {
  const statuses: number[] = [];
  const retryAfter: string[] = [];
  const peers: RawPeer[] = [];
  for (let i = 0; i < count; i++) {
    const peer = await rawRequest(port, handshakeLines(port, path));
    peers.push(peer);
    const head = await peer.readHead();
    assert(head, `no answer to handshake ${String(i)}`);
    statuses.push(head.status);
    const retry = head.headers.get('retry-after');
    if (retry) retryAfter.push(retry);
  }
  return { statuses, retryAfter, peers };
}

const limit = 20;

function expectLimit(statuses: number[], retryAfter: string[]): void {
  assertEquals(statuses.filter((s) => s === 101).length, limit, 'upgraded up to the limit');
  assertEquals(
    JSON.stringify(statuses.slice(limit)),
    JSON.stringify(new Array(10).fill(503)),
    'refused past the limit',
  );
  assertEquals(JSON.stringify(retryAfter), JSON.stringify(new Array(10).fill('1')), 'Retry-After');
}

Deno.test({
  name: 'serve(): port 0 and 0.0.0.0 by default, url on 127.0.0.1; Upgrade: h2c gets 426',
  ...options,
  async fn() {
    const server = await serve({ handler: echo });
    try {
      assertEquals(server.hostname, '0.0.0.0', 'hostname');
      assert(server.port > 0, 'a free port was picked');
      assertEquals(server.url, `ws://127.0.0.1:${String(server.port)}`, 'url');
      const peer = await rawRequest(server.port, [
        'GET /ws HTTP/1.1',
        `Host: 127.0.0.1:${String(server.port)}`,
        'Upgrade: h2c',
        'Connection: Upgrade, HTTP2-Settings',
        'HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA',
      ]);
      const head = await peer.readHead(1000);
      peer.close();
      assertEquals(head?.status, 426, 'answered at once');
      await expectEcho(`${server.url}/ws`);
    } finally {
      await server.close();
    }
  },
});

Deno.test({
  name: 'serve(): maxConnections: past it 503 + Retry-After before upgrading; a freed place is reused',
  ...options,
  async fn() {
    const server = await serve({ hostname: '127.0.0.1', handler: echo, maxConnections: limit });
    const { statuses, retryAfter, peers } = await fill(server.port, '/ws', limit + 10);
    try {
      expectLimit(statuses, retryAfter);
      assertEquals(server.connections.size, limit, 'open connections');
      peers[0]!.close();
      for (let i = 0; i < 500 && server.connections.size === limit; i++)
        await new Promise((resolve) => setTimeout(resolve, 10));
      assertEquals(server.connections.size, limit - 1, 'the place was given up');
      await expectEcho(`${server.url}/ws`);
    } finally {
      for (const peer of peers) peer.close();
      await server.close();
    }
  },
});

Deno.test({
  name: 'upgrade(): maxConnections counts per handler; conn.request is readable after the upgrade',
  ...options,
  async fn() {
    const seen: string[] = [];
    const handler: WebSocketHandler = {
      open(conn) {
        const request = conn.request;
        seen.push(`${request?.url} ${String(request?.headers.get('x-a'))}`);
      },
    };
    const http = Deno.serve({ hostname: '127.0.0.1', port: 0, onListen: () => undefined }, (r) =>
      upgrade(r, handler, { maxConnections: limit }),
    );
    const port = http.addr.port;
    const first = await rawRequest(port, [...handshakeLines(port, '/r?q=1'), 'X-A: yes']);
    const firstHead = await first.readHead();
    assertEquals(firstHead?.status, 101, 'upgraded');
    const { statuses, retryAfter, peers } = await fill(port, '/r', limit + 9);
    try {
      expectLimit([101, ...statuses], retryAfter);
      for (let i = 0; i < 500 && seen.length === 0; i++)
        await new Promise((resolve) => setTimeout(resolve, 10));
      assertEquals(seen[0], `http://127.0.0.1:${String(port)}/r?q=1 yes`, 'conn.request');
    } finally {
      first.close();
      for (const peer of peers) peer.close();
      await http.shutdown();
    }
  },
});

Deno.test({
  name: 'compress: true is refused (Deno has no permessage-deflate): connect rejects, a handler gets 500',
  ...options,
  async fn() {
    let refused: unknown;
    try {
      await connect('ws://127.0.0.1:9/', { compress: true });
    } catch (error) {
      refused = error;
    }
    assert(refused instanceof UnsupportedOptionError, `connect: ${String(refused)}`);
    assertEquals(refused.option, 'compress: true', 'option named');
    let hookRan = false;
    const server = await serve({
      hostname: '127.0.0.1',
      handler: {
        options: { compress: true },
        upgrade() {
          hookRan = true;
        },
      },
    });
    try {
      const peer = await rawRequest(server.port, handshakeLines(server.port, '/'));
      const head = await peer.readHead();
      peer.close();
      assertEquals(head?.status, 500, 'refused before upgrading');
      assertEquals(hookRan, false, 'before the upgrade hook');
      await expectEcho(`${server.url}/`).then(
        () => assert(false, 'a compressing handler must not be served'),
        () => undefined,
      );
    } finally {
      await server.close();
    }
  },
});
