import { createServer } from 'node:net';
import { HandshakeError, type WebSocketHandler, WSMsgType } from '@anyws/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type RunningServer, serve } from '../src/index.js';

const handler: WebSocketHandler<{ auth: string | null; origin: string | null }> = {
  options: { compress: true },
  upgrade(request) {
    if (request.url.endsWith('/teapot')) return new Response('short and stout', { status: 418 });
    return {
      context: {
        auth: request.headers.get('authorization'),
        origin: request.headers.get('origin'),
      },
    };
  },
  open(conn) {
    conn.sendJson(conn.context).catch(() => undefined);
  },
  message(conn, message) {
    if (message.type === WSMsgType.TEXT) conn.sendText(message.data).catch(() => undefined);
  },
};

let server: RunningServer;
beforeAll(async () => {
  server = await serve({ hostname: '127.0.0.1', handler });
});
afterAll(async () => {
  await server.close();
});

describe('connect', () => {
  it('sends extra handshake headers', async () => {
    const conn = await connect(server.url, {
      headers: { authorization: 'Bearer t0k3n', origin: 'https://app.example' },
    });
    expect(await conn.receiveJson({ timeout: 5000 })).toEqual({
      auth: 'Bearer t0k3n',
      origin: 'https://app.example',
    });
    await conn.close();
  });

  it('negotiates permessage-deflate with compress: true', async () => {
    const conn = await connect(server.url, { compress: true });
    expect(conn.extensions).toContain('permessage-deflate');
    await conn.receiveJson({ timeout: 5000 });
    const text = 'zip '.repeat(100_000);
    await conn.sendText(text);
    expect(await conn.receiveText({ timeout: 5000 })).toBe(text);
    await conn.sendText('small', { compress: false });
    expect(await conn.receiveText({ timeout: 5000 })).toBe('small');
    await conn.close();
    const plain = await connect(server.url);
    expect(plain.extensions).toBe('');
    await plain.close();
  });

  it('a message over maxMessageSize, refused by ws itself: ERROR then CLOSED, closeCode 1009, as core would', async () => {
    const conn = await connect(server.url, { maxMessageSize: 1024 });
    await conn.receiveJson({ timeout: 5000 });
    await conn.sendText('x'.repeat(2000)); // echoed back: over the client's limit
    const types: number[] = [];
    for (let i = 0; i < 5; i++) {
      const message = await conn.receive({ timeout: 5000 });
      types.push(message.type);
      if (message.type === WSMsgType.CLOSED) break;
    }
    expect(types).toEqual([WSMsgType.ERROR, WSMsgType.CLOSED]);
    expect(conn.exception()?.name).toBe('MessageTooBigError');
    expect(conn.closeCode).toBe(1009);
  });

  it('rejects with HandshakeError and the status on refusal', async () => {
    const error = await connect(`${server.url}/teapot`).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HandshakeError);
    expect((error as HandshakeError).status).toBe(418);
  });

  it('rejects with HandshakeError without status when nothing listens or the peer is not HTTP', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as { port: number }).port;
    await new Promise((resolve) => closed.close(resolve));
    const refused = await connect(`ws://127.0.0.1:${String(port)}`).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(HandshakeError);
    expect((refused as HandshakeError).status).toBeUndefined();

    const garbage = createServer((socket) => socket.resume().end('SSH-2.0-nope\r\n'));
    await new Promise<void>((resolve) => garbage.listen(0, '127.0.0.1', resolve));
    const bad = await connect(
      `ws://127.0.0.1:${String((garbage.address() as { port: number }).port)}`,
    ).catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(HandshakeError);
    await new Promise((resolve) => garbage.close(resolve));
  });

  it('rejects invalid options and URLs at once', async () => {
    await expect(connect(server.url, { maxMessageSize: -1 })).rejects.toThrow(RangeError);
    // A URL that can never work is not a HandshakeError (a reconnecting client would retry it).
    await expect(connect('not a url')).rejects.toBeInstanceOf(SyntaxError);
    await expect(connect('ftp://127.0.0.1/')).rejects.toBeInstanceOf(SyntaxError);
    await expect(connect(server.url, { openTimeout: 0 })).rejects.toThrow(RangeError);
  });

  it('reports a ws: URL when given an http: one', async () => {
    const conn = await connect(server.url.replace(/^ws/, 'http'));
    expect(conn.url.startsWith('ws://')).toBe(true);
    expect(conn.protocol).toBe('');
    await conn.close();
  });

  it('honours openTimeout against a server that never answers', async () => {
    const mute = createServer((socket) => socket.resume());
    await new Promise<void>((resolve) => mute.listen(0, '127.0.0.1', resolve));
    const url = `ws://127.0.0.1:${String((mute.address() as { port: number }).port)}`;
    const error = await connect(url, { openTimeout: 200 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HandshakeError);
    expect((error as HandshakeError).message).toMatch(/timed out after 200 ms/);
    mute.close();
  });

  it('gives up when the signal aborts, with its reason as the cause', async () => {
    const sockets: { destroyed: boolean }[] = [];
    const mute = createServer((socket) => {
      sockets.push(socket);
      socket.resume();
    });
    await new Promise<void>((resolve) => mute.listen(0, '127.0.0.1', resolve));
    const url = `ws://127.0.0.1:${String((mute.address() as { port: number }).port)}`;
    const controller = new AbortController();
    const opening = connect(url, { signal: controller.signal }).catch((e: unknown) => e);
    await expect.poll(() => sockets.length).toBe(1);
    const reason = new Error('no longer wanted');
    controller.abort(reason);
    const error = await opening;
    expect(error).toBeInstanceOf(HandshakeError);
    expect((error as HandshakeError).cause).toBe(reason);
    // The half-open socket is dropped, not left to the server.
    await expect.poll(() => sockets[0]?.destroyed).toBe(true);
    await expect(connect(url, { signal: controller.signal })).rejects.toBeInstanceOf(
      HandshakeError,
    );
    mute.close();
  });
});
