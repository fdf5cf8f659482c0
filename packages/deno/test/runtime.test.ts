/**
 * What Deno's WebSocket does by itself, seen on the wire with raw TCP peers: the evidence
 * behind each line of DENO_SERVER_CAPABILITIES and DENO_CLIENT_CAPABILITIES, for server sockets (`Deno.upgradeWebSocket`) and
 * client sockets (`new WebSocket`), plus what the adapter adds on top (1009, close codes,
 * drain, handshake status).
 */
import {
  HandshakeError,
  HEARTBEAT_PROTOCOL,
  type WebSocketConnection,
  type WebSocketHandler,
  WSMsgType,
} from '@anyws/core';
import {
  connect,
  DENO_CLIENT_CAPABILITIES,
  DENO_SERVER_CAPABILITIES,
  serve,
} from '../src/index.ts';
import { assert, assertEquals, options } from './assert.ts';
import { closeCodeOf, closePayload, encodeFrame, OP, RawServer, rawClient, textOf } from './raw.ts';

/** What the server side saw of one connection. */
interface Seen {
  conn: WebSocketConnection<unknown>;
  closed: Promise<{
    code: number | null;
    reason: string | null;
    error: string | null;
    errorName: string | null;
  }>;
}

const seen: Seen[] = [];
const nextSeen = async (): Promise<Seen> => {
  for (let i = 0; i < 300 && seen.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
  const found = seen.shift();
  assert(found, 'the server saw no connection');
  return found;
};
const watch: WebSocketHandler = {
  open(conn) {
    seen.push({
      conn,
      closed: conn.whenClosed.then(() => ({
        code: conn.closeCode,
        reason: conn.closeReason,
        error: conn.exception()?.message ?? null,
        errorName: conn.exception()?.name ?? null,
      })),
    });
  },
  message(conn, message) {
    if (message.type === WSMsgType.TEXT || message.type === WSMsgType.BINARY) {
      conn.send(message.data).catch(() => undefined);
    }
  },
};
const routes: Record<string, WebSocketHandler> = {
  '/watch': watch,
  '/small': { ...watch, options: { maxMessageSize: 1024 } },
};
const server = await serve({
  hostname: '127.0.0.1',
  port: 0,
  handler: (request) => routes[new URL(request.url).pathname],
});

// ---- server sockets ----------------------------------------------------------------

Deno.test({
  name: 'server: Deno answers a ping itself, with its payload (forcedAutoPong)',
  ...options,
  async fn() {
    assertEquals(DENO_SERVER_CAPABILITIES.forcedAutoPong, true, 'declared');
    const peer = await rawClient(server.port, '/watch');
    await nextSeen();
    await peer.write(encodeFrame(OP.ping, 'are you there', true));
    const pong = await peer.readFrame();
    assertEquals(pong?.op, OP.pong, 'a pong');
    assertEquals(textOf(pong!.payload), 'are you there', 'its payload');
    peer.close();
  },
});

Deno.test({
  name: "server: Deno echoes the peer's close itself; the connection sees the code (forcedCloseReply)",
  ...options,
  async fn() {
    assertEquals(DENO_SERVER_CAPABILITIES.forcedCloseReply, true, 'declared');
    const peer = await rawClient(server.port, '/watch');
    const { closed } = await nextSeen();
    await peer.write(encodeFrame(OP.close, closePayload(4001, 'bye ✓'), true));
    const answer = await peer.readFrame();
    assertEquals(answer?.op, OP.close, 'a close frame');
    assertEquals(closeCodeOf(answer!), 4001, 'the same code');
    assertEquals(textOf(answer!.payload.subarray(2)), 'bye ✓', 'the same reason');
    const result = await closed;
    assertEquals(result.code, 4001, 'server closeCode');
    assertEquals(result.reason, 'bye ✓', 'server closeReason');
    assert(await peer.waitEnd(), 'Deno closed the TCP connection');
    peer.close();
  },
});

Deno.test({
  name: 'server: an empty close frame is answered empty; the connection sees 1005',
  ...options,
  async fn() {
    const peer = await rawClient(server.port, '/watch');
    const { closed } = await nextSeen();
    await peer.write(encodeFrame(OP.close, closePayload(), true));
    const answer = await peer.readFrame();
    assertEquals(answer?.op, OP.close, 'a close frame');
    assertEquals(answer?.payload.byteLength, 0, 'without a body');
    assertEquals((await closed).code, 1005, 'server closeCode');
    peer.close();
  },
});

Deno.test({
  name: 'server: an invalid close code is answered with 1002 by Deno (validatesCloseCodes)',
  ...options,
  async fn() {
    assertEquals(DENO_SERVER_CAPABILITIES.validatesCloseCodes, true, 'declared');
    for (const code of [0, 999, 1004, 1005, 1006, 1015, 2999, 5000]) {
      const peer = await rawClient(server.port, '/watch');
      const { closed } = await nextSeen();
      await peer.write(encodeFrame(OP.close, closePayload(code, 'x'), true));
      const answer = await peer.readFrame();
      assertEquals(answer?.op, OP.close, `${String(code)}: a close frame`);
      assertEquals(closeCodeOf(answer!), 1002, `${String(code)}: answered with 1002`);
      const result = await closed;
      assertEquals(result.code, 1002, `${String(code)}: closeCode is Deno's answer`);
      assert(result.error !== null, `${String(code)}: the error is reported`);
      // Typed as on every runtime, though Deno reports a plain error.
      assertEquals(result.errorName, 'ProtocolError', `${String(code)}: a ProtocolError`);
      assertEquals(result.reason, 'protocol error', `${String(code)}: the failure's reason`);
      peer.close();
    }
  },
});

Deno.test({
  name: 'server: a quirk of Deno: a valid 1014 (BAD_GATEWAY) from the peer is answered with 1002',
  ...options,
  async fn() {
    const peer = await rawClient(server.port, '/watch');
    const { closed } = await nextSeen();
    await peer.write(encodeFrame(OP.close, closePayload(1014, 'x'), true));
    const answer = await peer.readFrame();
    assertEquals(closeCodeOf(answer!), 1002, 'Deno answers 1002');
    const result = await closed;
    assertEquals(result.code, 1002, 'recorded as the protocol error Deno answered');
    assert(result.error !== null, 'with the error');
    peer.close();
  },
});

Deno.test({
  name: 'server: a message over maxMessageSize closes with 1009 on the wire (core enforces)',
  ...options,
  async fn() {
    assertEquals(DENO_SERVER_CAPABILITIES.enforcesMaxMessageSize, false, 'declared');
    const peer = await rawClient(server.port, '/small');
    const { closed } = await nextSeen();
    await peer.write(encodeFrame(OP.binary, new Uint8Array(1024), true));
    const echo = await peer.readFrame();
    assertEquals(echo?.payload.byteLength, 1024, 'at the limit: echoed');
    await peer.write(encodeFrame(OP.binary, new Uint8Array(2048), true));
    const answer = await peer.readFrame();
    assertEquals(answer?.op, OP.close, 'a close frame');
    assertEquals(closeCodeOf(answer!), 1009, 'MESSAGE_TOO_BIG');
    await peer.write(encodeFrame(OP.close, answer!.payload, true));
    const result = await closed;
    assertEquals(result.code, 1009, 'server closeCode');
    peer.close();
  },
});

Deno.test({
  name: 'server: an invalid close code from the application is a RangeError, nothing sent',
  ...options,
  async fn() {
    const peer = await rawClient(server.port, '/watch');
    const { conn } = await nextSeen();
    for (const code of [999, 1005.5, 1006, 1015, 5000]) {
      let error: unknown = null;
      try {
        void conn.close(code);
      } catch (e) {
        error = e;
      }
      assert(error instanceof RangeError, `close(${String(code)}) throws a RangeError`);
    }
    assertEquals(conn.state, 'open', 'still open');
    await peer.write(encodeFrame(OP.text, 'still here', true));
    assertEquals(textOf((await peer.readFrame())!.payload), 'still here', 'still served');
    peer.close();
  },
});

Deno.test({
  name: 'server: bufferedAmount grows against a reader that stops; sends resolve once it drains',
  ...options,
  async fn() {
    assertEquals(DENO_SERVER_CAPABILITIES.backpressure, true, 'declared');
    const peer = await rawClient(server.port, '/watch');
    const { conn } = await nextSeen();
    const chunk = new Uint8Array(256 * 1024);
    let pending: Promise<void> | undefined;
    let most = 0;
    // The kernel takes some megabytes first; bounded at 256 sends (64 MiB).
    for (let i = 0; i < 256 && conn.bufferedAmount <= conn.options.highWaterMark; i++) {
      pending = conn.send(chunk);
      await new Promise((r) => setTimeout(r, 1));
      most = Math.max(most, conn.bufferedAmount);
    }
    assert(
      most > conn.options.highWaterMark,
      `bufferedAmount rose above the high-water mark (${String(most)})`,
    );
    assert(pending, 'sent');
    let resolved = false;
    void pending.then(() => {
      resolved = true;
    });
    await new Promise((r) => setTimeout(r, 50));
    assertEquals(resolved, false, 'the send waits while nothing is read');
    peer.start();
    for (let i = 0; i < 500 && !resolved; i++) await new Promise((r) => setTimeout(r, 10));
    assertEquals(resolved, true, 'the send resolved once the reader drained the buffer');
    peer.close();
  },
});

Deno.test({
  name: "server: idleTimeout passes Deno's own keepalive on: ping frames, then 1006 for a peer that never answers",
  ...options,
  async fn() {
    const keepalive = await serve({
      hostname: '127.0.0.1',
      port: 0,
      handler: watch,
      idleTimeout: 200,
    });
    const peer = await rawClient(keepalive.port, '/');
    const { closed } = await nextSeen();
    const ping = await peer.readFrame();
    assertEquals(ping?.op, OP.ping, 'Deno pinged after 100 ms of silence');
    const result = await closed;
    assertEquals(result.code, 1006, 'no pong: ended as abnormal');
    assert(result.error !== null, 'with an error');
    peer.close();
    await keepalive.close();
  },
});

// ---- client sockets ----------------------------------------------------------------

/** A raw server and an @anyws/deno client connected to it. */
async function clientPair(connectOptions?: Parameters<typeof connect>[1]) {
  const raw = new RawServer((request, accept) => {
    // As a server that does not know the heartbeat token: the first other offer, or none.
    const chosen = (request.headers.get('sec-websocket-protocol') ?? '')
      .split(',')
      .map((p) => p.trim())
      .find((p) => p !== '' && p !== HEARTBEAT_PROTOCOL);
    return [
      'HTTP/1.1 101 Switching Protocols',
      'Upgrade: websocket',
      'Connection: Upgrade',
      `Sec-WebSocket-Accept: ${accept}`,
      ...(chosen ? [`Sec-WebSocket-Protocol: ${chosen}`] : []),
    ];
  });
  const conn = await connect(`ws://127.0.0.1:${String(raw.port)}/x`, connectOptions);
  const { peer, request } = await raw.accepted();
  return { raw, conn, peer, request };
}

Deno.test({
  name: 'client: Deno answers a ping itself; no ping() in its API (pingFrames false)',
  ...options,
  async fn() {
    assertEquals(DENO_CLIENT_CAPABILITIES.pingFrames, false, 'declared');
    const { raw, conn, peer } = await clientPair({ autoping: false });
    await peer.write(encodeFrame(OP.ping, 'hi', false));
    const pong = await peer.readFrame();
    assertEquals(pong?.op, OP.pong, 'a pong');
    assertEquals(textOf(pong!.payload), 'hi', 'its payload');
    // Even with autoping false the ping never reaches the application: Deno hides it.
    await peer.write(encodeFrame(OP.text, 'after', false));
    const message = await conn.receive({ timeout: 3000 });
    assertEquals(message.type, WSMsgType.TEXT, 'the next message is the text');
    raw.close();
  },
});

Deno.test({
  name: "client: Deno echoes the server's close; CLOSE then CLOSED with its code",
  ...options,
  async fn() {
    const { raw, conn, peer } = await clientPair();
    await peer.write(encodeFrame(OP.close, closePayload(4002, 'server bye'), false));
    const answer = await peer.readFrame();
    assertEquals(answer?.op, OP.close, 'a close frame');
    assertEquals(closeCodeOf(answer!), 4002, 'the same code');
    const message = await conn.receive({ timeout: 3000 });
    assertEquals(message.type, WSMsgType.CLOSE, 'CLOSE');
    assertEquals(message.data, 4002, 'its code');
    await conn.whenClosed;
    assertEquals(conn.closeCode, 4002, 'closeCode');
    assertEquals(conn.closeReason, 'server bye', 'closeReason');
    raw.close();
  },
});

Deno.test({
  name: 'client: an invalid close code from the server is answered with 1002 by Deno',
  ...options,
  async fn() {
    const { raw, conn, peer } = await clientPair();
    await peer.write(encodeFrame(OP.close, closePayload(1006), false));
    const answer = await peer.readFrame();
    assertEquals(closeCodeOf(answer!), 1002, 'answered with 1002');
    assertEquals(
      (await conn.receive({ timeout: 3000 })).type,
      WSMsgType.ERROR,
      'ERROR for the reader',
    );
    await conn.whenClosed;
    assertEquals(conn.closeCode, 1002, "closeCode is Deno's answer");
    raw.close();
  },
});

Deno.test({
  name: 'client: codes the WHATWG close() refuses go without a body; closeCode keeps them',
  ...options,
  async fn() {
    assertEquals(DENO_CLIENT_CAPABILITIES.restrictedCloseCodes, true, 'declared');
    for (const code of [
      1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 4999,
    ]) {
      const { raw, conn, peer } = await clientPair();
      const allowed = code === 1000 || code >= 3000;
      const closing = conn.close(code, allowed ? `code ${String(code)}` : '');
      const frame = await peer.readFrame();
      assertEquals(frame?.op, OP.close, `${String(code)}: a close frame`);
      assertEquals(closeCodeOf(frame!), allowed ? code : undefined, `${String(code)}: on the wire`);
      await peer.write(encodeFrame(OP.close, frame!.payload, false));
      await closing;
      assertEquals(conn.closeCode, code, `${String(code)}: closeCode`);
      raw.close();
    }
  },
});

Deno.test({
  name: 'client: close(NO_STATUS) sends a close frame without a body',
  ...options,
  async fn() {
    const { raw, conn, peer } = await clientPair();
    const closing = conn.close(1005);
    const frame = await peer.readFrame();
    assertEquals(frame?.op, OP.close, 'a close frame');
    assertEquals(frame?.payload.byteLength, 0, 'no body');
    await peer.write(encodeFrame(OP.close, new Uint8Array(0), false));
    await closing;
    assertEquals(conn.closeCode, 1005, 'closeCode');
    raw.close();
  },
});

Deno.test({
  name: 'client: a message over maxMessageSize: ERROR, a bodiless close (no 1009 from a client), closeCode 1009',
  ...options,
  async fn() {
    const { raw, conn, peer } = await clientPair({ maxMessageSize: 1024 });
    await peer.write(encodeFrame(OP.text, 'x'.repeat(2000), false));
    const frame = await peer.readFrame();
    assertEquals(frame?.op, OP.close, 'a close frame');
    assertEquals(frame?.payload.byteLength, 0, 'without a body: Deno refuses 1009 from a client');
    assertEquals(
      (await conn.receive({ timeout: 3000 })).type,
      WSMsgType.ERROR,
      'ERROR for the reader',
    );
    await peer.write(encodeFrame(OP.close, new Uint8Array(0), false));
    await conn.whenClosed;
    assertEquals(conn.closeCode, 1009, 'closeCode');
    raw.close();
  },
});

Deno.test({
  name: 'client: subprotocol and headers of the handshake; the refused status in HandshakeError',
  ...options,
  async fn() {
    const { raw, conn, request } = await clientPair({
      protocols: ['chat.v1', 'chat.v2'],
      headers: { authorization: 'Bearer t' },
    });
    assertEquals(
      request.headers.get('sec-websocket-protocol'),
      `chat.v1, chat.v2, ${HEARTBEAT_PROTOCOL}`,
      'offered, the heartbeat token last (no ping frames)',
    );
    assertEquals(request.headers.get('authorization'), 'Bearer t', 'extra header');
    assertEquals(conn.protocol, 'chat.v1', 'negotiated');
    conn.terminate();
    raw.close();

    // Only the token offered and a server that selects none: Deno opens all the same.
    const plain = await clientPair({ openTimeout: 5000 });
    assertEquals(
      plain.request.headers.get('sec-websocket-protocol'),
      HEARTBEAT_PROTOCOL,
      'the token alone',
    );
    assertEquals(plain.conn.protocol, '', 'no subprotocol');
    assert(plain.conn.url.startsWith('ws://'), 'a ws: URL');
    plain.conn.terminate();
    plain.raw.close();

    const refusing = new RawServer(() => [
      'HTTP/1.1 429 Too Many Requests',
      'Content-Length: 0',
      'Connection: close',
    ]);
    let error: unknown = null;
    await connect(`ws://127.0.0.1:${String(refusing.port)}/x`).catch((e: unknown) => {
      error = e;
    });
    assert(error instanceof Error && error.name === 'HandshakeError', 'a HandshakeError');
    assertEquals((error as Error & { status?: number }).status, 429, 'its status');
    refusing.close();

    const closedPort = new RawServer();
    const port = closedPort.port;
    closedPort.close();
    error = null;
    await connect(`ws://127.0.0.1:${String(port)}/x`).catch((e: unknown) => {
      error = e;
    });
    assert(
      error instanceof Error && error.name === 'HandshakeError',
      'no server: a HandshakeError',
    );
    assertEquals((error as Error & { status?: number }).status, undefined, 'without a status');
  },
});

// ---- the rest of the API -----------------------------------------------------------

Deno.test({
  name: 'serve: `fetch` answers plain HTTP, upgrades go to the handler; close() ends both',
  ...options,
  async fn() {
    const both = await serve({
      hostname: '127.0.0.1',
      port: 0,
      handler: watch,
      fetch: () => new Response('plain'),
    });
    const plain = await fetch(`http://127.0.0.1:${String(both.port)}/`);
    assertEquals(await plain.text(), 'plain', 'plain HTTP');
    const conn = await connect(`${both.url}/`);
    await conn.sendText('ws');
    assertEquals(await conn.receiveText({ timeout: 3000 }), 'ws', 'WebSocket');
    assertEquals(both.connections.size, 1, 'one connection listed');
    seen.length = 0;
    await both.close();
    await conn.whenClosed;
    assertEquals(conn.closeCode, 1001, 'closed with GOING_AWAY');
  },
});

Deno.test({
  name: 'connect: an abort signal ends a handshake that never completes',
  ...options,
  async fn() {
    const mute = Deno.listen({ hostname: '127.0.0.1', port: 0 });
    const accepted: Deno.Conn[] = [];
    void (async () => {
      for await (const conn of mute) accepted.push(conn);
    })().catch(() => undefined);
    const port = (mute.addr as Deno.NetAddr).port;
    let error: unknown = null;
    await connect(`ws://127.0.0.1:${String(port)}/`, { signal: AbortSignal.timeout(100) }).catch(
      (e: unknown) => {
        error = e;
      },
    );
    assert(error instanceof HandshakeError, `a HandshakeError (${String(error)})`);
    assert(
      error.cause instanceof DOMException && error.cause.name === 'TimeoutError',
      `the abort reason as the cause (${String(error.cause)})`,
    );

    error = null;
    await connect(`http://127.0.0.1:${String(port)}/`, { openTimeout: 100 }).catch((e: unknown) => {
      error = e;
    });
    assert(error instanceof HandshakeError, `openTimeout: a HandshakeError (${String(error)})`);
    assert(/timed out after 100 ms/.test(error.message), error.message);
    assertEquals(error.status, undefined, 'without a status');
    mute.close();
    for (const conn of accepted) conn.close();
  },
});

Deno.test({
  name: 'connect: a URL that is not ws:, wss:, http: or https: is a SyntaxError',
  ...options,
  async fn() {
    for (const url of ['ftp://127.0.0.1/', 'ws://127.0.0.1/#x', 'nonsense']) {
      let error: unknown = null;
      await connect(url).catch((e: unknown) => {
        error = e;
      });
      assert(error instanceof SyntaxError, `${url}: ${String(error)}`);
    }
  },
});
