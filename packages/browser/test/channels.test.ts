/**
 * Channels with recovery in real headless Chromium: the page's `ReconnectingClient` carries a
 * `ChannelClient`; a real @anyws/node server cuts the page's TCP connection and refuses it while
 * the page is offline (network emulation) and publications are made. When the network is back
 * the page reconnects and re-joins by itself, and shows each missed publication once, in order.
 */
import type { WebSocketConnection } from '@anyws/core';
import { ChannelServer } from '@anyws/core/channels';
import { chatMessages as messages } from '@anyws/core/contract';
import { type RunningServer, serve } from '@anyws/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { channelScenarios } from './browser/channels.js';
import { openTestPage, requireChromium, type TestBrowser } from './harness.js';

requireChromium();

const channels = new ChannelServer({ messages, authorize: (_peer, channel) => channel === 'room' });
/** The server's side of the page's connections that are open. */
const open = new Set<WebSocketConnection<unknown>>();
/** While true every upgrade is refused (503): the page's attempts fail. */
let refusing = false;
let server: RunningServer;
let browser: TestBrowser;

async function control(command: string, argument?: unknown): Promise<unknown> {
  switch (command) {
    case 'refuse':
      refusing = argument === true;
      return;
    case 'cut': {
      // The TCP connection is dropped from the server's side, as a lost link would.
      const conns = [...open];
      for (const conn of conns) conn.terminate();
      await Promise.all(conns.map((conn) => conn.whenClosed));
      return;
    }
    case 'publish': {
      const { from, to } = argument as { from: number; to: number };
      for (let i = from; i <= to; i++) await channels.publish('room', 'chat', { text: `m${i}` });
      return;
    }
    case 'offline':
      return browser.context.setOffline(true);
    case 'online':
      return browser.context.setOffline(false);
    default:
      throw new Error(`unknown control command ${command}`);
  }
}

beforeAll(async () => {
  server = await serve({
    hostname: '127.0.0.1',
    handler: channels.handler({
      upgrade: () => (refusing ? new Response('not now', { status: 503 }) : undefined),
      open: (conn) => {
        open.add(conn);
      },
      close: (conn) => {
        open.delete(conn);
      },
    }),
  });
  browser = await openTestPage(control);
}, 30_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

function scenario<K extends keyof typeof channelScenarios>(
  name: K,
  arg: Parameters<(typeof channelScenarios)[K]>[0],
): ReturnType<(typeof channelScenarios)[K]> {
  return browser.page.evaluate(
    ([n, a]) =>
      (
        globalThis as unknown as {
          anywsTest: { channelScenarios: Record<string, (a: unknown) => Promise<unknown>> };
        }
      ).anywsTest.channelScenarios[n]?.(a),
    [name, arg] as const,
  ) as ReturnType<(typeof channelScenarios)[K]>;
}

describe('channels over ReconnectingClient in Chromium', () => {
  it('a page cut off and offline while 50 messages are published catches up by itself: each once, in order, then live', async () => {
    const missed = 50;
    const r = await scenario('recoverAfterCut', { url: `${server.url}/`, missed });
    const all = Array.from({ length: missed + 4 }, (_, i) => i + 1);
    // Nothing arrived while the page was cut off: the missed ones came with the re-join.
    expect(r.gotWhileCut).toBe(3);
    expect(r.joinedWhileCut).toBe('joining');
    expect(r.got.map((p) => p.offset)).toEqual(all);
    expect(r.got.map((p) => p.text)).toEqual(all.map((i) => `m${i}`));
    // One join by the page; the second is the client's own, from offset 3, recovered.
    expect(r.joins.map((j) => [j.recovered, j.offset])).toEqual([
      [false, 0],
      [true, 3],
    ]);
    expect(r.states).toEqual(
      expect.arrayContaining(['connected', 'reconnecting', 'offline', 'closed']),
    );
  });
});
