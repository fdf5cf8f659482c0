/**
 * The reconnecting client on real Node sockets (ws) against a real @anyws/node server: core's
 * `ReconnectingClient` over this package's `connect`. The server drops the client's TCP
 * connection itself (terminate) and refuses it for a while; the client comes back by itself,
 * and channels followed through it join again from their positions with no code of the test's.
 */
import type { WebSocketConnection, WebSocketHandler } from '@anyws/core';
import {
  ChannelClient,
  ChannelServer,
  type JoinResult,
  MemoryHistory,
  type Publication,
} from '@anyws/core/channels';
import { chatMessages as messages, until } from '@anyws/core/contract';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ReconnectingClient, type RunningServer, serve } from '../src/index.js';

/** Server-side connections that are open, for dropping them from the server's side. */
const open = new Set<WebSocketConnection<unknown>>();
/** While true, every upgrade is refused with 503: the client keeps retrying. */
let refusing = false;
let upgrades = 0;
const base: Omit<WebSocketHandler, 'message' | 'session'> = {
  upgrade: () => {
    upgrades++;
    return refusing ? new Response('not now', { status: 503 }) : undefined;
  },
  open: (conn) => {
    open.add(conn);
  },
  close: (conn) => {
    open.delete(conn);
  },
};
const channels = new ChannelServer({ messages, authorize: (_peer, channel) => channel === 'room' });
/** Echoes text; `close <code>` closes with that code. */
const echo: WebSocketHandler = {
  ...base,
  message(conn, message) {
    if (typeof message.data !== 'string') return;
    const code = /^close (\d+)$/.exec(message.data)?.[1];
    if (code) conn.close(Number(code)).catch(() => undefined);
    else conn.sendText(message.data).catch(() => undefined);
  },
};

let server: RunningServer;
beforeAll(async () => {
  server = await serve({
    hostname: '127.0.0.1',
    handler: (request) =>
      new URL(request.url).pathname === '/echo' ? echo : channels.handler(base),
  });
});
afterEach(() => {
  refusing = false;
  upgrades = 0;
});
afterAll(async () => {
  await server.close();
});

/** Drops every server-side connection's TCP socket; resolves once the server saw them go. */
async function dropAll(): Promise<void> {
  const conns = [...open];
  for (const conn of conns) conn.terminate();
  await Promise.all(conns.map((conn) => conn.whenClosed));
}

/** Fast retries: the waits stay far below any test bound. */
const fast = { reconnect: { minDelay: 20, maxDelay: 100 }, heartbeat: null };

describe('ReconnectingClient on Node', () => {
  it('the server drops it and refuses it for a while: it comes back by itself; sends made meanwhile arrive once, in order', async () => {
    const client = new ReconnectingClient(`${server.url}/echo`, fast);
    const states: string[] = [];
    const closes: [number, number | null][] = [];
    client.on('state', (s) => states.push(s));
    client.on('close', (code, _reason, retryIn) => closes.push([code, retryIn]));
    await client.sendText('before');
    expect(await client.receiveText()).toBe('before');

    refusing = true;
    await dropAll();
    await until(() => client.state === 'reconnecting', 'reconnecting');
    // Queued while there is no connection; the refused attempts go on meanwhile.
    const sends = Array.from({ length: 20 }, (_, i) => client.sendText(`m${String(i)}`));
    expect(client.queued.messages).toBe(20);
    await until(() => upgrades >= 3, 'three refused attempts');
    refusing = false;
    await Promise.all(sends);

    const echoed: string[] = [];
    for (let i = 0; i < 20; i++) echoed.push(await client.receiveText({ timeout: 5000 }));
    expect(echoed).toEqual(Array.from({ length: 20 }, (_, i) => `m${String(i)}`));
    // The drop (1006), then refused attempts (1006 each), all retried.
    expect(closes.length).toBeGreaterThanOrEqual(3);
    for (const [code, retryIn] of closes) {
      expect(code).toBe(1006);
      expect(retryIn).not.toBeNull();
    }
    expect(states).toContain('reconnecting');
    expect(client.state).toBe('connected');
    await client.close();
    expect(client.state).toBe('closed');
    await expect(client.sendText('after')).rejects.toMatchObject({
      name: 'ConnectionClosedError',
    });
  });

  it('1008 from the server ends it for good: CLOSE then CLOSED for the reader, no new attempt', async () => {
    const client = new ReconnectingClient(`${server.url}/echo`, fast);
    await client.sendText('close 1008');
    expect(await client.receive()).toMatchObject({ data: 1008 });
    expect((await client.receive()).type).toBe(0x101);
    expect(client.state).toBe('closed');
    expect(upgrades).toBe(1);
  });

  it('a ChannelClient over it re-joins by itself after a drop and gets each missed publication once, in order', async () => {
    const client = new ReconnectingClient(`${server.url}/`, fast);
    const channelClient = new ChannelClient({ messages }, client);
    const room = channelClient.channel('room');
    const got: Publication<typeof messages>[] = [];
    const joins: JoinResult[] = [];
    room.on('publication', (p) => got.push(p));
    room.on('joined', (result) => joins.push(result));
    await room.join();
    for (let i = 1; i <= 3; i++) await channels.publish('room', 'chat', { text: `m${String(i)}` });
    await until(() => got.length === 3, 'three live publications');

    // The server drops the client's socket and refuses it while 17 messages are published.
    refusing = true;
    await dropAll();
    await until(() => channels.memberCount('room') === 0, 'the server saw the member go');
    for (let i = 4; i <= 20; i++) await channels.publish('room', 'chat', { text: `m${String(i)}` });
    await until(() => upgrades >= 2, 'a refused attempt');
    expect(got).toHaveLength(3);
    refusing = false;

    // No attach, no join by the test: the client comes back and the channel joins again.
    await until(() => got.length === 20, 'the missed publications');
    await channels.publish('room', 'chat', { text: 'm21' });
    await until(() => got.length === 21, 'the live one after them');

    expect(got.map((p) => p.offset)).toEqual(Array.from({ length: 21 }, (_, i) => i + 1));
    expect(got.map((p) => p.data.text)).toEqual(
      Array.from({ length: 21 }, (_, i) => `m${String(i + 1)}`),
    );
    expect(joins.map((j) => j.recovered)).toEqual([false, true]);
    expect(joins[1]?.offset).toBe(3);
    expect(room.state).toBe('joined');
    await client.close();
  });

  it('a channel whose history no longer holds the position re-joins with recovered: false', async () => {
    const small = new ChannelServer({
      messages,
      authorize: () => true,
      history: new MemoryHistory({ maxLength: 5 }),
    });
    const own = await serve({ hostname: '127.0.0.1', handler: small.handler(base) });
    try {
      const client = new ReconnectingClient(`${own.url}/`, fast);
      const room = new ChannelClient({ messages }, client).channel('small');
      const joins: JoinResult[] = [];
      const got: number[] = [];
      room.on('joined', (result) => joins.push(result));
      room.on('publication', (p) => got.push(p.offset));
      await room.join();
      await small.publish('small', 'chat', { text: 'first' });
      await until(() => got.length === 1, 'the first publication');

      refusing = true;
      await dropAll();
      // More than the history keeps: the client's position (1) falls out of it.
      for (let i = 0; i < 10; i++) await small.publish('small', 'chat', { text: 'missed' });
      refusing = false;
      await until(() => joins.length === 2, 'the re-join');
      expect(joins[1]).toMatchObject({ recovered: false, offset: 11 });
      await small.publish('small', 'chat', { text: 'live' });
      await until(() => got.length === 2, 'the live one');
      expect(got).toEqual([1, 12]);
      await client.close();
    } finally {
      await own.close();
    }
  });
});
