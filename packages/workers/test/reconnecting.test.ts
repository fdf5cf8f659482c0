/**
 * `ReconnectingClient` in a Durable Object, in real workerd (Miniflare), against a real
 * @anyws/node channels server on 127.0.0.1: the server drops the object's connection and refuses
 * it while publications are made; the client comes back by itself and its channel re-joins from
 * its position, so that the object gets each missed publication once, in order.
 */
import { fileURLToPath } from 'node:url';
import type { WebSocketConnection } from '@anyws/core';
import { ChannelServer } from '@anyws/core/channels';
import { chatMessages as messages, until } from '@anyws/core/contract';
import { type RunningServer, serve } from '@anyws/node';
import type { Miniflare } from 'miniflare';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDispatchWorkerd } from './helpers/client-workerd.js';

const FIXTURE = fileURLToPath(new URL('./fixtures/reconnecting-worker.ts', import.meta.url));

const open = new Set<WebSocketConnection<unknown>>();
let refusing = false;
let upgrades = 0;
/** The first three publications, made once the object has joined. */
let live: Promise<void> | undefined;
/** The cut and what is published during it, started by the object's "have 3". */
let cut: Promise<void> | undefined;

const channels = new ChannelServer({
  messages,
  authorize: (_peer, channel) => channel === 'room',
  raw: (_peer, message) => {
    if (message.data !== 'have 3') return;
    cut = (async () => {
      refusing = true;
      const conns = [...open];
      for (const conn of conns) conn.terminate();
      await Promise.all(conns.map((conn) => conn.whenClosed));
      for (let i = 4; i <= 20; i++) await channels.publish('room', 'chat', { text: `m${i}` });
      const refusedFrom = upgrades;
      // At least one attempt meets the refusal before the server takes the client back.
      await until(() => upgrades > refusedFrom, 'a refused attempt');
      refusing = false;
    })();
  },
});

let server: RunningServer;
let mf: Miniflare;
beforeAll(async () => {
  server = await serve({
    hostname: '127.0.0.1',
    handler: channels.handler({
      upgrade: () => {
        upgrades++;
        return refusing ? new Response('not now', { status: 503 }) : undefined;
      },
      open: (conn) => {
        open.add(conn);
        // The first connection's join is answered; then the first three go out live.
        if (upgrades === 1) {
          live = (async () => {
            await until(() => channels.memberCount('room') === 1, 'the first join');
            for (let i = 1; i <= 3; i++) await channels.publish('room', 'chat', { text: `m${i}` });
          })();
        }
      },
      close: (conn) => {
        open.delete(conn);
      },
    }),
  });
  mf = await startDispatchWorkerd(FIXTURE, { FOLLOWER: 'Follower' });
});
afterAll(async () => {
  await mf?.dispose();
  await server?.close();
});

describe('ReconnectingClient in a Durable Object', () => {
  it('dropped and refused while 17 messages are published, it comes back and its channel re-joins by itself: each once, in order', async () => {
    const to = encodeURIComponent(`${server.url}/`);
    const response = await mf.dispatchFetch(`http://worker/?to=${to}&count=20`);
    const r = (await response.json()) as {
      error?: string;
      got: { offset: number; text: string }[];
      joins: { recovered: boolean; offset: number }[];
      states: string[];
    };
    await live;
    await cut;
    expect(r.error).toBeUndefined();
    const all = Array.from({ length: 20 }, (_, i) => i + 1);
    expect(r.got.map((p) => p.offset)).toEqual(all);
    expect(r.got.map((p) => p.text)).toEqual(all.map((i) => `m${i}`));
    expect(r.joins).toEqual([
      { recovered: false, offset: 0 },
      { recovered: true, offset: 3 },
    ]);
    expect(r.states).toContain('reconnecting');
    expect(upgrades).toBeGreaterThanOrEqual(3);
  });
});
