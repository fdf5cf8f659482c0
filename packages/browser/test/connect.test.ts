/**
 * `connect` in Chromium on every runtime's terms: `openTimeout` and `signal` end an opening the
 * server never answers, the heartbeat token is offered last, a server that selects no
 * subprotocol is accepted, and `conn.url` is ws:.
 */
import { createHash } from 'node:crypto';
import { createServer as createHttpServer, type IncomingHttpHeaders } from 'node:http';
import { type AddressInfo, createServer as createTcpServer, type Socket } from 'node:net';
import { DEFAULT_OPEN_TIMEOUT, HEARTBEAT_PROTOCOL } from '@anyws/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inPage, openTestPage, requireChromium, type TestBrowser } from './harness.js';

requireChromium();

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

let browser: TestBrowser;
const sockets = new Set<Socket>();
/** Accepts TCP connections and never answers. */
const mute = createTcpServer((socket) => {
  sockets.add(socket);
  socket.on('error', () => undefined);
  socket.resume();
});
/**
 * Answers an upgrade with 101, then closes. Under `/anyws` it answers as an anyws server does
 * (`chat.v1` if offered, else the heartbeat token if offered); elsewhere it selects nothing, as
 * a server that knows neither.
 */
const heard: IncomingHttpHeaders[] = [];
const plain = createHttpServer();
plain.on('upgrade', (req, socket) => {
  heard.push(req.headers);
  const accept = createHash('sha1')
    .update(`${String(req.headers['sec-websocket-key'])}${GUID}`)
    .digest('base64');
  const offered = String(req.headers['sec-websocket-protocol'] ?? '').split(/\s*,\s*/);
  const selected = !req.url?.startsWith('/anyws')
    ? undefined
    : ['chat.v1', HEARTBEAT_PROTOCOL].find((p) => offered.includes(p));
  socket.write(
    `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n${selected ? `Sec-WebSocket-Protocol: ${selected}\r\n` : ''}\r\n`,
  );
  // The page closes: answer with a close frame of 1000 and drop the socket.
  socket.once('data', () => socket.end(Buffer.from([0x88, 0x02, 0x03, 0xe8])));
  socket.on('error', () => undefined);
});

const port = (server: { address(): AddressInfo | string | null }): number =>
  (server.address() as AddressInfo).port;

beforeAll(async () => {
  await new Promise<void>((resolve) => mute.listen(0, '127.0.0.1', resolve));
  await new Promise<void>((resolve) => plain.listen(0, '127.0.0.1', resolve));
  browser = await openTestPage();
});
afterAll(async () => {
  await browser?.close();
  for (const socket of sockets) socket.destroy();
  mute.close();
  plain.closeAllConnections();
  plain.close();
});

describe('connect in Chromium', () => {
  it('takes openTimeout and signal, offers the heartbeat token last unless told not to, reports ws:', async () => {
    const base = `127.0.0.1:${String(port(plain))}`;
    const result = await inPage(browser.page, (api, arg) => api.scenarios.opening(arg), {
      muteUrl: `ws://127.0.0.1:${String(port(mute))}/`,
      url: `ws://${base}`,
    });
    expect(DEFAULT_OPEN_TIMEOUT).toBe(10_000);
    expect(result.timedOut.name).toBe('HandshakeError');
    expect(result.timedOut.message).toMatch(/timed out after 200 ms/);
    expect(result.aborted).toMatchObject({ name: 'HandshakeError', cause: 'stop' });
    expect(result.early).toMatchObject({ name: 'HandshakeError', cause: 'stop' });
    expect(result.badUrl).toBe('SyntaxError');
    expect(heard.map((h) => h['sec-websocket-protocol'])).toEqual([
      `chat.v1, ${HEARTBEAT_PROTOCOL}`,
      HEARTBEAT_PROTOCOL,
      undefined,
      HEARTBEAT_PROTOCOL,
    ]);
    expect(result.opened).toEqual([
      { url: `ws://${base}/anyws`, protocol: 'chat.v1' },
      // The server selected the token: it agreed to the heartbeat; no application subprotocol.
      { url: `ws://${base}/anyws`, protocol: '' },
      { url: `ws://${base}/plain`, protocol: '' },
    ]);
    // Chromium fails an opening answered without one of its offers: the token alone included.
    expect(result.refused).toBe('HandshakeError');
  });

  it('a ReconnectingClient whose signal aborted ends instead of retrying', async () => {
    const { trace } = await inPage(browser.page, (api, arg) => api.scenarios.abortedClient(arg), {
      muteUrl: `ws://127.0.0.1:${String(port(mute))}/`,
    });
    expect(trace.errors).toEqual(['HandshakeError']);
    expect(trace.states).toEqual(['connecting', 'closed']);
  });
});
