import { createServer, type IncomingMessage, type Server } from 'node:http';
import { type AddressInfo, connect as netConnect } from 'node:net';
import { type WebSocketHandler, WSMsgType } from '@anyws/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { handshakeFields } from '../src/http.js';
import { attach, connect, serve } from '../src/index.js';
import { expectEcho } from './helpers.js';
import { handshake } from './raw.js';

const echo: WebSocketHandler = {
  message(conn, message) {
    if (message.type === WSMsgType.TEXT) conn.sendText(message.data).catch(() => undefined);
  },
};
const info: WebSocketHandler = {
  open(conn) {
    conn.sendText(`${conn.side} ${conn.url}`).catch(() => undefined);
  },
};
const room: WebSocketHandler = {
  open(conn) {
    conn.subscribe('lobby');
    conn.sendText('in').catch(() => undefined);
  },
  message(conn, message) {
    if (message.type === WSMsgType.TEXT) conn.publish('lobby', message.data, { exclude: conn });
  },
};

describe('serve', () => {
  it('answers plain HTTP with 426, serves WebSocket, and close() ends connections with 1001', async () => {
    const server = await serve({ hostname: '127.0.0.1', handler: echo });
    expect(server.url).toBe(`ws://127.0.0.1:${String(server.port)}`);
    const response = await fetch(`http://127.0.0.1:${String(server.port)}/`);
    expect(response.status).toBe(426);
    const conn = await connect(`${server.url}/any/path`);
    await conn.sendText('hi');
    expect(await conn.receiveText({ timeout: 5000 })).toBe('hi');
    expect(server.connections.size).toBe(1);
    await server.close();
    const message = await conn.receive({ timeout: 5000 });
    expect(message.type).toBe(WSMsgType.CLOSE);
    expect(message.data).toBe(1001);
    await conn.whenClosed;
    expect(conn.closeCode).toBe(1001);
    expect(server.connections.size).toBe(0);
  });

  it('reports the request URL and side on the server connection', async () => {
    const server = await serve({ hostname: '127.0.0.1', handler: info });
    const conn = await connect(`${server.url}/where?x=1`);
    expect(await conn.receiveText({ timeout: 5000 })).toBe(`server ${server.url}/where?x=1`);
    expect(conn.side).toBe('client');
    expect(conn.url).toBe(`${server.url}/where?x=1`);
    await conn.close();
    await server.close();
  });

  it('puts the upgrade hook headers and chosen subprotocol on the 101', async () => {
    const server = await serve({
      hostname: '127.0.0.1',
      handler: {
        ...echo,
        upgrade: () => ({ protocol: 'b', headers: { 'x-room': 'blue', 'set-cookie': 'seen=1' } }),
      },
    });
    const { socket, head } = await handshake(`${server.url}/`, 'Sec-WebSocket-Protocol: a, b\r\n');
    socket.destroy();
    const lower = head.toLowerCase();
    expect(head).toMatch(/^HTTP\/1\.1 101 /);
    expect(lower).toContain('sec-websocket-protocol: b');
    expect(lower).toContain('x-room: blue');
    expect(lower).toContain('set-cookie: seen=1');
    const conn = await connect(`${server.url}/`, { protocols: ['a', 'b'] });
    expect(conn.protocol).toBe('b');
    await conn.close();
    await server.close();
  });

  it('answers 404 when the handler function has no handler for the request', async () => {
    const server = await serve({
      hostname: '127.0.0.1',
      handler: (request) => (new URL(request.url).pathname === '/echo' ? echo : undefined),
    });
    const { socket, head } = await handshake(`${server.url}/other`);
    socket.destroy();
    expect(head).toMatch(/^HTTP\/1\.1 404 /);
    await expectEcho(`${server.url}/echo`);
    await server.close();
  });
});

describe('the upgrade request', () => {
  /** Sends a hand-written upgrade request; resolves with the answer's head. */
  async function upgradeWith(
    port: number,
    target: string,
    host: string,
    extra = '',
  ): Promise<string> {
    const socket = netConnect(port, '127.0.0.1');
    socket.on('error', () => undefined);
    socket.write(
      `GET ${target} HTTP/1.1\r\nHost: ${host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n${extra}\r\n`,
    );
    let answer = '';
    for await (const chunk of socket) {
      answer += String(chunk);
      if (answer.includes('\r\n\r\n')) break;
    }
    socket.destroy();
    return answer.slice(0, answer.indexOf('\r\n\r\n'));
  }

  it('hooks (no Request built): normalised URL, subprotocol from the headers, 400 for a bad Host', async () => {
    const urls: string[] = [];
    const server = await serve({
      hostname: '127.0.0.1',
      handler: {
        options: { protocols: ['b'] },
        open(conn) {
          urls.push(`${conn.url} ${conn.protocol}`);
        },
      },
    });
    const port = String(server.port);
    const head = await upgradeWith(
      server.port,
      '/a/%7e/../b?q=1',
      `LOCALHOST:${port}`,
      'Sec-WebSocket-Protocol: a\r\nSec-WebSocket-Protocol: b\r\n',
    );
    expect(head).toMatch(/^HTTP\/1\.1 101 /);
    expect(head.toLowerCase()).toContain('sec-websocket-protocol: b');
    expect(await upgradeWith(server.port, '/', '999.1.1.1')).toMatch(/^HTTP\/1\.1 400 /);
    expect(await upgradeWith(server.port, '/', 'x:99999')).toMatch(/^HTTP\/1\.1 400 /);
    expect(await upgradeWith(server.port, '//other/x', `127.0.0.1:${port}`)).toMatch(
      /^HTTP\/1\.1 101 /,
    );
    await server.close();
    expect(urls).toEqual([`ws://localhost:${port}/a/b?q=1 b`, 'ws://other/x ']);
  });

  it('the handshake view answers as Headers.get: any case, null when absent, repeats joined', () => {
    const req = {
      method: 'GET',
      headers: { upgrade: 'websocket', 'x-list': ['a', 'b'] },
    } as unknown as IncomingMessage;
    const fields = handshakeFields(req);
    expect(fields.method).toBe('GET');
    expect(fields.headers.get('upgrade')).toBe('websocket');
    expect(fields.headers.get('Upgrade')).toBe('websocket');
    expect(fields.headers.get('X-List')).toBe('a, b');
    expect(fields.headers.get('connection')).toBeNull();
    expect(fields.headers.get('Connection')).toBeNull();
  });

  it('conn.request is the upgrade request, every header included, in a session and in hooks', async () => {
    const seen: string[] = [];
    const withRequest = await serve({
      hostname: '127.0.0.1',
      handler: {
        async session(conn) {
          const request = conn.request!;
          seen.push(`${request.url} ${String(request.headers.get('x-a'))} ${conn.url}`);
          expect(conn.request).toBe(request);
        },
      },
    });
    const port = String(withRequest.port);
    await upgradeWith(withRequest.port, '/s?1', `127.0.0.1:${port}`, 'X-A: 1\r\nX-A: 2\r\n');
    await withRequest.close();
    expect(seen).toEqual([`http://127.0.0.1:${port}/s?1 1, 2 ws://127.0.0.1:${port}/s?1`]);
    const connOnly = await serve({
      hostname: '127.0.0.1',
      handler: {
        async session(conn) {
          for await (const message of conn)
            if (message.type === WSMsgType.TEXT) await conn.sendText(message.data);
        },
      },
    });
    await expectEcho(`${connOnly.url}/echo`);
    await connOnly.close();
  });
});

describe('attach', () => {
  let http: Server;
  let base: string;
  beforeAll(async () => {
    http = createServer((_req, res) => res.end('plain'));
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    base = `ws://127.0.0.1:${String((http.address() as AddressInfo).port)}`;
  });
  afterAll(async () => {
    http.closeAllConnections();
    await new Promise((resolve) => http.close(resolve));
  });

  it('serves paths on an existing server, which keeps its plain HTTP', async () => {
    const a = attach(http, { path: '/echo', handler: echo });
    expect(await (await fetch(base.replace('ws', 'http'))).text()).toBe('plain');
    await expectEcho(`${base}/echo?query=ignored`);
    const { socket, head } = await handshake(`${base}/unknown`);
    socket.destroy();
    expect(head).toMatch(/^HTTP\/1\.1 404 /);
    a.detach();
    const after = await handshake(`${base}/echo`);
    after.socket.destroy();
    expect(after.head).toMatch(/^HTTP\/1\.1 404 /);
  });

  it('attachments of one server share one topic bus', async () => {
    const one = attach(http, { path: '/room-a', handler: room });
    const two = attach(http, { path: '/room-b', handler: room });
    expect(one.topics).toBe(two.topics);
    const a = await connect(`${base}/room-a`);
    const b = await connect(`${base}/room-b`);
    expect(await a.receiveText({ timeout: 5000 })).toBe('in');
    expect(await b.receiveText({ timeout: 5000 })).toBe('in');
    await a.sendText('across paths');
    expect(await b.receiveText({ timeout: 5000 })).toBe('across paths');
    expect(one.topics.subscriberCount('lobby')).toBe(2);
    await a.close();
    await b.close();
    expect(one.topics.subscriberCount('lobby')).toBe(0);
    one.detach();
    two.detach();
  });

  it('leaves unknown paths to another upgrade listener of the server', async () => {
    const a = attach(http, { path: '/mine', handler: echo });
    const seen: string[] = [];
    const other = (req: { url?: string }, socket: { destroy(): void }) => {
      if (req.url === '/theirs') {
        seen.push(req.url);
        socket.destroy();
      }
    };
    http.on('upgrade', other);
    const theirs = await handshake(`${base}/theirs`).catch((error: unknown) => error);
    expect(theirs).toBeInstanceOf(Error);
    expect(seen).toEqual(['/theirs']);
    await expectEcho(`${base}/mine`);
    http.off('upgrade', other);
    a.detach();
  });
});
