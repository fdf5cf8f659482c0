import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { LocalTopics, WebSocketConnection, type WebSocketHandler, WSMsgType } from '@anyws/core';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import * as wsModule from 'ws';
import { attach, connect, WsTransport } from '../src/index.js';
import { COMPRESS_ONCE_MAX, DirectWebSocket } from '../src/transport.js';
import { countWrites, expectEchoOfSizes, sleep, texts } from './helpers.js';

let http: Server;
let base: string;
/** The server side socket of each upgrade, in order. */
const sockets: Socket[] = [];
/** The server side connections, in order. */
const serverConns: WebSocketConnection<unknown>[] = [];
const topics = new LocalTopics();

const burst: WebSocketHandler = {
  open(conn) {
    serverConns.push(conn);
    for (let i = 0; i < 10; i++) conn.sendText(`m${String(i)}`).catch(() => undefined);
  },
};
const subscriber: WebSocketHandler = {
  open(conn) {
    serverConns.push(conn);
    conn.subscribe(new URL(conn.url).searchParams.get('topic') ?? 't');
    conn.sendText('subscribed').catch(() => undefined);
  },
};

beforeAll(async () => {
  http = createServer();
  // Sees each upgrade's socket before anyws does.
  http.prependListener('upgrade', (_req, socket: Duplex) => sockets.push(socket as Socket));
  attach(http, { path: '/burst', handler: burst });
  attach(http, { path: '/burst-plain', handler: burst, coalesce: false });
  attach(http, { path: '/sub', handler: subscriber, topics });
  for (const coalesce of [true, false]) {
    attach(http, {
      path: `/echo-${String(coalesce)}`,
      coalesce,
      handler: {
        async session(conn) {
          for await (const message of conn) {
            if (message.type === WSMsgType.TEXT || message.type === WSMsgType.BINARY) {
              await conn.send(message.data);
            }
          }
        },
      },
    });
  }
  attach(http, {
    path: '/sub-deflate',
    handler: { ...subscriber, options: { compress: true } },
    topics,
  });
  attach(http, {
    path: '/slow-drain',
    handler: {
      options: { highWaterMark: 0 },
      async session(conn) {
        const chunk = 'x'.repeat(1024);
        for (let i = 0; i < 50; i++) await conn.sendText(chunk);
        await conn.sendText('done');
      },
    },
  });
  attach(http, {
    path: '/lazy-reader',
    handler: {
      options: { receiveHighWaterMark: 1024 },
      async session(conn) {
        await sleep(300);
        const seen: string[] = [];
        for (let i = 0; i < 100; i++)
          seen.push((await conn.receiveText({ timeout: 5000 })).slice(0, 8));
        await conn.sendText(
          seen.every((s, i) => s === `n${String(i).padStart(7, '0')}`)
            ? 'in order'
            : 'out of order',
        );
      },
    },
  });
  attach(http, {
    path: '/manual-pong',
    handler: {
      options: { autoping: false },
      async session(conn) {
        const ping = await conn.receive({ timeout: 5000 });
        await conn.sendText(ping.type === WSMsgType.PING ? 'got ping' : `got ${String(ping.type)}`);
        await conn.pong(ping.data as Uint8Array);
        for await (const _ of conn) break;
      },
    },
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  base = `ws://127.0.0.1:${String((http.address() as AddressInfo).port)}`;
});
afterAll(async () => {
  http.closeAllConnections();
  await new Promise((resolve) => http.close(resolve));
});
afterEach(() => {
  vi.restoreAllMocks();
});

/** ws's `Sender` (exported by ws, not declared by @types/ws): ws frames through `Sender.frame`. */
const Sender = (
  wsModule as unknown as {
    Sender: { frame(data: Uint8Array, options: { rsv1: boolean }): unknown };
  }
).Sender;

/** What each socket is handed to write from now on, chunk by chunk (each list per socket). */
function recordWrites(list: Socket[]): Buffer[][] {
  return list.map((socket) => {
    const chunks: Buffer[] = [];
    const write = socket.write.bind(socket);
    vi.spyOn(socket, 'write').mockImplementation(((chunk: unknown, ...rest: never[]) => {
      chunks.push(chunk as Buffer);
      return write(chunk as Buffer, ...rest);
    }) as Socket['write']);
    return chunks;
  });
}

/** First byte of a frame: FIN, RSV1 (compressed) and the opcode (1 text, 2 binary). */
const FIN_TEXT = 0x81;
const FIN_BINARY = 0x82;
const FIN_RSV1_TEXT = 0xc1;

async function burstWrites(path: string): Promise<number> {
  const before = sockets.length;
  let counter: { readonly count: number } | undefined;
  http.prependOnceListener('upgrade', (_req, socket: Duplex) => {
    // Counted from the 101 response on, which is a write of its own.
    counter = countWrites(socket as Socket);
  });
  const conn = await connect(`${base}${path}`);
  expect(await texts(conn, 10)).toEqual(Array.from({ length: 10 }, (_, i) => `m${String(i)}`));
  expect(sockets.length).toBe(before + 1);
  const count = counter?.count ?? -1;
  await conn.close();
  return count;
}

describe('WsTransport', () => {
  it('coalesces: ten frames sent in one tick leave in one write (after the 101)', async () => {
    expect(await burstWrites('/burst')).toBe(2);
  });

  it('coalesce: false writes each frame on its own, as ws does', async () => {
    expect(await burstWrites('/burst-plain')).toBe(11);
  });

  // Server frames are made by the adapter (not ws) where it can: every header length, text
  // in UTF-8, binary copied into the frame or, past the copy limit, left to ws.
  for (const coalesce of [true, false]) {
    it(`echoes every frame size intact (coalesce: ${String(coalesce)})`, async () => {
      const conn = await connect(`${base}/echo-${String(coalesce)}`, {
        maxMessageSize: 1 << 20,
      });
      await expectEchoOfSizes(conn, [0, 1, 125, 126, 127, 8192, 8193, 65_535, 65_536, 70_000]);
      await conn.close();
    });
  }

  it('publish frames a message once and writes the same bytes to every subscriber', async () => {
    const clients = await Promise.all([1, 2, 3].map(() => connect(`${base}/sub`)));
    for (const client of clients)
      expect(await client.receiveText({ timeout: 5000 })).toBe('subscribed');
    const subs = serverConns.slice(-3);
    expect(subs.every((conn) => conn.topics.includes('t'))).toBe(true);
    const perSocket = recordWrites(sockets.slice(-3));
    expect(topics.publish('t', 'hello, all')).toBe(3);
    expect(topics.publish('t', new Uint8Array([1, 2, 3]))).toBe(3);
    // One frame per message: the same buffer, not a copy, handed to every socket.
    for (const chunks of perSocket) expect(chunks).toHaveLength(2);
    const [text, bytes] = perSocket[0]!;
    for (const chunks of perSocket) {
      expect(chunks[0]).toBe(text);
      expect(chunks[1]).toBe(bytes);
    }
    expect([...text!]).toEqual([FIN_TEXT, 10, ...Buffer.from('hello, all')]);
    expect([...bytes!]).toEqual([FIN_BINARY, 3, 1, 2, 3]);
    for (const client of clients) {
      expect(await client.receiveText({ timeout: 5000 })).toBe('hello, all');
      expect([...(await client.receiveBytes({ timeout: 5000 }))]).toEqual([1, 2, 3]);
    }
    await Promise.all(clients.map((client) => client.close()));
  });

  it('a lone publish leaves at once; more in the same tick are corked into one more write', async () => {
    const client = await connect(`${base}/sub?topic=p1`);
    expect(await client.receiveText({ timeout: 5000 })).toBe('subscribed');
    const counter = countWrites(sockets.at(-1)!);
    expect(topics.publish('p1', 'one')).toBe(1);
    // Written before the tick ends: no cork, no waiting for the flush.
    expect(counter.count).toBe(1);
    await sleep(10);
    for (let i = 0; i < 5; i++) topics.publish('p1', `burst ${String(i)}`);
    expect(counter.count).toBe(2);
    expect(await texts(client, 6)).toEqual(['one', ...[0, 1, 2, 3, 4].map((i) => `burst ${i}`)]);
    // The four frames after the first of the tick left together.
    expect(counter.count).toBe(3);
    await client.close();
  });

  it('compresses a publish once for every socket without context takeover', async () => {
    const clients = await Promise.all(
      [1, 2, 3].map(() => connect(`${base}/sub-deflate?topic=z1`, { compress: true })),
    );
    for (const client of clients) {
      expect(client.extensions).toMatch(/^permessage-deflate; server_no_context_takeover/);
      expect(await client.receiveText({ timeout: 5000 })).toBe('subscribed');
    }
    const perSocket = recordWrites(sockets.slice(-3));
    const text = 'compressible '.repeat(200);
    expect(topics.publish('z1', text)).toBe(3);
    for (const client of clients) expect(await client.receiveText({ timeout: 5000 })).toBe(text);
    // One compressed frame, the same buffer for all three sockets.
    const frame = perSocket[0]![0]!;
    for (const chunks of perSocket) expect(chunks).toEqual([frame]);
    for (const chunks of perSocket) expect(chunks[0]).toBe(frame);
    expect(frame[0]).toBe(FIN_RSV1_TEXT);
    // It carries the deflated bytes, far fewer than the text's 2,600.
    expect(frame.byteLength).toBeLessThan(100);
    await Promise.all(clients.map((client) => client.close()));
  });

  it('a publish asked not to compress goes out plain on deflate sockets', async () => {
    const client = await connect(`${base}/sub-deflate?topic=z2`, { compress: true });
    expect(await client.receiveText({ timeout: 5000 })).toBe('subscribed');
    const [chunks] = recordWrites(sockets.slice(-1));
    expect(topics.publish('z2', 'plain please', { compress: false })).toBe(1);
    expect(await client.receiveText({ timeout: 5000 })).toBe('plain please');
    expect(chunks!.map((chunk) => chunk[0])).toEqual([FIN_TEXT]);
    await client.close();
  });

  it('compresses once per window size the clients asked for', async () => {
    const { WebSocket } = await import('ws');
    const open = (serverMaxWindowBits?: number) =>
      new Promise<InstanceType<typeof WebSocket>>((resolve, reject) => {
        const ws = new WebSocket(`${base}/sub-deflate?topic=z3`, {
          perMessageDeflate: serverMaxWindowBits ? { serverMaxWindowBits } : true,
        });
        ws.once('message', () => resolve(ws));
        ws.once('error', reject);
      });
    const clients = [await open(), await open(10), await open(10)];
    const agreed = clients.map(
      (ws) =>
        (ws as unknown as { _extensions: Record<string, { params: Record<string, unknown> }> })
          ._extensions['permessage-deflate']?.params,
    );
    expect(agreed.map((params) => params?.server_no_context_takeover)).toEqual([true, true, true]);
    expect(agreed.map((params) => params?.server_max_window_bits)).toEqual([undefined, 10, 10]);
    const received = clients.map(
      (ws) => new Promise<string>((resolve) => ws.once('message', (data) => resolve(String(data)))),
    );
    const perSocket = recordWrites(sockets.slice(-3));
    const text = JSON.stringify(Array.from({ length: 300 }, (_, i) => ({ i, name: `n${i % 7}` })));
    expect(topics.publish('z3', text)).toBe(3);
    expect(await Promise.all(received)).toEqual([text, text, text]);
    // Two compressed frames: one for the default window, one shared by the two 10-bit ones.
    const [wide, narrow, narrowToo] = perSocket.map((chunks) => chunks[0]!);
    for (const chunks of perSocket) expect(chunks).toHaveLength(1);
    expect(narrowToo).toBe(narrow);
    expect(wide).not.toBe(narrow);
    expect([wide![0], narrow![0]]).toEqual([FIN_RSV1_TEXT, FIN_RSV1_TEXT]);
    await Promise.all(
      clients.map((ws) => {
        ws.close();
        return new Promise((resolve) => ws.once('close', resolve));
      }),
    );
  });

  it('keeps order behind a message ws is still compressing, and past the compress-once size', async () => {
    const clients: WebSocketConnection<unknown>[] = [];
    for (let i = 0; i < 2; i++) {
      clients.push(await connect(`${base}/sub-deflate?topic=z4`, { compress: true }));
      expect(await clients[i]!.receiveText({ timeout: 5000 })).toBe('subscribed');
    }
    const first = serverConns.at(-2)!;
    const big = 'y'.repeat(COMPRESS_ONCE_MAX + 1);
    const [, second] = recordWrites(sockets.slice(-2));
    const frame = vi.spyOn(Sender, 'frame');
    // ws deflates this send off the main thread; the publish must not overtake it.
    first.sendText('a'.repeat(50_000)).catch(() => undefined);
    expect(topics.publish('z4', 'after')).toBe(2);
    expect(topics.publish('z4', big)).toBe(2);
    expect((await clients[0]!.receiveText({ timeout: 5000 })).length).toBe(50_000);
    for (const client of clients) {
      expect(await client.receiveText({ timeout: 5000 })).toBe('after');
      expect(await client.receiveText({ timeout: 5000 })).toBe(big);
    }
    // Compressed by ws: the 50,000 and 'after' for the busy socket, the big one for each.
    expect(frame.mock.calls.filter((call) => call[1].rsv1)).toHaveLength(4);
    // The idle socket got 'after' compressed here, at once, first of what it was written.
    expect(second![0]![0]).toBe(FIN_RSV1_TEXT);
    expect(second![0]!.byteLength).toBeLessThan(20);
    frame.mockRestore();
    await Promise.all(clients.map((client) => client.close()));
  });

  it('reports drain when the buffer empties, even under the socket high-water mark', async () => {
    const conn = await connect(`${base}/slow-drain`);
    const seen = await texts(conn, 51);
    expect(seen.at(-1)).toBe('done');
    await conn.close();
  });

  it('pauses reading while the reader lags and loses nothing on resume', async () => {
    const pause = vi.spyOn(WsTransport.prototype, 'pause');
    const resume = vi.spyOn(WsTransport.prototype, 'resume');
    const conn = await connect(`${base}/lazy-reader`);
    for (let i = 0; i < 100; i++)
      conn.sendText(`n${String(i).padStart(7, '0')}${'.'.repeat(1016)}`).catch(() => undefined);
    expect(await conn.receiveText({ timeout: 5000 })).toBe('in order');
    expect(pause.mock.calls.length).toBeGreaterThan(0);
    expect(resume.mock.calls.length).toBeGreaterThan(0);
    await conn.close();
  });

  it('autoping false on the server: the PING reaches the session, which answers by hand', async () => {
    const conn = await connect(`${base}/manual-pong`);
    const rtt = conn.ping('hi');
    expect(await conn.receiveText({ timeout: 5000 })).toBe('got ping');
    expect(await rtt).toBeGreaterThanOrEqual(0);
    await conn.close();
  });

  it('DirectWebSocket: events reach the transport, and listeners added by others still hear them', async () => {
    const { WebSocket, WebSocketServer } = await import('ws');
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', WebSocket: DirectWebSocket });
    await new Promise((resolve) => wss.once('listening', resolve));
    const heard: string[] = [];
    const served = new Promise<WebSocketConnection<unknown>>((resolve) => {
      wss.once('connection', (ws) => {
        expect(ws).toBeInstanceOf(DirectWebSocket);
        ws.on('message', (data) => heard.push(`listener ${String(data)}`));
        resolve(new WebSocketConnection({ transport: new WsTransport(ws), side: 'server' }));
      });
    });
    const port = (wss.address() as AddressInfo).port;
    const client = new WebSocket(`ws://127.0.0.1:${String(port)}`);
    await new Promise((resolve) => client.once('open', resolve));
    const conn = await served;
    client.send('hello');
    expect(await conn.receiveText({ timeout: 5000 })).toBe('hello');
    expect(heard).toEqual(['listener hello']);
    // ws reports invalid UTF-8 as an 'error' event, which has no listener here: the transport
    // takes it (an 'error' nobody hears would throw) and the connection ends with 1007.
    const closed = new Promise<number>((resolve) => client.once('close', resolve));
    client.send(Buffer.from([0xff, 0xfe]), { binary: false });
    expect(await closed).toBe(1007);
    await conn.whenClosed;
    expect(conn.closeCode).toBe(1007);
    await new Promise((resolve) => wss.close(resolve));
  });

  it('refuses a ws socket that is not open', async () => {
    const { WebSocket } = await import('ws');
    const ws = new WebSocket(`${base}/burst`);
    expect(() => new WsTransport(ws)).toThrow(TypeError);
    await new Promise((resolve) => ws.once('open', resolve));
    ws.terminate();
  });
});
