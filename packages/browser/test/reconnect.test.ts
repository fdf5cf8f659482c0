/**
 * The reconnecting client in real headless Chromium against a real @anyws/node server that the
 * test stops, restarts and watches. The scenarios run in the page (test/browser/scenarios.ts);
 * `control` lets them ask for server restarts, network loss and visibility changes.
 */
import { type DataMessage, type WebSocketHandler, WSMsgType } from '@anyws/core';
import { contractRoute } from '@anyws/core/contract';
import { type RunningServer, serve } from '@anyws/node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { scenarios } from './browser/scenarios.js';
import {
  openTestPage,
  rawServer,
  requireChromium,
  silentServer,
  type TestBrowser,
} from './harness.js';

requireChromium();

type Scenarios = typeof scenarios;

/** Every text message the server received, in order, across restarts. */
let received: string[] = [];
/** Upgrades the server accepted. */
let upgrades = 0;

/** Echoes text; `close <code> <reason>` makes the server close with that code. */
const record: WebSocketHandler = {
  message(conn, message: DataMessage | { type: number }) {
    if (message.type !== WSMsgType.TEXT) return;
    const text = (message as { data: string }).data;
    received.push(text);
    const match = /^close (\d+) ?(.*)$/.exec(text);
    if (match) conn.close(Number(match[1]), match[2] ?? '').catch(() => undefined);
    else conn.sendText(text).catch(() => undefined);
  },
};

let server: RunningServer | null = null;
let port = 0;
let browser: TestBrowser;
let silent: Awaited<ReturnType<typeof silentServer>>;

async function start(): Promise<void> {
  server = await serve({
    hostname: '127.0.0.1',
    port,
    handler: (request) => {
      upgrades++;
      const path = new URL(request.url).pathname;
      return path.startsWith('/contract/') ? contractRoute(path) : record;
    },
  });
  port = server.port;
}

async function stop(): Promise<void> {
  const s = server;
  server = null;
  await s?.close();
}

async function control(command: string): Promise<unknown> {
  switch (command) {
    case 'stop':
      return stop();
    case 'start':
      return start();
    case 'offline':
      return browser.context.setOffline(true);
    case 'online':
      return browser.context.setOffline(false);
    case 'hide':
    case 'show':
      // Headless Chromium has no window to hide: the page's visibility is set and the real event dispatched.
      return browser.page.evaluate(
        (state) => {
          Object.defineProperty(document, 'visibilityState', {
            configurable: true,
            get: () => state,
          });
          document.dispatchEvent(new Event('visibilitychange'));
        },
        command === 'hide' ? 'hidden' : 'visible',
      );
    default:
      throw new Error(`unknown control command ${command}`);
  }
}

function scenario<K extends keyof Scenarios>(
  name: K,
  arg: Parameters<Scenarios[K]>[0],
): ReturnType<Scenarios[K]> {
  return browser.page.evaluate(
    ([n, a]) =>
      (
        globalThis as unknown as {
          anywsTest: { scenarios: Record<string, (a: unknown) => Promise<unknown>> };
        }
      ).anywsTest.scenarios[n]?.(a),
    [name, arg] as const,
  ) as ReturnType<Scenarios[K]>;
}

const url = (): string => `ws://127.0.0.1:${String(port)}/record`;

beforeAll(async () => {
  await start();
  silent = await silentServer();
  browser = await openTestPage(control);
}, 30_000);

afterEach(async () => {
  if (!server) await start();
  received = [];
  upgrades = 0;
});

afterAll(async () => {
  await browser?.close();
  await silent?.close();
  await stop();
});

describe('ReconnectingClient in Chromium against @anyws/node', () => {
  it('server stopped and restarted: reconnects within the backoff bound; queued sends arrive once, in order', async () => {
    const maxDelay = 400;
    const count = 50;
    const r = await scenario('restart', { url: url(), minDelay: 100, maxDelay, count });
    const expected = Array.from({ length: count }, (_, i) => `m${String(i)}`);
    expect(r.before).toBe('before');
    expect(r.queued.messages).toBe(count);
    expect(r.failedAttempts).toBeGreaterThan(0);
    // Every wait was inside the policy's bound, and the first attempt after the restart succeeded in time.
    const retries = r.trace.closes.slice(0, -1);
    for (const close of retries) expect(close.retryIn).toBeLessThan(maxDelay);
    expect(retries[0]?.code).toBe(1001);
    expect(retries.slice(1).map((c) => c.code)).toEqual(retries.slice(1).map(() => 1006));
    // The last close is the user's: no retry.
    expect(r.trace.closes.at(-1)).toMatchObject({ code: 1000, retryIn: null });
    expect(r.reconnectedAfter).toBeLessThan(maxDelay + 2000);
    expect(r.settled).toEqual(expected.map(() => 'ok'));
    expect(r.echoes).toEqual(expected);
    expect(r.last).toBe('end');
    expect(r.after).toBe(WSMsgType.CLOSED);
    // Exactly once, in order, on the server's side.
    expect(received).toEqual(['before', ...expected, 'end']);
    expect(r.trace.opens).toHaveLength(2);
    expect(r.trace.states).toContain('reconnecting');
    expect(r.trace.states.at(-1)).toBe('closed');
  });

  it('1013 TRY_AGAIN_LATER: no reconnect; the reader gets CLOSE then CLOSED; later sends reject', async () => {
    const r = await scenario('serverCloses', { url: url(), code: 1013, watch: 500 });
    expect(r.stateAfter).toBe('closed');
    expect(r.trace.closes).toEqual([
      { code: 1013, reason: 'by request', retryIn: null, at: expect.any(Number) },
    ]);
    expect(r.trace.opens).toHaveLength(1);
    expect(upgrades).toBe(1);
    expect(r.received).toEqual([
      { type: WSMsgType.CLOSE, data: 1013 },
      { type: WSMsgType.CLOSED, data: null },
    ]);
    expect(r.sendAfter).toBe('ConnectionClosedError');
  });

  it.each([1003, 1008])('%i does not reconnect either', async (code) => {
    const r = await scenario('serverCloses', { url: url(), code, watch: 300 });
    expect(r.stateAfter).toBe('closed');
    expect(upgrades).toBe(1);
  });

  it('1012 SERVICE_RESTART: reconnects no sooner than restartDelay.min', async () => {
    const restartDelay = { min: 1000, max: 1500 };
    const r = await scenario('serverCloses', { url: url(), code: 1012, watch: 50, restartDelay });
    expect(r.stateAfter).toBe('reconnecting');
    const close = r.trace.closes[0];
    expect(close?.code).toBe(1012);
    expect(close?.retryIn).toBeGreaterThanOrEqual(restartDelay.min);
    expect(close?.retryIn).toBeLessThanOrEqual(restartDelay.max);
    const reopened = (r.trace.opens[1] ?? 0) - (close?.at ?? 0);
    expect(reopened).toBeGreaterThanOrEqual(restartDelay.min);
    expect(r.received).toEqual([{ type: WSMsgType.TEXT, data: 'after the reconnect' }]);
    expect(upgrades).toBe(2);
  });

  it('1001 GOING_AWAY reconnects with backoff', async () => {
    const r = await scenario('serverCloses', { url: url(), code: 1001, watch: 50 });
    expect(r.trace.closes[0]?.retryIn).toBeLessThan(100);
    expect(r.received).toEqual([{ type: WSMsgType.TEXT, data: 'after the reconnect' }]);
    expect(upgrades).toBe(2);
  });

  it('a server that stops answering heartbeats is found dead within interval + timeout', async () => {
    const r = await scenario('deadServer', { url: silent.url, interval: 200, timeout: 200 });
    expect(r.trace.errors).toContain('HeartbeatTimeoutError');
    expect(r.trace.closes[0]?.code).toBe(1006);
    expect(r.detectedAfter).toBeGreaterThanOrEqual(400 - 20);
    expect(r.detectedAfter).toBeLessThan(400 + 1000);
    expect(r.state).toBe('closed');
  });

  it('a quiet server that is not anyws: no stray text, the connection is never taken for dead', async () => {
    // It selects the offered token as ws does, never says hello, and records what it receives.
    const foreign = await rawServer(() => undefined, true);
    try {
      // Five heartbeat periods of silence, past interval + timeout.
      const r = await scenario('quietForeignServer', {
        url: foreign.url,
        interval: 100,
        timeout: 100,
        quiet: 500,
      });
      expect(r).toEqual({ state: 'connected', agreed: false, errors: [], closes: 0 });
      const deadline = Date.now() + 5000;
      while (foreign.frames.length === 0 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      // The marker is the first frame the server got: no heartbeat ping went before it.
      expect(foreign.frames.map((f) => [f.opcode, f.payload.toString()])).toEqual([[1, 'marker']]);
    } finally {
      await foreign.close();
    }
  });

  it('the send queue is bounded in messages and bytes; overflow and close reject, nothing is dropped', async () => {
    // Port 9 (discard) is closed here: every attempt is refused.
    const r = await scenario('queueBounds', { url: 'ws://127.0.0.1:9/nowhere' });
    expect(r.queued).toEqual({ messages: 3, bytes: 10 });
    expect(r.early).toEqual(['QueueFullError', 'QueueFullError', 'TypeError']);
    expect(r.late).toEqual([
      'ConnectionClosedError',
      'ConnectionClosedError',
      'ConnectionClosedError',
    ]);
    expect(r.afterClose).toEqual(['ConnectionClosedError']);
    expect(r.state).toBe('closed');
  });

  it('offline pauses the retries; online retries at once', async () => {
    const r = await scenario('offlineOnline', { url: url() });
    expect(r.stateWhileOffline).toBe('offline');
    expect(r.attemptsWhileOffline).toBe(0);
    expect(r.reconnectedAfter).toBeLessThan(1000);
    expect(r.trace.states).toContain('offline');
  });

  it('a tab that becomes visible checks the link at once', async () => {
    const r = await scenario('visibleAgain', { url: silent.url, checkTimeout: 300 });
    expect(r.trace.errors).toContain('HeartbeatTimeoutError');
    expect(r.detectedAfter).toBeGreaterThanOrEqual(300 - 20);
    expect(r.detectedAfter).toBeLessThan(300 + 1000);
  });

  it('push listeners hear messages across a reconnect; without listeners receive() gets them', async () => {
    const r = await scenario('pushAcrossReconnect', { url: url() });
    expect(r.heard).toEqual(['one', 'two']);
    expect(r.pulled).toBe('three');
  });

  it('gives up after maxRetries refused attempts: CLOSED for the reader, queued sends rejected', async () => {
    const r = await scenario('giveUp', { url: 'ws://127.0.0.1:9/nowhere', maxRetries: 2 });
    expect(r.trace.closes.map((c) => [c.code, c.retryIn === null])).toEqual([
      [1006, false],
      [1006, false],
      [1006, true],
    ]);
    expect(r.trace.errors).toEqual(['HandshakeError', 'HandshakeError', 'HandshakeError']);
    expect(r.settled).toBe('ConnectionClosedError');
    expect(r.read).toBe(WSMsgType.CLOSED);
  });

  it('a URL the browser refuses (SyntaxError) ends the client instead of retrying', async () => {
    const r = await scenario('badUrl', { url: 'ftp://127.0.0.1/not-a-websocket' });
    expect(r.trace.errors).toEqual(['SyntaxError']);
    expect(r.trace.closes).toEqual([]);
    expect(r.trace.states).toEqual(['connecting', 'closed']);
  });

  it('backpressure without a drain event: a send resolves once bufferedAmount is down', async () => {
    const r = await scenario('drain', {
      url: `ws://127.0.0.1:${String(port)}/contract/echo`,
      size: 3 * 1024 * 1024,
    });
    expect(r.bufferedAfterSend).toBe(0);
    expect(r.echoed).toBe(3 * 1024 * 1024);
  });

  it('a close code browsers may not send goes out without a body (the server sees 1005); closeCode stays 1001', async () => {
    const r = await scenario('unsendableClose', {
      base: `ws://127.0.0.1:${String(port)}/contract`,
    });
    expect(r.ready).toBe('ready');
    expect(r.serverSaw).toBe(1005);
    expect(r.closeCode).toBe(1001);
  });
});
