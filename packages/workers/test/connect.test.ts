/**
 * `connect` from a Worker and from a Durable Object, in real workerd (Miniflare), to a ws
 * server in this process on 127.0.0.1 that answers as an anyws server does: it selects the
 * application's subprotocol or else the heartbeat token, and greets an offer of the token with
 * the application-level ping, which the Worker's client must answer and not deliver.
 */
import { createServer as createTcpServer, type Socket } from 'node:net';
import { APP_PING, APP_PONG, HEARTBEAT_PROTOCOL } from '@anyws/core';
import type { Miniflare } from 'miniflare';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RawData, WebSocketServer } from 'ws';
import type { DialReport } from './fixtures/client-worker.js';
import { startClientWorkerd } from './helpers/client-workerd.js';

/** What the server saw of each connection. */
interface Seen {
  path: string;
  offered: string | undefined;
  dialer: string | undefined;
  pongs: number;
}
const seen: Seen[] = [];

const wss = new WebSocketServer({
  host: '127.0.0.1',
  port: 0,
  handleProtocols: (offered) =>
    ['chat.v1', HEARTBEAT_PROTOCOL].find((p) => offered.has(p)) ?? false,
  verifyClient: ({ req }, done) =>
    req.url?.startsWith('/refuse') ? done(false, 403, 'not you') : done(true),
});
wss.on('connection', (ws, req) => {
  const entry: Seen = {
    path: req.url ?? '',
    offered: req.headers['sec-websocket-protocol'],
    dialer: req.headers['x-dialer'] as string | undefined,
    pongs: 0,
  };
  seen.push(entry);
  const agreed = entry.offered?.split(/\s*,\s*/).includes(HEARTBEAT_PROTOCOL) ?? false;
  // The hello of an anyws server whose client offered the token.
  if (agreed) ws.send(APP_PING);
  ws.on('message', (data: RawData, binary: boolean) => {
    if (!binary && data.toString() === APP_PONG) {
      entry.pongs++;
      return;
    }
    ws.send(data, { binary });
  });
});

/** Accepts TCP connections and never answers a handshake. */
const held: Socket[] = [];
const mute = createTcpServer((socket) => {
  held.push(socket);
  socket.on('error', () => undefined);
  socket.resume();
});

let mf: Miniflare;
let wsPort: number;
let mutePort: number;

beforeAll(async () => {
  // ws may have emitted 'listening' already.
  if (!wss.address()) await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
  wsPort = (wss.address() as { port: number }).port;
  await new Promise<void>((resolve) => mute.listen(0, '127.0.0.1', resolve));
  mutePort = (mute.address() as { port: number }).port;
  mf = await startClientWorkerd();
});

afterAll(async () => {
  await mf?.dispose();
  for (const socket of held) socket.destroy();
  mute.close();
  for (const client of wss.clients) client.terminate();
  await new Promise((resolve) => wss.close(resolve));
});

async function dial(where: '/dial' | '/object/dial', query: Record<string, string>) {
  const response = await mf.dispatchFetch(
    `http://worker${where}?${new URLSearchParams(query).toString()}`,
  );
  return (await response.json()) as DialReport;
}

describe.each([
  ['a Worker', '/dial', 'worker'],
  ['a Durable Object', '/object/dial', 'object'],
] as const)('connect from %s', (_, where, from) => {
  it('opens, agrees to the heartbeat, exchanges text and bytes, closes with 1000', async () => {
    const report = await dial(where, {
      to: `ws://127.0.0.1:${String(wsPort)}/chat/${from}`,
      protocols: 'chat.v1',
    });
    expect(report).toEqual({
      url: `ws://127.0.0.1:${String(wsPort)}/chat/${from}`,
      protocol: 'chat.v1',
      // Not the server's APP_PING hello: that was answered, not delivered.
      text: 'hello',
      bytes: [1, 2, 3],
      closeCode: 1000,
    });
    const entry = seen.find((s) => s.path === `/chat/${from}`);
    expect(entry).toMatchObject({
      offered: `chat.v1, ${HEARTBEAT_PROTOCOL}`,
      dialer: from,
      pongs: 1,
    });
  });

  it('reports ws: for an http: URL; the token selected reads as no subprotocol', async () => {
    const report = await dial(where, { to: `http://127.0.0.1:${String(wsPort)}/plain/${from}` });
    expect(report).toMatchObject({
      url: `ws://127.0.0.1:${String(wsPort)}/plain/${from}`,
      protocol: '',
      text: 'hello',
    });
    expect(seen.find((s) => s.path === `/plain/${from}`)?.offered).toBe(HEARTBEAT_PROTOCOL);
  });

  it('offers nothing with offerHeartbeat: false, and no heartbeat runs', async () => {
    const report = await dial(where, {
      to: `ws://127.0.0.1:${String(wsPort)}/quiet/${from}`,
      offerHeartbeat: 'false',
    });
    expect(report).toMatchObject({ protocol: '', text: 'hello' });
    expect(seen.find((s) => s.path === `/quiet/${from}`)).toMatchObject({
      offered: undefined,
      pongs: 0,
    });
  });

  it('rejects a refusal with a HandshakeError carrying the status', async () => {
    const report = await dial(where, { to: `ws://127.0.0.1:${String(wsPort)}/refuse` });
    expect(report).toMatchObject({ error: { name: 'HandshakeError', status: 403 } });
  });

  it('gives up after openTimeout, and when the signal aborts', async () => {
    const to = `ws://127.0.0.1:${String(mutePort)}/`;
    const timedOut = await dial(where, { to, openTimeout: '200' });
    expect(timedOut).toMatchObject({ error: { name: 'HandshakeError', status: null } });
    expect('error' in timedOut && timedOut.error.message).toMatch(/timed out after 200 ms/);
    const aborted = await dial(where, { to, abortAfter: '100' });
    expect(aborted).toMatchObject({ error: { name: 'HandshakeError', status: null } });
    expect('error' in aborted && aborted.error.cause).toMatch(/TimeoutError/);
  });

  it('refuses a URL that is not a WebSocket one with a SyntaxError', async () => {
    expect(await dial(where, { to: 'ftp://127.0.0.1/' })).toMatchObject({
      error: { name: 'SyntaxError' },
    });
  });
});
