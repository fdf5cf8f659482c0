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
    await expect(connect('not a url')).rejects.toBeInstanceOf(HandshakeError);
  });

  it('honours handshakeTimeout against a server that never answers', async () => {
    const mute = createServer((socket) => socket.resume());
    await new Promise<void>((resolve) => mute.listen(0, '127.0.0.1', resolve));
    const started = performance.now();
    const error = await connect(
      `ws://127.0.0.1:${String((mute.address() as { port: number }).port)}`,
      {
        handshakeTimeout: 200,
      },
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HandshakeError);
    expect(performance.now() - started).toBeLessThan(3000);
    mute.close();
  });
});
