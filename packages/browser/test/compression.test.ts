/**
 * permessage-deflate between real Chromium and @anyws/node: the server negotiates
 * `server_no_context_takeover` and compresses a publish once for every subscriber. Chromium
 * must inflate each of those shared frames on its own, message after message.
 */
import { type RunningServer, serve } from '@anyws/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestPage, requireChromium, type TestBrowser } from './harness.js';

requireChromium();

let server: RunningServer;
let browser: TestBrowser;

beforeAll(async () => {
  server = await serve({
    hostname: '127.0.0.1',
    handler: {
      options: { compress: true },
      async session(conn) {
        conn.subscribe('room');
        await conn.sendText('subscribed');
        await conn.whenClosed;
      },
    },
  });
  browser = await openTestPage();
}, 30_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

/** Messages that compress well, alike enough that a kept context would have changed them. */
const messages = Array.from({ length: 20 }, (_, i) =>
  JSON.stringify({ type: 'chat', seq: i, text: 'the next train leaves at noon '.repeat(i + 1) }),
);

describe('permessage-deflate with Chromium (@anyws/node server)', () => {
  it('Chromium takes server_no_context_takeover and inflates every published message intact', async () => {
    const url = `ws://127.0.0.1:${String(server.port)}/`;
    const count = messages.length;
    const seen = browser.page.evaluate(
      ([target, n]) =>
        Promise.all(
          [0, 1, 2].map(
            () =>
              new Promise<{ extensions: string; texts: string[] }>((resolve, reject) => {
                const ws = new WebSocket(target);
                const texts: string[] = [];
                ws.onmessage = (event) => {
                  texts.push(String(event.data));
                  if (texts.length === n + 1) {
                    resolve({ extensions: ws.extensions, texts });
                    ws.close(1000);
                  }
                };
                ws.onclose = (event) => {
                  if (texts.length < n + 1) reject(new Error(`closed ${String(event.code)}`));
                };
                setTimeout(() => reject(new Error(`only ${String(texts.length)} arrived`)), 10_000);
              }),
          ),
        ),
      [url, count] as const,
    );
    // Each page has its 'subscribed' once the server saw the subscription.
    for (let i = 0; i < 200 && server.topics.subscriberCount('room') < 3; i++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(server.topics.subscriberCount('room')).toBe(3);
    for (const message of messages) expect(server.topics.publish('room', message)).toBe(3);
    const pages = await seen;
    for (const page of pages) {
      expect(page.extensions).toContain('permessage-deflate');
      expect(page.extensions).toContain('server_no_context_takeover');
      expect(page.texts).toEqual(['subscribed', ...messages]);
    }
  });
});
