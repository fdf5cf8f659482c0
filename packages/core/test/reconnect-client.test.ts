/**
 * Core's `ReconnectingClient` over in-memory connections (`createPair`): what it decides by
 * itself, whatever the runtime, and what it takes from a runtime (`connect`, `watch`,
 * `writable`). The runtimes' own tests run it on real sockets (node, deno, workers, Chromium).
 */
import { describe, expect, it } from 'vitest';
import type { WebSocketConnection } from '../src/connection.js';
import { until as waitUntil } from '../src/contract/wait.js';
import { HandshakeError } from '../src/errors.js';
import type { ConnectionOptions } from '../src/options.js';
import {
  type LinkSignals,
  ReconnectingClient,
  type ReconnectingRuntime,
} from '../src/reconnect/client.js';
import { createPair } from '../src/testing.js';

/** The contract's `until`, polled every 2 ms, bounded by 5 s. */
const until = (predicate: () => boolean, what: string, ms = 5000): Promise<void> =>
  waitUntil(predicate, what, ms, 2);

/**
 * A "server" of in-memory pairs: `refuse` failed attempts first (HandshakeError, as a refused
 * upgrade), then each attempt opens a pair whose server end echoes text.
 */
function memoryServer(refuse = 0) {
  const servers: WebSocketConnection<unknown>[] = [];
  let attempts = 0;
  const connect = (): Promise<WebSocketConnection> => {
    attempts++;
    if (attempts <= refuse) return Promise.reject(new HandshakeError('refused', 503));
    const { client, server } = createPair({ client: { heartbeat: null } });
    server.on('message', (message) => {
      if (typeof message.data === 'string') server.sendText(message.data).catch(() => undefined);
    });
    servers.push(server);
    return Promise.resolve(client);
  };
  return {
    connect,
    servers,
    get attempts() {
      return attempts;
    },
  };
}

const fast = { reconnect: { minDelay: 5, maxDelay: 20 }, heartbeat: null };

describe('ReconnectingClient (core)', () => {
  it('refuses a policy it cannot follow, before any attempt', () => {
    const server = memoryServer();
    for (const reconnect of [
      { minDelay: -1 },
      { factor: 0.5 },
      { restartDelay: { min: 10, max: 5 } },
      { maxDelay: Number.NaN },
    ]) {
      expect(() => new ReconnectingClient('ws://memory/', { reconnect }, server)).toThrow(
        RangeError,
      );
    }
    expect(server.attempts).toBe(0);
  });

  it('retries refused attempts, then hands what was queued to the connection in order', async () => {
    const server = memoryServer(3);
    const client = new ReconnectingClient('ws://memory/', fast, server);
    const sends = ['a', 'b', 'c'].map((text) => client.sendText(text));
    expect(client.queued.messages).toBe(3);
    await Promise.all(sends);
    expect(server.attempts).toBe(4);
    expect([
      await client.receiveText(),
      await client.receiveText(),
      await client.receiveText(),
    ]).toEqual(['a', 'b', 'c']);
    await client.close();
    expect(client.state).toBe('closed');
  });

  it('an attempt that fails with anything but a HandshakeError ends the client', async () => {
    const client = new ReconnectingClient('ws://memory/', fast, {
      connect: () => Promise.reject(new SyntaxError('not a URL')),
    });
    const errors: string[] = [];
    client.on('error', (error) => errors.push(error.name));
    await until(() => client.state === 'closed', 'closed');
    expect(errors).toEqual(['SyntaxError']);
  });

  it("follows the runtime's signals: offline holds the retries, online retries at once; it stops watching when it ends", async () => {
    const server = memoryServer();
    let link: LinkSignals | undefined;
    let watching = false;
    const runtime: ReconnectingRuntime<ConnectionOptions> = {
      connect: server.connect,
      watch(signals) {
        link = signals;
        watching = true;
        return () => {
          watching = false;
        };
      },
    };
    // A backoff far longer than the test: only `online` brings the client back in time.
    const client = new ReconnectingClient(
      'ws://memory/',
      { reconnect: { minDelay: 60_000, maxDelay: 60_000 }, heartbeat: null },
      runtime,
    );
    await until(() => client.state === 'connected', 'connected');
    expect(watching).toBe(true);
    server.servers[0]?.terminate();
    await until(() => client.state === 'reconnecting', 'reconnecting');
    link?.offline();
    expect(client.state).toBe('offline');
    const attempts = server.attempts;
    link?.online();
    await until(() => client.state === 'connected', 'connected again');
    expect(server.attempts).toBe(attempts + 1);
    await client.close();
    expect(watching).toBe(false);
  });

  it('holds sends while the runtime says the open connection cannot take them', async () => {
    const server = memoryServer();
    let writable = true;
    const client = new ReconnectingClient('ws://memory/', fast, {
      connect: server.connect,
      writable: () => writable,
    });
    await client.sendText('now');
    expect(await client.receiveText()).toBe('now');
    writable = false;
    const held = client.sendText('held');
    expect(client.queued.messages).toBe(1);
    // The next connection takes it.
    server.servers[0]?.terminate();
    writable = true;
    await held;
    expect(await client.receiveText()).toBe('held');
    expect(server.attempts).toBe(2);
    await client.close();
  });
});
