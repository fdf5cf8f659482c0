/**
 * Bad input from peers and applications: each case ends the offending connection (or refuses
 * it) the way the contract says, and the server then still serves another connection.
 */
import { connect as netConnect } from 'node:net';
import { type WebSocketHandler, WSMsgType } from '@anyws/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type RunningServer, serve } from '../src/index.js';
import { expectEcho, sleep } from './helpers.js';
import { clientFrame, handshake, rawClient, readUntilClose, silentClient } from './raw.js';

interface FloodReport {
  maxBuffered: number;
  limit: number;
  sent: number;
  code: number | null;
  exception: string | undefined;
}
let floodReport: Promise<FloodReport>;
let reportFlood: (report: FloodReport) => void;

const echo: WebSocketHandler = {
  message(conn, message) {
    if (message.type === WSMsgType.TEXT || message.type === WSMsgType.BINARY)
      conn.send(message.data).catch(() => undefined);
  },
};

const routes: Record<string, WebSocketHandler> = {
  echo,
  small: { ...echo, options: { maxMessageSize: 1024 } },
  auth: {
    ...echo,
    async upgrade(request) {
      await sleep(20);
      const token = new URL(request.url).searchParams.get('token');
      if (!token)
        return new Response('token required', {
          status: 401,
          headers: { 'www-authenticate': 'Bearer' },
        });
      if (token !== 'good') return new Response('forbidden', { status: 403 });
      return undefined;
    },
  },
  'slow-hook': {
    ...echo,
    async upgrade() {
      await sleep(200);
    },
  },
  'throwing-hook': {
    upgrade() {
      throw new Error('hook bug');
    },
  },
  'bad-options': { ...echo, options: { maxMessageSize: -5 } },
  'bad-close': {
    async session(conn) {
      const results: string[] = [];
      for (const code of [999, 1004, 1005.5, 1006, 1015, 2000, 5000]) {
        try {
          await conn.close(code);
          results.push(`${String(code)}:accepted`);
        } catch (error) {
          results.push(`${String(code)}:${(error as Error).name}`);
        }
      }
      await conn.sendText(`${results.join(',')} state=${conn.state}`);
      for await (const message of conn)
        if (message.type === WSMsgType.TEXT) await conn.sendText(message.data);
    },
  },
  'bad-json': {
    async session(conn) {
      try {
        await conn.receiveJson({ timeout: 5000 });
        await conn.sendText('parsed?!');
      } catch (error) {
        await conn.sendText(`${(error as Error).name} state=${conn.state}`);
      }
      await conn.sendJson(await conn.receiveJson({ timeout: 5000 }));
    },
  },
  'throwing-message-hook': {
    message() {
      throw new Error('handler bug');
    },
  },
  flood: {
    options: { maxBufferedAmount: 128 * 1024, closeTimeout: 200 },
    async session(conn) {
      const chunk = new Uint8Array(16 * 1024);
      let maxBuffered = 0;
      let sent = 0;
      const deadline = performance.now() + 10_000;
      while (sent < 10_000 && conn.state === 'open' && performance.now() < deadline) {
        conn.send(chunk).catch(() => undefined);
        sent++;
        if (conn.state === 'open') maxBuffered = Math.max(maxBuffered, conn.bufferedAmount);
        if (sent % 8 === 0) await sleep(1);
      }
      await conn.whenClosed;
      reportFlood({
        maxBuffered,
        limit: conn.options.maxBufferedAmount,
        sent,
        code: conn.closeCode,
        exception: conn.exception()?.name,
      });
    },
  },
};

let server: RunningServer;
beforeAll(async () => {
  server = await serve({
    hostname: '127.0.0.1',
    handler: (request) => routes[new URL(request.url).pathname.slice(1)],
  });
});
afterAll(async () => {
  await server.close();
});

describe('bad input from the peer', () => {
  it('a message over maxMessageSize: 1009 from the frame header, before the payload is buffered', async () => {
    const { socket, rest } = await rawClient(`${server.url}/small`);
    const frame = clientFrame(0x2, new Uint8Array(2048));
    // Only the header, the mask and a few bytes: ws refuses on the announced length.
    socket.write(frame.subarray(0, 4 + 4 + 16));
    expect(await readUntilClose(socket, rest)).toBe(1009);
    socket.destroy();
    await expectEcho(`${server.url}/small`);
  });

  it('invalid UTF-8 in a text frame: 1007', async () => {
    const { socket, rest } = await rawClient(`${server.url}/echo`);
    socket.write(clientFrame(0x1, new Uint8Array([0x68, 0x69, 0xff, 0xfe])));
    expect(await readUntilClose(socket, rest)).toBe(1007);
    socket.destroy();
    await expectEcho(`${server.url}/echo`);
  });

  it('an unmasked client frame: 1002', async () => {
    const { socket, rest } = await rawClient(`${server.url}/echo`);
    socket.write(Buffer.from([0x81, 0x02, 0x68, 0x69]));
    expect(await readUntilClose(socket, rest)).toBe(1002);
    socket.destroy();
    await expectEcho(`${server.url}/echo`);
  });

  it('an invalid close code from the peer: answered with 1002', async () => {
    const { socket, rest } = await rawClient(`${server.url}/echo`);
    socket.write(clientFrame(0x8, new Uint8Array([0x03, 0xe7])));
    expect(await readUntilClose(socket, rest)).toBe(1002);
    socket.destroy();
    await expectEcho(`${server.url}/echo`);
  });

  it('receiveJson on invalid JSON: a typed error, the connection stays open', async () => {
    const conn = await connect(`${server.url}/bad-json`);
    await conn.sendText('{"unterminated": ');
    expect(await conn.receiveText({ timeout: 5000 })).toBe('JsonParseError state=open');
    await conn.sendJson({ ok: true });
    expect(await conn.receiveJson({ timeout: 5000 })).toEqual({ ok: true });
    await conn.close();
    await expectEcho(`${server.url}/echo`);
  });

  it('a client that never reads: buffered bytes stop at the bound and the policy closes it', async () => {
    floodReport = new Promise((resolve) => {
      reportFlood = resolve;
    });
    const silent = await silentClient(`${server.url}/flood`);
    const report = await floodReport;
    silent.close();
    expect(report.maxBuffered).toBeLessThanOrEqual(report.limit);
    expect(report.maxBuffered).toBeGreaterThan(report.limit / 2);
    expect(report.sent).toBeLessThan(10_000);
    expect(report.exception).toBe('BufferOverflowError');
    // The 1008 close frame is stuck behind the data and the close timeout terminates, but this
    // end failed the connection: closeCode is its 1008 (core's failure rule).
    expect(report.code).toBe(1008);
    await expectEcho(`${server.url}/echo`);
  });

  it('a client that hangs up while the upgrade hook runs', async () => {
    const socket = netConnect(server.port, '127.0.0.1');
    socket.on('error', () => undefined);
    socket.write(
      `GET /slow-hook HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    );
    await sleep(50);
    socket.resetAndDestroy();
    await sleep(250);
    await expectEcho(`${server.url}/echo`);
  });

  it('garbage instead of HTTP, and a half-sent handshake', async () => {
    const garbage = netConnect(server.port, '127.0.0.1');
    garbage.on('error', () => undefined);
    garbage.write(Buffer.from([0, 1, 2, 3, 0xff, 0x0d, 0x0a, 0x0d, 0x0a]));
    const half = netConnect(server.port, '127.0.0.1');
    half.on('error', () => undefined);
    half.write('GET /echo HTTP/1.1\r\nUpgrade: websocket\r\n');
    await sleep(50);
    await expectEcho(`${server.url}/echo`);
    garbage.destroy();
    half.destroy();
  });
});

describe('bad input from the application', () => {
  it('an invalid close code: RangeError, nothing sent, the connection stays open', async () => {
    const conn = await connect(`${server.url}/bad-close`);
    expect(await conn.receiveText({ timeout: 5000 })).toBe(
      '999:RangeError,1004:RangeError,1005.5:RangeError,1006:RangeError,1015:RangeError,2000:RangeError,5000:RangeError state=open',
    );
    await conn.sendText('still here');
    expect(await conn.receiveText({ timeout: 5000 })).toBe('still here');
    await conn.close();
    await expectEcho(`${server.url}/echo`);
  });

  it('a hook that throws: 1011, and others are served', async () => {
    const conn = await connect(`${server.url}/throwing-message-hook`);
    await conn.sendText('boom');
    const message = await conn.receive({ timeout: 5000 });
    expect(message.type).toBe(WSMsgType.CLOSE);
    expect(message.data).toBe(1011);
    await expectEcho(`${server.url}/echo`);
  });
});

describe('refused handshakes are plain HTTP responses', () => {
  it('the upgrade hook refuses with 401 and 403: status, headers and body, no upgrade', async () => {
    for (const [query, status, body] of [
      ['', 401, 'token required'],
      ['?token=bad', 403, 'forbidden'],
    ] as const) {
      const { socket, head, rest } = await handshake(`${server.url}/auth${query}`);
      expect(head.split('\r\n')[0]).toBe(
        `HTTP/1.1 ${String(status)} ${status === 401 ? 'Unauthorized' : 'Forbidden'}`,
      );
      expect(head.toLowerCase()).not.toContain('sec-websocket-accept');
      expect(head.toLowerCase()).toContain(`content-length: ${String(body.length)}`);
      if (status === 401) expect(head.toLowerCase()).toContain('www-authenticate: bearer');
      let received = rest.toString();
      for await (const chunk of socket) received += String(chunk);
      expect(received).toBe(body);
    }
    const ok = await connect(`${server.url}/auth?token=good`);
    await ok.close();
    await expectEcho(`${server.url}/echo`);
  });

  it('invalid handshakes: 400, 426, 405, 404, and 500 for a failing hook or bad options', async () => {
    const cases: [string, string, number][] = [
      ['/echo', 'Sec-WebSocket-Key: short\r\n', 400],
      ['/echo', 'Sec-WebSocket-Version: 12\r\n', 426],
      ['/nowhere', '', 404],
      ['/throwing-hook', '', 500],
      ['/bad-options', '', 500],
    ];
    for (const [path, header, status] of cases) {
      const raw = await rawRequest(server.port, path, header);
      expect(raw.split('\r\n')[0], `${path} ${header}`).toMatch(
        new RegExp(`^HTTP/1\\.1 ${String(status)} `),
      );
    }
    const post = await rawRequest(server.port, '/echo', '', 'POST');
    expect(post.split('\r\n')[0]).toMatch(/^HTTP\/1\.1 405 /);
    const old = await rawRequest(server.port, '/echo', '', 'GET', '1.0');
    expect(old.split('\r\n')[0]).toMatch(/^HTTP\/1\.1 505 /);
    await expectEcho(`${server.url}/echo`);
  });
});

/** A hand-written upgrade request with one header replaced or added; resolves with the whole answer. */
async function rawRequest(
  port: number,
  path: string,
  header: string,
  method = 'GET',
  version = '1.1',
): Promise<string> {
  const socket = netConnect(port, '127.0.0.1');
  socket.on('error', () => undefined);
  const headers = ['Host: 127.0.0.1', 'Upgrade: websocket', 'Connection: Upgrade'];
  if (!header.startsWith('Sec-WebSocket-Key'))
    headers.push('Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==');
  if (!header.startsWith('Sec-WebSocket-Version')) headers.push('Sec-WebSocket-Version: 13');
  socket.write(`${method} ${path} HTTP/${version}\r\n${headers.join('\r\n')}\r\n${header}\r\n`);
  let answer = '';
  for await (const chunk of socket) answer += String(chunk);
  return answer;
}
