/**
 * The contract suite's target on Deno: the contract routes served by @anyws/deno's `serve`,
 * the @anyws/deno client, and silent peers on raw TCP sockets (handshake done, then never a
 * read), so that close timeouts, heartbeats and backpressure meet a real unresponsive peer.
 */
import { HEARTBEAT_PROTOCOL } from '@anyws/core';
import type { ContractCapabilities, ContractTarget } from '@anyws/core/contract';
import { contractRoute } from '@anyws/core/contract';
import {
  connect,
  DENO_CLIENT_CAPABILITIES,
  DENO_SERVER_CAPABILITIES,
  type RunningServer,
  serve,
} from '../src/index.ts';
import { type RawPeer, RawServer, rawClient, rawHandshakeHead } from './raw.ts';

/** What the Deno runtime offers to the suite, from the transport's declared capabilities. */
export const capabilities: ContractCapabilities = {
  server: DENO_SERVER_CAPABILITIES,
  client: DENO_CLIENT_CAPABILITIES,
  // Deno's client reports a refused upgrade's status in its error message; connect() reads it.
  handshakeStatus: true,
  silentServer: true,
  silentClient: true,
  // It offers the heartbeat token, as Deno's own client does: the server's heartbeat runs.
  silentClientOffersHeartbeat: true,
  rawHandshake: true,
};

/** The running pieces of a contract target. */
export interface ContractHarness {
  target: ContractTarget;
  server: RunningServer;
  /** Completes handshakes, then never reads nor answers. */
  silentServer: RawServer;
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
  const silentServer = new RawServer();
  const silentClients = new Set<RawPeer>();
  const base = `ws://127.0.0.1:${String(server.port)}`;
  const target: ContractTarget = {
    baseUrl: base,
    connect: (url, options) => connect(url, options),
    silentServerUrl: `ws://127.0.0.1:${String(silentServer.port)}/silent`,
    handshake: rawHandshakeHead,
    async openSilentClient(url) {
      const parsed = new URL(url);
      const peer = await rawClient(Number(parsed.port), `${parsed.pathname}${parsed.search}`, [
        `Sec-WebSocket-Protocol: ${HEARTBEAT_PROTOCOL}`,
      ]);
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
