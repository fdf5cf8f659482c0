/**
 * A flood on Deno (issue 12): one client sends 100,000 small messages as fast as it can. Deno's
 * WebSocket cannot stop reading (`pauseReading: false`), so the bound is core's: at most
 * `receiveHighWaterMark` bytes and `receiveMessageLimit(mark)` messages are held for a reader
 * that is behind, and past that the connection fails with 1008 (`ReceiveOverflowError`); the
 * server keeps serving the others. A reader that keeps up gets all 100,000.
 */
import {
  DEFAULT_OPTIONS,
  ReceiveOverflowError,
  type WebSocketConnection,
  type WebSocketHandler,
  WSMsgType,
} from '@anyws/core';
import { connect, serve } from '../src/index.ts';
import { assert, assertEquals, options } from './assert.ts';

const TOTAL = 100_000;
/** core's receiveMessageLimit for the default mark: one message per 64 bytes of 1 MiB. */
const LIMIT = Math.max(1024, Math.floor(DEFAULT_OPTIONS.receiveHighWaterMark / 64));

async function until(condition: () => boolean): Promise<boolean> {
  for (let i = 0; i < 2000 && !condition(); i++) await new Promise((r) => setTimeout(r, 5));
  return condition();
}

/** Sends TOTAL 16-byte messages without waiting for any of them. */
function flood(conn: WebSocketConnection<unknown>): void {
  const text = 'x'.repeat(16);
  for (let i = 0; i < TOTAL; i++) conn.sendText(text).catch(() => undefined);
}

Deno.test({
  ...options,
  name: 'flood at a reader that is behind: at most the limit is held, then 1008; others still served',
  async fn() {
    let openGate!: () => void;
    const gate = new Promise<void>((resolve) => {
      openGate = resolve;
    });
    let session: WebSocketConnection<unknown> | undefined;
    let queuedSeen = 0;
    let error: WSMsgType | null = null;
    const slow: WebSocketHandler = {
      async session(conn) {
        session = conn;
        await gate;
        // What was held for it: every message up to the ERROR that ended the flood.
        for (;;) {
          const message = await conn.receive({ timeout: 10_000 });
          if (message.type === WSMsgType.TEXT) queuedSeen++;
          else {
            error = message.type;
            break;
          }
        }
      },
    };
    const echo: WebSocketHandler = {
      async session(conn) {
        for await (const m of conn) if (m.type === WSMsgType.TEXT) await conn.sendText(m.data);
      },
    };
    const server = await serve({
      hostname: '127.0.0.1',
      port: 0,
      handler: (request: Request) => (new URL(request.url).pathname === '/echo' ? echo : slow),
    });
    const client = await connect(`${server.url}/slow`);
    try {
      assert(await until(() => session !== undefined), 'no session');
      flood(client);
      assert(await until(() => session!.state === 'closed'), 'the flood was not cut off');
      assertEquals(session!.closeCode, 1008, "the server connection's close code");
      assert(session!.exception() instanceof ReceiveOverflowError, 'a ReceiveOverflowError');
      // The flooding client hears of the end: 1008 in the server's close frame, or 1006 where
      // its runtime dropped the connection with the flood still going out.
      assert(await until(() => client.state === 'closed'), 'the client is still open');
      assert([1008, 1006].includes(client.closeCode ?? 0), `client ${String(client.closeCode)}`);
      openGate();
      assert(await until(() => error !== null), 'the session saw no ERROR');
      assertEquals(error, WSMsgType.ERROR, 'what ended the queue');
      assert(queuedSeen > 0 && queuedSeen <= LIMIT + 1, `held ${String(queuedSeen)} messages`);
      // The server still serves the others.
      const other = await connect(`${server.url}/echo`);
      await other.sendText('still serving');
      assertEquals(await other.receiveText({ timeout: 5000 }), 'still serving', 'the echo');
      await other.close();
    } finally {
      client.terminate();
      await server.close();
    }
  },
});

Deno.test({
  ...options,
  name: 'flood at a reader that keeps up: all 100,000 arrive, nothing is cut off',
  async fn() {
    let read = 0;
    const reader: WebSocketHandler = {
      async session(conn) {
        for await (const m of conn) {
          if (m.type === WSMsgType.TEXT) read++;
          if (read === TOTAL) await conn.sendText('done');
        }
      },
    };
    const server = await serve({ hostname: '127.0.0.1', port: 0, handler: reader });
    const client = await connect(server.url);
    try {
      flood(client);
      assertEquals(await client.receiveText({ timeout: 60_000 }), 'done', 'all read');
      assertEquals(read, TOTAL, 'messages read');
      assertEquals(client.state, 'open', 'the client');
      await client.close();
    } finally {
      client.terminate();
      await server.close();
    }
  },
});
