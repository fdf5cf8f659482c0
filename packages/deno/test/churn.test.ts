/**
 * The short churn of issue 12 on Deno (the long one is `node bench/soak.mjs`): 1,000 connect /
 * exchange / close cycles against `serve()` beside idle connections. Afterwards the server's
 * set holds the idle connections only and the timers are those of before (Deno 2 has no
 * `Deno.resources()`: node:process lists timers); Deno's own op and resource sanitizers are on,
 * so a socket, listener or timer still held once the server is closed fails the test.
 * Counts only, no timing.
 */
import process from 'node:process';
import { type WebSocketConnection, type WebSocketHandler, WSMsgType } from '@anyws/core';
import { settle } from '@anyws/core/contract';
import { connect, serve } from '../src/index.ts';
import { assert, assertEquals } from './assert.ts';

const CYCLES = 1_000;
const IDLE = 50;
const CONCURRENCY = 20;

const echo: WebSocketHandler = {
  async session(conn) {
    for await (const message of conn) {
      if (message.type === WSMsgType.TEXT || message.type === WSMsgType.BINARY) {
        await conn.send(message.data);
      }
    }
  },
};

function timers(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const kind of process.getActiveResourcesInfo()) counts[kind] = (counts[kind] ?? 0) + 1;
  return counts;
}

async function churn(url: string, count: number): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const text = `cycle ${String(next++)}`;
      const conn = await connect(url);
      await conn.sendText(text);
      assertEquals(await conn.receiveText({ timeout: 5000 }), text, 'the echo');
      await conn.close(1000);
      assertEquals(conn.closeCode, 1000, 'the close code');
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
}

Deno.test({
  name: `churn: ${String(CYCLES)} cycles beside ${String(IDLE)} idle connections leave no timer, socket or op`,
  // Sanitizers on: everything this test opened must be gone when it ends.
  sanitizeOps: true,
  sanitizeResources: true,
  async fn() {
    const server = await serve({ hostname: '127.0.0.1', port: 0, handler: echo });
    const idle: WebSocketConnection<unknown>[] = [];
    try {
      for (let i = 0; i < IDLE; i++) idle.push(await connect(server.url));
      await churn(server.url, 50);
      assertEquals(await settle(() => server.connections.size, IDLE), IDLE, 'idle connections');
      const baseline = { connections: server.connections.size, timers: timers() };

      await churn(server.url, CYCLES);

      const after = await settle(
        () => ({ connections: server.connections.size, timers: timers() }),
        baseline,
      );
      assertEquals(JSON.stringify(after), JSON.stringify(baseline), 'connections and timers');
      for (const conn of idle) assert(conn.state === 'open', 'an idle connection was closed');
      await Promise.all(idle.map((conn) => conn.close(1000)));
      assertEquals(await settle(() => server.connections.size, 0), 0, 'connections at the end');
    } finally {
      for (const conn of idle) conn.terminate();
      await server.close();
    }
  },
});
