import { clientProtocols } from '../connect.js';
import { WebSocketConnection } from '../connection.js';
import { HandshakeError } from '../errors.js';
import { runHandler } from '../handler.js';
import { APP_PING } from '../heartbeat.js';
import { assertSupported, type ConnectionOptions, resolveOptions } from '../options.js';
import { MemoryTransport } from '../testing.js';
import { LocalTopics } from '../topics.js';
import type { TransportCapabilities } from '../transport.js';
import { acceptUpgrade } from '../upgrade.js';
import { contractRoute } from './routes.js';
import type { ContractCapabilities, ContractTarget } from './suite.js';

const SILENT = '__silent';

/**
 * The contract suite's target over in-memory transports: core's own proof that the cases and
 * the semantics agree before any runtime is involved. `capabilities` pretends a runtime's, on
 * both sides unless `clientCapabilities` gives the client's (a browser against a server).
 */
export function memoryTarget(
  capabilities: Partial<TransportCapabilities> = {},
  clientCapabilities: Partial<TransportCapabilities> = capabilities,
): {
  target: ContractTarget;
  capabilities: ContractCapabilities;
} {
  const topics = new LocalTopics();
  const base = 'ws://memory';
  const serverCapabilities = new MemoryTransport('', '', capabilities).capabilities;
  const clientTransportCapabilities = new MemoryTransport('', '', clientCapabilities).capabilities;

  function link(url: string, protocol: string, clientOptions: ConnectionOptions | undefined) {
    const clientTransport = new MemoryTransport(url, protocol, clientCapabilities);
    const serverTransport = new MemoryTransport(url, protocol, capabilities);
    clientTransport.peer = serverTransport;
    serverTransport.peer = clientTransport;
    const client = new WebSocketConnection<unknown>({
      transport: clientTransport,
      side: 'client',
      options: clientOptions,
      // As an anyws client without ping frames: it offers the heartbeat token (see `dial`).
      appHeartbeat: !clientTransport.capabilities.pingFrames,
    });
    return { client, serverTransport, clientTransport };
  }

  async function connect(url: string, options?: ConnectionOptions) {
    return (await dial(url, options)).client;
  }

  async function dial(url: string, options?: ConnectionOptions, silent = false) {
    // As every anyws client does when it connects: an option its runtime cannot honour is refused.
    assertSupported(resolveOptions(options), clientTransportCapabilities, 'memory');
    const parsed = new URL(url);
    if (parsed.pathname === `/${SILENT}`) {
      const pair = link(url, '', options);
      // An anyws server that said its hello (to a client that offered the token) and then
      // stopped reading and answering.
      if (!clientTransportCapabilities.pingFrames) pair.serverTransport.sendText(APP_PING);
      pair.serverTransport.pause();
      return pair;
    }
    const handler = contractRoute(parsed.pathname);
    if (!handler) throw new HandshakeError(`no route at ${parsed.pathname}`, 404);
    const headers: Record<string, string> = {
      upgrade: 'websocket',
      connection: 'Upgrade',
      'sec-websocket-version': '13',
      'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
    };
    const offer = clientProtocols(options?.protocols ?? [], clientTransportCapabilities);
    if (offer.length) headers['sec-websocket-protocol'] = offer.join(', ');
    const request = new Request(url.replace(/^ws/, 'http'), { headers });
    const decision = await acceptUpgrade(request, handler, {
      runtime: 'memory',
      capabilities: serverCapabilities,
    });
    if (!decision.accept) {
      throw new HandshakeError(
        `server refused the upgrade with ${String(decision.response.status)}`,
        decision.response.status,
      );
    }
    const pair = link(url, decision.protocol ?? '', options);
    const serverTransport = pair.serverTransport;
    // A reader that never reads: its transport stops delivering, so nothing is answered.
    if (silent) pair.clientTransport.pause();
    const server = new WebSocketConnection<unknown>({
      transport: serverTransport,
      side: 'server',
      options: decision.options,
      context: decision.context,
      topics,
      request,
      appHeartbeat: decision.heartbeat,
    });
    void runHandler(server, handler);
    return pair;
  }

  const target: ContractTarget = {
    baseUrl: base,
    connect,
    silentServerUrl: `${base}/${SILENT}`,
    async openSilentClient(url) {
      const { client } = await dial(url, undefined, true);
      return { close: () => client.terminate() };
    },
  };
  return {
    target,
    capabilities: {
      server: serverCapabilities,
      client: new MemoryTransport('', '', clientCapabilities).capabilities,
      handshakeStatus: true,
      silentServer: true,
      silentServerAgreesHeartbeat: true,
      silentClient: true,
    },
  };
}
