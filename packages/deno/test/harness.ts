/**
 * The contract suite's target on Deno: the contract routes served by @anyws/deno's `serve`,
 * the @anyws/deno client, and silent peers on raw TCP sockets (handshake done, then never a
 * read), so that close timeouts, heartbeats and backpressure meet a real unresponsive peer.
 */
import type { ContractCapabilities, ContractTarget } from '@anyws/core/contract';
import { contractRoute } from '@anyws/core/contract';
import { connect, DENO_CAPABILITIES, type RunningServer, serve } from '../src/index.ts';
import { acceptFor, type RawPeer, rawClient } from './raw.ts';

/** What the Deno runtime offers to the suite, from the transport's declared capabilities. */
export const capabilities: ContractCapabilities = {
  server: DENO_CAPABILITIES,
  client: DENO_CAPABILITIES,
  // Deno's client reports a refused upgrade's status in its error message; connect() reads it.
  handshakeStatus: true,
  silentServer: true,
  silentClient: true,
};

/**
 * A TCP server that completes every WebSocket handshake and then never reads nor answers:
 * its connections are kept open until `close()`.
 */
export class SilentServer {
  readonly #listener: Deno.Listener;
  readonly #conns = new Set<Deno.Conn>();
  readonly port: number;

  constructor() {
    this.#listener = Deno.listen({ hostname: '127.0.0.1', port: 0 });
    this.port = (this.#listener.addr as Deno.NetAddr).port;
    void this.#accept();
  }

  async #accept(): Promise<void> {
    try {
      for await (const conn of this.#listener) {
        this.#conns.add(conn);
        void this.#handshake(conn);
      }
    } catch {
      // The listener was closed.
    }
  }

  async #handshake(conn: Deno.Conn): Promise<void> {
    const buffer = new Uint8Array(8192);
    let head = '';
    const decoder = new TextDecoder();
    while (!head.includes('\r\n\r\n')) {
      const n = await conn.read(buffer).catch(() => null);
      if (n === null) return;
      head += decoder.decode(buffer.subarray(0, n));
    }
    const key = /^sec-websocket-key:\s*(\S+)/im.exec(head)?.[1] ?? '';
    const response = [
      'HTTP/1.1 101 Switching Protocols',
      'Upgrade: websocket',
      'Connection: Upgrade',
      `Sec-WebSocket-Accept: ${await acceptFor(key)}`,
    ];
    await conn.write(new TextEncoder().encode(`${response.join('\r\n')}\r\n\r\n`)).catch(() => 0);
    // From here on: silence, and no read.
  }

  close(): void {
    this.#listener.close();
    for (const conn of this.#conns) {
      try {
        conn.close();
      } catch {
        // Already closed.
      }
    }
    this.#conns.clear();
  }
}

/** The running pieces of a contract target. */
export interface ContractHarness {
  target: ContractTarget;
  server: RunningServer;
  silentServer: SilentServer;
  /** Stops everything the harness started. */
  stop(): Promise<void>;
}

/** Starts the contract routes on @anyws/deno's `serve` (one topic bus) and a silent server. */
export async function startContractHarness(): Promise<ContractHarness> {
  const server = await serve({
    hostname: '127.0.0.1',
    port: 0,
    handler: (request) => contractRoute(new URL(request.url).pathname),
  });
  const silentServer = new SilentServer();
  const silentClients = new Set<RawPeer>();
  const base = `ws://127.0.0.1:${String(server.port)}`;
  const target: ContractTarget = {
    baseUrl: base,
    connect: (url, options) => connect(url, options),
    silentServerUrl: `ws://127.0.0.1:${String(silentServer.port)}/silent`,
    async openSilentClient(url) {
      const parsed = new URL(url);
      const peer = await rawClient(Number(parsed.port), `${parsed.pathname}${parsed.search}`);
      silentClients.add(peer);
      return {
        close() {
          silentClients.delete(peer);
          peer.close();
        },
      };
    },
  };
  return {
    target,
    server,
    silentServer,
    async stop() {
      for (const peer of silentClients) peer.close();
      silentServer.close();
      await server.close();
    },
  };
}
