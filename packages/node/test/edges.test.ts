/**
 * What every server path of @anyws/node must do at its edge (issue 12): answer a non-WebSocket
 * upgrade at once, close a half-sent handshake after `handshakeTimeout`, refuse past
 * `maxConnections` with 503 before upgrading, and keep serving the others.
 */
import { createServer as createNodeServer, type Server } from 'node:http';
import { type AddressInfo, connect as netConnect, type Socket } from 'node:net';
import { type WebSocketHandler, WSMsgType } from '@anyws/core';
import { serve as honoServe } from '@hono/node-server';
import { Hono } from 'hono';
import { afterEach, describe, expect, it } from 'vitest';
import { createServer, createWebSocketServer, upgradeWebSocket } from '../src/hono.js';
import { attach, connect, type RunningServer, serve } from '../src/index.js';
import { expectEcho } from './helpers.js';
import { handshake } from './raw.js';

const echo: WebSocketHandler = {
  message(conn, message) {
    if (message.type === WSMsgType.TEXT) conn.sendText(message.data).catch(() => undefined);
  },
};

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

/** Writes `request` on a fresh socket; resolves with all it got back until the socket closed. */
function exchange(port: number, request: string, bound: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = netConnect(port, '127.0.0.1');
    let answer = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer, or the socket stayed open, within ${String(bound)} ms`));
    }, bound);
    socket.on('data', (chunk) => {
      answer += chunk.toString('latin1');
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(answer);
    });
    socket.write(request);
  });
}

const h2c = (port: number) =>
  `GET /ws HTTP/1.1\r\nHost: 127.0.0.1:${String(port)}\r\nUpgrade: h2c\r\nConnection: Upgrade, HTTP2-Settings\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n`;

/** A Hono app on a real @hono/node-server with anyws's createServer and ws server. */
async function honoServer(
  routes: (app: Hono) => void,
  serverOptions: { handshakeTimeout?: number } = {},
): Promise<{ port: number; server: Server }> {
  const app = new Hono();
  routes(app);
  const server = await new Promise<Server>((resolve) => {
    const s = honoServe(
      {
        fetch: app.fetch,
        port: 0,
        hostname: '127.0.0.1',
        createServer,
        serverOptions: serverOptions as object,
        websocket: { server: createWebSocketServer() },
      },
      () => resolve(s as Server),
    );
  });
  cleanups.push(() => closeServer(server));
  return { port: (server.address() as AddressInfo).port, server };
}

const echoRoute =
  (options: { maxConnections?: number } = {}) =>
  (app: Hono) =>
    void app.get('/ws', upgradeWebSocket(echo, options));

async function served(options: Partial<Parameters<typeof serve>[0]> = {}): Promise<RunningServer> {
  const server = await serve({ hostname: '127.0.0.1', handler: echo, ...options });
  cleanups.push(() => server.close());
  return server;
}

describe('an Upgrade other than websocket is answered at once, and the server serves on', () => {
  it('serve(): 426', async () => {
    const server = await served();
    const answer = await exchange(server.port, h2c(server.port), 1000);
    expect(answer).toMatch(/^HTTP\/1\.1 426 /);
    await expectEcho(`${server.url}/ws`);
  });

  it('attach() to a plain Node server: 426', async () => {
    const http = createNodeServer((_req, res) => res.end('plain'));
    attach(http, { handler: echo, path: '/ws' });
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => closeServer(http));
    const port = (http.address() as AddressInfo).port;
    expect(await exchange(port, h2c(port), 1000)).toMatch(/^HTTP\/1\.1 426 /);
    await expectEcho(`ws://127.0.0.1:${String(port)}/ws`);
  });

  it('Hono on a real @hono/node-server with createServer: 426 (it would hang otherwise)', async () => {
    const { port } = await honoServer(echoRoute());
    expect(await exchange(port, h2c(port), 1000)).toMatch(/^HTTP\/1\.1 426 /);
    await expectEcho(`ws://127.0.0.1:${String(port)}/ws`);
  });
});

describe('Hono upgradeWebSocket honours the handler: compress', () => {
  it('permessage-deflate is agreed for a handler with compress, not for one without', async () => {
    const { port } = await honoServer((app) => {
      app.get('/plain', upgradeWebSocket(echo));
      app.get('/deflate', upgradeWebSocket({ ...echo, options: { compress: true } }));
    });
    const base = `ws://127.0.0.1:${String(port)}`;
    const offer = 'Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n';
    const deflate = await handshake(`${base}/deflate`, offer);
    deflate.socket.destroy();
    expect(deflate.head).toMatch(/^HTTP\/1\.1 101 /);
    expect(deflate.head.toLowerCase()).toContain('sec-websocket-extensions: permessage-deflate');
    const plain = await handshake(`${base}/plain`, offer);
    plain.socket.destroy();
    expect(plain.head).toMatch(/^HTTP\/1\.1 101 /);
    expect(plain.head.toLowerCase()).not.toContain('sec-websocket-extensions');
    const conn = await connect(`${base}/deflate`, { compress: true });
    expect(conn.extensions).toContain('permessage-deflate');
    await conn.sendText('squeezed');
    expect(await conn.receiveText({ timeout: 5000 })).toBe('squeezed');
    await conn.close();
  });
});

describe('serve({ signal })', () => {
  it('closes the server when aborted: connections get 1001', async () => {
    const controller = new AbortController();
    const server = await serve({ hostname: '127.0.0.1', handler: echo, signal: controller.signal });
    const conn = await connect(`${server.url}/ws`);
    controller.abort();
    await conn.whenClosed;
    expect(conn.closeCode).toBe(1001);
    await server.close();
  });
});

describe('handshakeTimeout', () => {
  const half = (port: number) =>
    `GET /ws HTTP/1.1\r\nHost: 127.0.0.1:${String(port)}\r\nUpgrade: websocket\r\n`;

  it('serve(): a half-sent handshake that idles is closed (408), others are served', async () => {
    const server = await served({ handshakeTimeout: 300 });
    // Bounded far under Node's own 60 s header timeout.
    const answer = await exchange(server.port, half(server.port), 3000);
    expect(answer).toMatch(/^HTTP\/1\.1 408 /);
    await expectEcho(`${server.url}/ws`);
  });

  it('Hono createServer: a half-sent handshake that idles is closed', async () => {
    const { port } = await honoServer(echoRoute(), { handshakeTimeout: 300 });
    expect(await exchange(port, half(port), 3000)).toMatch(/^HTTP\/1\.1 408 /);
  });

  it('a handshake trickled one byte every 10 ms still succeeds (default timeout)', async () => {
    const server = await served();
    const key = 'dGhlIHNhbXBsZSBub25jZQ==';
    const request = Buffer.from(
      `GET /ws HTTP/1.1\r\nHost: 127.0.0.1:${String(server.port)}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    );
    const socket: Socket = netConnect(server.port, '127.0.0.1');
    socket.on('error', () => undefined);
    cleanups.push(() => void socket.destroy());
    let head = '';
    const answered = new Promise<string>((resolve) => {
      socket.on('data', (chunk) => {
        head += chunk.toString('latin1');
        if (head.includes('\r\n\r\n')) resolve(head);
      });
      socket.on('close', () => resolve(head));
    });
    for (const byte of request) {
      socket.write(Buffer.from([byte]));
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(await answered).toMatch(/^HTTP\/1\.1 101 /);
  });

  it('a handshakeTimeout under 10 ms is a RangeError', async () => {
    await expect(serve({ handler: echo, handshakeTimeout: 5 })).rejects.toThrow(RangeError);
  });
});

describe('maxConnections: past it 503 with Retry-After before upgrading; a freed place is reused', () => {
  const limit = 20;

  async function fill(
    url: string,
  ): Promise<{ statuses: number[]; retryAfter: string[]; sockets: Socket[] }> {
    const statuses: number[] = [];
    const retryAfter: string[] = [];
    const sockets: Socket[] = [];
    for (let i = 0; i < limit + 10; i++) {
      const { socket, head } = await handshake(url);
      sockets.push(socket);
      cleanups.push(() => void socket.destroy());
      statuses.push(Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1]));
      const retry = /^retry-after:\s*(\S+)/im.exec(head)?.[1];
      if (retry) retryAfter.push(retry);
    }
    return { statuses, retryAfter, sockets };
  }

  function expectLimit({ statuses, retryAfter }: { statuses: number[]; retryAfter: string[] }) {
    expect(statuses.filter((s) => s === 101)).toHaveLength(limit);
    expect(statuses.slice(limit)).toEqual(new Array(10).fill(503));
    expect(retryAfter).toEqual(new Array(10).fill('1'));
  }

  it('serve()', async () => {
    const server = await served({ maxConnections: limit });
    const filled = await fill(`${server.url}/ws`);
    expectLimit(filled);
    expect(server.connections.size).toBe(limit);
    // One client goes away: its place is free once the server saw it close.
    filled.sockets[0]!.destroy();
    for (let i = 0; i < 500 && server.connections.size === limit; i++)
      await new Promise((resolve) => setTimeout(resolve, 10));
    expect(server.connections.size).toBe(limit - 1);
    const conn = await connect(`${server.url}/ws`);
    await conn.sendText('still here');
    expect(await conn.receiveText({ timeout: 5000 })).toBe('still here');
  });

  it('attach()', async () => {
    const http = createNodeServer();
    const attachment = attach(http, { handler: echo, maxConnections: limit });
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => closeServer(http));
    const url = `ws://127.0.0.1:${String((http.address() as AddressInfo).port)}/ws`;
    expectLimit(await fill(url));
    expect(attachment.connections.size).toBe(limit);
  });

  it('Hono upgradeWebSocket', async () => {
    const { port } = await honoServer(echoRoute({ maxConnections: limit }));
    expectLimit(await fill(`ws://127.0.0.1:${String(port)}/ws`));
  });
});
