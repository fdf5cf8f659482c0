// The short churn of issue 12 (the long one is `node bench/soak.mjs`): 1,000 connect /
// exchange / close cycles against `serve()` beside idle connections, then the process must
// hold what it held before: the same handles and timers by kind, the same listeners on the
// HTTP server and on `process`, no connection left in the server's set. Counts only, no timing.
import type { Server } from 'node:http';
import { type WebSocketConnection, type WebSocketHandler, WSMsgType } from '@anyws/core';
import { settle } from '@anyws/core/contract';
import { describe, expect, it } from 'vitest';
import { connect, serve } from '../src/index.js';

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

/** Active handles and timers of this process, by kind. */
function resources(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const kind of process.getActiveResourcesInfo()) counts[kind] = (counts[kind] ?? 0) + 1;
  return counts;
}

/** Listener counts by event on `emitter`. */
function listeners(emitter: Server | NodeJS.Process): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const name of emitter.eventNames()) counts[String(name)] = emitter.listenerCount(name);
  return counts;
}

function snapshot(server: Awaited<ReturnType<typeof serve>>) {
  return {
    connections: server.connections.size,
    resources: resources(),
    server: listeners(server.server),
    process: listeners(process),
  };
}

async function cycle(url: string, i: number): Promise<void> {
  const conn = await connect(url);
  const text = `cycle ${String(i)}`;
  await conn.sendText(text);
  expect(await conn.receiveText({ timeout: 5000 })).toBe(text);
  await conn.close(1000);
  expect(conn.closeCode).toBe(1000);
}

async function churn(url: string, count: number): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) await cycle(url, next++);
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
}

describe('churn', () => {
  it(`${String(CYCLES)} cycles beside ${String(IDLE)} idle connections leave no handle, timer or listener`, async () => {
    const server = await serve({ hostname: '127.0.0.1', port: 0, handler: echo });
    const idle: WebSocketConnection<unknown>[] = [];
    try {
      for (let i = 0; i < IDLE; i++) idle.push(await connect(server.url));
      // A warm-up: whatever is made once per process (pools, caches) exists before the baseline.
      await churn(server.url, 50);
      await settle(() => server.connections.size, IDLE);
      const baseline = snapshot(server);
      expect(baseline.connections).toBe(IDLE);

      await churn(server.url, CYCLES);

      const after = await settle(() => snapshot(server), baseline);
      expect(after).toEqual(baseline);
      // The idle ones were untouched by the churn.
      for (const conn of idle) expect(conn.state).toBe('open');
      await Promise.all(idle.map((conn) => conn.close(1000)));
      expect(await settle(() => server.connections.size, 0)).toBe(0);
    } finally {
      for (const conn of idle) conn.terminate();
      await server.close();
    }
  }, 120_000);
});
