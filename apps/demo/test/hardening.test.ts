// Issue 12 against `pnpm demo` (the Node entry point, started as `pnpm demo` starts it; the
// first two on `pnpm demo:deno` too): an upgrade other than websocket is answered, a 4 MiB
// message in 65,536 fragments echoes, and a client that sends half a handshake and goes silent
// loses its socket within the handshake timeout. After each, the demo still echoes for another
// client.
import { connect as netConnect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { open } from './echo.js';
import { type DemoServer, startDemo } from './harness.js';

/** The demo's handshake timeout: `@anyws/node/hono`'s createServer default. */
const HANDSHAKE_TIMEOUT = 10_000;

function tcp(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = netConnect(port, '127.0.0.1');
    socket.once('connect', () => resolve(socket));
    socket.once('error', reject);
  });
}

/** What the server sends until it closes the socket or `ms` pass; `closed` says which. */
function readUntilClosed(socket: Socket, ms: number): Promise<{ data: string; closed: boolean }> {
  return new Promise((resolve) => {
    let data = '';
    const timer = setTimeout(() => resolve({ data, closed: false }), ms);
    socket.on('data', (chunk: Buffer) => {
      data += chunk.toString('latin1');
    });
    socket.on('error', () => undefined);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve({ data, closed: true });
    });
  });
}

/** The first line of an HTTP response, or null when none comes within `ms`. */
function statusLine(socket: Socket, ms: number): Promise<string | null> {
  return new Promise((resolve) => {
    let data = '';
    const timer = setTimeout(() => resolve(null), ms);
    socket.on('error', () => undefined);
    const onData = (chunk: Buffer): void => {
      data += chunk.toString('latin1');
      const end = data.indexOf('\r\n');
      if (end >= 0) {
        clearTimeout(timer);
        socket.off('data', onData);
        resolve(data.slice(0, end));
      }
    };
    socket.on('data', onData);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(data.length > 0 ? data.split('\r\n')[0]! : null);
    });
  });
}

/** Proof that the demo still serves: an echo through a fresh client. */
async function stillEchoes(port: number): Promise<void> {
  const ws = await open(`ws://127.0.0.1:${port}/ws/echo`);
  const reply = new Promise<string>((resolve) =>
    ws.once('message', (data: Buffer) => resolve(data.toString('utf8'))),
  );
  ws.send('still serving');
  expect(await reply).toBe('still serving');
  ws.close(1000);
}

describe.each(['node', 'deno'] as const)('pnpm demo (%s) under abuse', (runtime) => {
  let server: DemoServer;
  beforeAll(async () => {
    server = await startDemo(runtime);
  }, 30_000);
  afterAll(() => server?.stop());

  it.each(['/ws/echo', '/', '/ws/chat/general'])(
    'an Upgrade: h2c request to %s is answered within a second',
    async (path) => {
      const socket = await tcp(server.port);
      socket.write(
        `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${server.port}\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n`,
      );
      const line = await statusLine(socket, 1000);
      socket.destroy();
      // Any answer but a switch: Node's createServer refuses (426); Deno serves the request as
      // plain HTTP (ignoring an Upgrade is allowed), so `/` gets the page.
      expect(line, 'no answer within a second').toMatch(/^HTTP\/1\.1 [2-5]\d\d /);
      if (runtime === 'node') expect(line).toMatch(/^HTTP\/1\.1 426 /);
      await stillEchoes(server.port);
    },
  );

  it('a 4 MiB message in 65,536 fragments of 64 bytes echoes on /ws/echo', async () => {
    const ws = await open(`ws://127.0.0.1:${server.port}/ws/echo`);
    const message = Buffer.alloc(4 * 1024 * 1024);
    for (let i = 0; i < message.length; i++) message[i] = (i * 31) & 0xff;
    const reply = new Promise<{ data: Buffer; isBinary: boolean } | { code: number }>((resolve) => {
      ws.once('message', (data: Buffer, isBinary: boolean) => resolve({ data, isBinary }));
      ws.once('close', (code: number) => resolve({ code }));
    });
    const FRAGMENT = 64;
    for (let offset = 0; offset < message.length; offset += FRAGMENT) {
      const fin = offset + FRAGMENT >= message.length;
      ws.send(message.subarray(offset, offset + FRAGMENT), { binary: true, fin });
    }
    const result = await reply;
    expect('code' in result ? `closed with ${String(result.code)}` : 'echoed').toBe('echoed');
    if ('data' in result) {
      expect(result.isBinary).toBe(true);
      expect(result.data.length).toBe(message.length);
      expect(result.data.equals(message)).toBe(true);
    }
    ws.close(1000);
    await stillEchoes(server.port);
  }, 60_000);
});

// Only where anyws owns the socket (Node): Deno.serve reads the request head itself.
describe('pnpm demo (Node): the handshake timeout', () => {
  let server: DemoServer;
  beforeAll(async () => {
    server = await startDemo('node');
  }, 30_000);
  afterAll(() => server?.stop());

  it(
    'a silent half-sent handshake is closed within the handshake timeout',
    async () => {
      const socket = await tcp(server.port);
      socket.write(
        `GET /ws/echo HTTP/1.1\r\nHost: 127.0.0.1:${server.port}\r\nUpgrade: websocket\r\n`,
      );
      // A second of slack over the timeout for the timer's own scheduling.
      const { closed, data } = await readUntilClosed(socket, HANDSHAKE_TIMEOUT + 1000);
      socket.destroy();
      expect(closed, 'the socket was still open after the handshake timeout').toBe(true);
      // Answered 408 (Node's request timeout) or just closed: never upgraded.
      expect(data).not.toMatch(/^HTTP\/1\.1 101/);
      await stillEchoes(server.port);
    },
    HANDSHAKE_TIMEOUT + 10_000,
  );
});
