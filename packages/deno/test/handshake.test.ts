/**
 * The opening handshake on raw TCP sockets, against `upgrade()` inside a plain `Deno.serve`
 * handler (the way Deno users write it). Deno itself upgrades bad versions and malformed keys
 * and answers a missing key with a 500; each refusal here must come from @anyws/deno, and the
 * server must go on serving good clients.
 */
import { WSMsgType } from '@anyws/core';
import { connect, upgrade } from '../src/index.ts';
import { assert, assertEquals, options } from './assert.ts';
import { handshakeLines, type RawPeer, rawHandshake, rawRequest } from './raw.ts';

const server = Deno.serve(
  { hostname: '127.0.0.1', port: 0, onListen: () => undefined },
  (request) => {
    const path = new URL(request.url).pathname;
    if (path === '/refuse') {
      return upgrade(request, {
        upgrade: () => new Response('go away', { status: 403, headers: { 'x-why': 'test' } }),
      });
    }
    return upgrade(request, {
      options: { protocols: ['chat.v2', 'chat.v1'] },
      upgrade: () => ({ headers: { 'x-anyws': 'yes' } }),
      message(conn, message) {
        if (message.type === WSMsgType.TEXT || message.type === WSMsgType.BINARY) {
          conn.send(message.data).catch(() => undefined);
        }
      },
    });
  },
);
const port = server.addr.port;

/** Sends a request head and returns the response status, headers and the (closed) peer. */
async function respond(lines: string[]) {
  const peer: RawPeer = await rawRequest(port, lines);
  const head = await peer.readHead();
  peer.close();
  assert(head, `no response to ${lines[0]}`);
  assert(head.status !== 500, `a 500 for ${JSON.stringify(lines)}`);
  return head;
}

/** A valid handshake with `drop` header names removed and `add` lines appended. */
function variant(drop: string[], add: string[] = [], method = 'GET'): string[] {
  const lines = handshakeLines(port, '/echo').filter(
    (line) => !drop.some((name) => line.toLowerCase().startsWith(`${name.toLowerCase()}:`)),
  );
  lines[0] = lines[0]!.replace(/^GET/, method);
  return [...lines, ...add];
}

Deno.test({
  name: 'not GET: 405 with Allow: GET',
  ...options,
  async fn() {
    for (const method of ['POST', 'PUT', 'DELETE', 'HEAD', 'OPTIONS']) {
      const head = await respond(variant([], [], method));
      assertEquals(head.status, 405, `${method} status`);
      assertEquals(head.headers.get('allow'), 'GET', `${method} Allow`);
    }
    // With a body, Deno's HTTP layer refuses the upgrade request itself, before any handler.
    const withBody = await respond(variant([], ['Content-Length: 0'], 'POST'));
    assertEquals(withBody.status, 400, 'POST with a body: Deno answers 400');
  },
});

Deno.test({
  name: 'no Upgrade: websocket or no Connection: upgrade: 426',
  ...options,
  async fn() {
    assertEquals((await respond(variant(['upgrade']))).status, 426, 'without Upgrade');
    assertEquals(
      (await respond(variant(['upgrade'], ['Upgrade: h2c']))).status,
      426,
      'Upgrade: h2c',
    );
    assertEquals((await respond(variant(['connection']))).status, 426, 'without Connection');
    const keepAlive = await respond(variant(['connection'], ['Connection: keep-alive']));
    assertEquals(keepAlive.status, 426, 'Connection: keep-alive (Deno alone answers 500)');
    const both = await respond(variant(['upgrade', 'connection']));
    assertEquals(both.status, 426, 'a plain GET');
  },
});

Deno.test({
  name: 'missing or malformed Sec-WebSocket-Key: 400',
  ...options,
  async fn() {
    assertEquals(
      (await respond(variant(['sec-websocket-key']))).status,
      400,
      'missing (Deno alone: 500)',
    );
    for (const key of [
      'not a key',
      'AAAA',
      'AAAAAAAAAAAAAAAAAAAAAAAA',
      'AAAAAAAAAAAAAAAAAAAAA===',
      'AAAAAAAAAAAAAAAAAAAAAAAAAA==',
    ]) {
      const head = await respond(variant(['sec-websocket-key'], [`Sec-WebSocket-Key: ${key}`]));
      assertEquals(head.status, 400, `key ${key} (Deno alone upgrades it)`);
    }
  },
});

Deno.test({
  name: 'Sec-WebSocket-Version other than 13: 426 with Sec-WebSocket-Version: 13',
  ...options,
  async fn() {
    for (const version of ['12', '8', '14', '', 'thirteen']) {
      const head = await respond(
        variant(['sec-websocket-version'], [`Sec-WebSocket-Version: ${version}`]),
      );
      assertEquals(head.status, 426, `version ${JSON.stringify(version)} (Deno alone upgrades it)`);
      assertEquals(head.headers.get('sec-websocket-version'), '13', 'advertised version');
    }
    const missing = await respond(variant(['sec-websocket-version']));
    assertEquals(missing.status, 426, 'missing version');
    assertEquals(missing.headers.get('sec-websocket-version'), '13', 'advertised version');
  },
});

Deno.test({
  name: "the upgrade hook's refusal is answered as it is, before any upgrade",
  ...options,
  async fn() {
    const peer = await rawRequest(port, handshakeLines(port, '/refuse'));
    const head = await peer.readHead();
    assert(head, 'a response');
    assertEquals(head.status, 403, 'status');
    assertEquals(head.headers.get('x-why'), 'test', 'header of the refusal');
    assertEquals(head.headers.get('upgrade'), null, 'no upgrade');
    peer.close();
  },
});

Deno.test({
  name: 'after all the refusals a good client is served: 101, accept, subprotocol chosen (an unmatched offer 400), echo',
  ...options,
  async fn() {
    const offered = await rawHandshake(port, '/echo', ['Sec-WebSocket-Protocol: chat.v1, chat.v2']);
    assertEquals(
      offered.head.headers.get('sec-websocket-protocol'),
      'chat.v2',
      'the server preference',
    );
    assertEquals(offered.head.headers.get('x-anyws'), 'yes', "the hook's header on the 101");
    offered.peer.close();
    const none = await rawHandshake(port, '/echo');
    assertEquals(
      none.head.headers.get('sec-websocket-protocol'),
      null,
      'none offered, none answered',
    );
    none.peer.close();
    const unknown = await respond([
      ...handshakeLines(port, '/echo'),
      'Sec-WebSocket-Protocol: other',
    ]);
    assertEquals(unknown.status, 400, 'an offer with nothing in common is refused');
    const spaceless = await rawHandshake(port, '/echo', [
      'Sec-WebSocket-Protocol: chat.v1,chat.v2',
    ]);
    assertEquals(
      spaceless.head.status,
      101,
      'an offer without spaces (aiohttp) is upgraded: Deno is not asked to split it',
    );
    assertEquals(spaceless.head.headers.get('sec-websocket-protocol'), 'chat.v2', 'chosen');
    spaceless.peer.close();

    const conn = await connect(`ws://127.0.0.1:${String(port)}/echo`, { protocols: ['chat.v1'] });
    assertEquals(conn.protocol, 'chat.v1', 'client sees the choice');
    await conn.sendText('still serving');
    assertEquals(await conn.receiveText({ timeout: 3000 }), 'still serving', 'echo');
    await conn.close();
    assertEquals(conn.closeCode, 1000, 'closeCode');
  },
});

Deno.test({
  name: 'why the checks: Deno alone upgrades a bad version and a malformed key, and 500s without a key',
  ...options,
  async fn() {
    const bare = Deno.serve(
      {
        hostname: '127.0.0.1',
        port: 0,
        onListen: () => undefined,
        // Deno's own answer to a handler that throws, without its log line.
        onError: () => new Response('Internal Server Error', { status: 500 }),
      },
      (request) => {
        const { socket, response } = Deno.upgradeWebSocket(request);
        socket.onopen = () => socket.close();
        return response;
      },
    );
    const at = bare.addr.port;
    const ask = async (drop: string, add: string[]) => {
      const lines = handshakeLines(at, '/').filter(
        (line) => !line.toLowerCase().startsWith(`${drop}:`),
      );
      const peer = await rawRequest(at, [...lines, ...add]);
      const head = await peer.readHead();
      peer.close();
      return head?.status;
    };
    assertEquals(
      await ask('sec-websocket-version', ['Sec-WebSocket-Version: 12']),
      101,
      'version 12',
    );
    assertEquals(
      await ask('sec-websocket-key', ['Sec-WebSocket-Key: not a key']),
      101,
      'malformed key',
    );
    assertEquals(await ask('sec-websocket-key', []), 500, 'missing key');
    await bare.shutdown();
  },
});
