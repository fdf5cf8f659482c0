import type { AddressInfo } from 'node:net';
import {
  HandshakeError,
  type TransportCapabilities,
  type WebSocketHandler,
  WSMsgType,
} from '@anyws/core';
import { type ContractTarget, contractRoute, registerContractSuite } from '@anyws/core/contract';
import type { ServerType } from '@hono/node-server';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, createWebSocketServer, topicsOf, upgradeWebSocket } from '../src/hono.js';
import { connect, WS_CAPABILITIES } from '../src/index.js';
import { handshake, rawHandshakeHead, silentClient, silentServer } from './raw.js';

const register = (name: string, run: () => Promise<void>, skip: string | null) =>
  skip ? it.skip(name, run) : it(name, run, 20_000);

const client = WS_CAPABILITIES;
// One ws server for every route: a route whose maxMessageSize differs from its maxPayload is checked by core.
const server: TransportCapabilities = { ...client, enforcesMaxMessageSize: false };

const greeter: WebSocketHandler<{ user: string }> = {
  options: { protocols: ['v2', 'v1'] },
  upgrade(request) {
    const user = new URL(request.url).searchParams.get('user');
    if (!user)
      return new Response('who are you?', {
        status: 401,
        headers: { 'www-authenticate': 'Token' },
      });
    if (user === 'mallory') return new Response('no', { status: 403 });
    return { context: { user }, headers: { 'x-anyws-user': user } };
  },
  open(conn) {
    conn.subscribe('news');
    conn.sendText(`hi ${conn.context.user} (${conn.protocol})`).catch(() => undefined);
  },
  message(conn, message) {
    if (message.type === WSMsgType.TEXT) conn.sendText(message.data).catch(() => undefined);
  },
};

let http: ServerType;
let base: string;
let silent: Awaited<ReturnType<typeof silentServer>>;
const wss = createWebSocketServer();

beforeAll(async () => {
  const app = new Hono();
  app.get('/greet', upgradeWebSocket(greeter), (c) => c.text('plain HTTP on a WebSocket route'));
  app.post('/news', async (c) => c.text(String(topicsOf(wss).publish('news', await c.req.text()))));
  app.get(
    '/contract/:route',
    upgradeWebSocket((request) => contractRoute(new URL(request.url).pathname)),
    // Plain HTTP goes on to the app: here, as a standalone server answers it.
    (c) => c.text('upgrade required', 426),
  );
  await new Promise<void>((resolve) => {
    http = serve(
      {
        fetch: app.fetch,
        port: 0,
        hostname: '127.0.0.1',
        createServer,
        websocket: { server: wss },
      },
      () => resolve(),
    );
  });
  base = `127.0.0.1:${String((http.address() as AddressInfo).port)}`;
  silent = await silentServer();
});
afterAll(async () => {
  await new Promise((resolve) => http.close(resolve));
  await silent.close();
});

describe('Hono upgradeWebSocket on @hono/node-server', () => {
  it('upgrades with the hook context, chosen subprotocol and extra headers, end to end', async () => {
    const conn = await connect(`ws://${base}/greet?user=ada`, { protocols: ['v1', 'v2'] });
    expect(conn.protocol).toBe('v2');
    expect(await conn.receiveText({ timeout: 5000 })).toBe('hi ada (v2)');
    await conn.sendText('echo me');
    expect(await conn.receiveText({ timeout: 5000 })).toBe('echo me');
    const published = await fetch(`http://${base}/news`, { method: 'POST', body: 'extra!' });
    expect(await published.text()).toBe('1');
    expect(await conn.receiveText({ timeout: 5000 })).toBe('extra!');
    await conn.close();
    expect(conn.closeCode).toBe(1000);
  });

  it('puts the hook headers on the 101 response', async () => {
    const target = new URL(`ws://${base}/greet?user=eve`);
    const { socket, head } = await handshake(target.href);
    socket.destroy();
    expect(head).toMatch(/^HTTP\/1\.1 101/);
    expect(head.toLowerCase()).toContain('x-anyws-user: eve');
  });

  it('answers a refusal of the upgrade hook with its HTTP status, no upgrade', async () => {
    const unauthorised = await connect(`ws://${base}/greet`).catch((error: unknown) => error);
    expect(unauthorised).toBeInstanceOf(HandshakeError);
    expect((unauthorised as HandshakeError).status).toBe(401);
    const forbidden = await connect(`ws://${base}/greet?user=mallory`).catch(
      (error: unknown) => error,
    );
    expect((forbidden as HandshakeError).status).toBe(403);
    const { head, socket } = await handshake(`ws://${base}/greet`);
    socket.destroy();
    expect(head).toMatch(/^HTTP\/1\.1 401/);
    expect(head.toLowerCase()).toContain('www-authenticate: token');
    // The server still serves others.
    const conn = await connect(`ws://${base}/greet?user=ada`);
    expect(await conn.receiveText({ timeout: 5000 })).toBe('hi ada ()');
    await conn.close();
  });

  it('lets plain HTTP through to the next handler', async () => {
    const response = await fetch(`http://${base}/greet`);
    expect(response.status).toBe(200);
    expect(await response.text()).toBe('plain HTTP on a WebSocket route');
  });
});

describe('contract suite: Hono on @hono/node-server, @anyws/node client', () => {
  let target: ContractTarget;
  beforeAll(() => {
    target = {
      baseUrl: `ws://${base}/contract`,
      connect: (url, options) => connect(url, options),
      silentServerUrl: silent.url,
      openSilentClient: silentClient,
      handshake: rawHandshakeHead,
    };
  });
  registerContractSuite(
    register,
    {
      server,
      client,
      handshakeStatus: true,
      silentServer: true,
      silentClient: true,
      rawHandshake: true,
    },
    () => target,
  );
});
