/**
 * The fallback: with ws's internals switched off (`ANYWS_WS_INTERNALS=off`, what a ws of an
 * unexpected shape also gets), every frame goes through ws's public API. The contract suite
 * and the transport's own cases must hold all the same: slower, never different.
 */
import type { ContractTarget } from '@anyws/core/contract';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { expectEchoOfSizes } from './helpers.js';
import { silentClient, silentServer } from './raw.js';

// The switch is read once, when ws-internals loads: set it, load a fresh copy of src and of
// the core it uses (the contract suite's too, so that their classes are the same), restore.
const previous = process.env.ANYWS_WS_INTERNALS;
process.env.ANYWS_WS_INTERNALS = 'off';
vi.resetModules();
const node = await import('../src/index.js');
const internals = await import('../src/ws-internals.js');
const { WsTransport } = await import('../src/transport.js');
const core = await import('@anyws/core');
const { contractRoute, registerContractSuite } = await import('@anyws/core/contract');
if (previous === undefined) delete process.env.ANYWS_WS_INTERNALS;
else process.env.ANYWS_WS_INTERNALS = previous;

const register = (name: string, run: () => Promise<void>, skip: string | null) =>
  skip ? it.skip(name, run) : it(name, run, 20_000);

describe("ws's public API only", () => {
  let server: Awaited<ReturnType<typeof node.serve>>;
  let silent: Awaited<ReturnType<typeof silentServer>>;
  let target: ContractTarget;
  const topics = new core.LocalTopics();

  beforeAll(async () => {
    server = await node.serve({
      hostname: '127.0.0.1',
      handler: (request) => {
        const path = new URL(request.url).pathname;
        if (path === '/echo')
          return {
            options: { maxMessageSize: 1 << 20 },
            async session(conn) {
              for await (const message of conn) {
                if (message.type === core.WSMsgType.TEXT || message.type === core.WSMsgType.BINARY)
                  await conn.send(message.data);
              }
            },
          };
        if (path === '/sub')
          return {
            options: { compress: true },
            open(conn) {
              conn.subscribe('t');
              conn.sendText('subscribed').catch(() => undefined);
            },
          };
        if (path === '/slow-drain')
          return {
            options: { highWaterMark: 0 },
            async session(conn) {
              for (let i = 0; i < 50; i++) await conn.sendText('x'.repeat(1024));
              await conn.sendText('done');
            },
          };
        return contractRoute(path);
      },
      topics,
    });
    silent = await silentServer();
    target = {
      baseUrl: server.url,
      connect: (url, options) => node.connect(url, options),
      silentServerUrl: silent.url,
      openSilentClient: silentClient,
    };
  });
  afterAll(async () => {
    await server?.close();
    await silent?.close();
  });

  it('is switched off', () => {
    expect(internals.wsInternals).toEqual({ active: false, reason: 'ANYWS_WS_INTERNALS=off' });
    expect(internals.serverWebSocketClass()).not.toBe(internals.DirectWebSocket);
  });

  it('echoes every frame size intact', async () => {
    const conn = await node.connect(`${server.url}/echo`, { maxMessageSize: 1 << 20 });
    await expectEchoOfSizes(conn, [0, 1, 125, 126, 8193, 65_535, 65_536, 300_000]);
    await conn.close();
  });

  it('publishes to plain and compressing subscribers, in order', async () => {
    const plain = await node.connect(`${server.url}/sub`);
    const deflate = await node.connect(`${server.url}/sub`, { compress: true });
    expect(deflate.extensions).toBe('permessage-deflate');
    for (const conn of [plain, deflate]) {
      expect(await conn.receiveText({ timeout: 5000 })).toBe('subscribed');
    }
    const big = 'y'.repeat(100_000);
    expect(topics.publish('t', 'first')).toBe(2);
    expect(topics.publish('t', big)).toBe(2);
    expect(topics.publish('t', new Uint8Array([1, 2, 3]))).toBe(2);
    for (const conn of [plain, deflate]) {
      expect(await conn.receiveText({ timeout: 5000 })).toBe('first');
      expect(await conn.receiveText({ timeout: 5000 })).toBe(big);
      expect([...(await conn.receiveBytes({ timeout: 5000 }))]).toEqual([1, 2, 3]);
    }
    await Promise.all([plain.close(), deflate.close()]);
  });

  it('reports drains from send callbacks: a session over its high-water mark completes', async () => {
    const conn = await node.connect(`${server.url}/slow-drain`);
    let last = '';
    for (let i = 0; i < 51; i++) last = await conn.receiveText({ timeout: 5000 });
    expect(last).toBe('done');
    await conn.close();
  });

  it('reads no socket: a transport over a ws socket of its own works through ws alone', async () => {
    const { WebSocket, WebSocketServer } = await import('ws');
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await new Promise((resolve) => wss.once('listening', resolve));
    const served = new Promise<InstanceType<typeof WsTransport>>((resolve) => {
      wss.once('connection', (ws) => resolve(new WsTransport(ws)));
    });
    const port = (wss.address() as { port: number }).port;
    const client = new WebSocket(`ws://127.0.0.1:${String(port)}`);
    const heard = new Promise<string>((resolve) =>
      client.once('message', (data) => resolve(String(data))),
    );
    await new Promise((resolve) => client.once('open', resolve));
    const transport = await served;
    transport.sendText('through ws', undefined);
    expect(await heard).toBe('through ws');
    client.terminate();
    await new Promise((resolve) => wss.close(resolve));
  });

  registerContractSuite(
    register,
    {
      server: node.WS_CAPABILITIES,
      client: node.WS_CAPABILITIES,
      handshakeStatus: true,
      silentServer: true,
      silentClient: true,
    },
    () => target,
  );
});
