/** The plain Worker: `upgrade(request, handler)` through a `WebSocketPair`. */
import {
  acceptUpgrade,
  LocalTopics,
  runHandler,
  type TopicBus,
  toWebSocketUrl,
  WebSocketConnection,
  type WebSocketHandler,
} from '@anyws/core';
import { AcceptedSocketTransport, WORKERD_CAPABILITIES } from './transport.js';

/** What keeps a request alive after its response: the Worker's `ctx`, or Hono's `c.executionCtx`. */
export interface WaitUntil {
  waitUntil(promise: Promise<unknown>): void;
}

/** Options of {@link upgrade}. */
export interface UpgradeOptions {
  /**
   * Where `subscribe`/`publish` go. Default: one bus for every connection of this isolate.
   * A deployed Worker runs many isolates, so a publish reaches only the connections that
   * landed in the same one: use a `WebSocketRoom` for a real room.
   */
  topics?: TopicBus;
  /** Given, the handler's promise is passed to `waitUntil`, so its last steps run after the close. */
  ctx?: WaitUntil;
}

const isolateTopics = new LocalTopics();

/** The URL a server connection reports (`conn.url`): the request's, with the WebSocket scheme (core's rule). */
export { toWebSocketUrl };

/** The 101 response that hands `client` to the runtime. */
export function switchingProtocols(
  client: WebSocket,
  protocol: string | null,
  headers: Record<string, string>,
): Response {
  const responseHeaders = new Headers(headers);
  if (protocol) responseHeaders.set('sec-websocket-protocol', protocol);
  return new Response(null, { status: 101, webSocket: client, headers: responseHeaders });
}

/**
 * Serves a WebSocket upgrade in a plain Worker (no Durable Object, no hibernation; the
 * pull API works). The decision is core's `acceptUpgrade` (handshake checks, which workerd
 * does not make; options; origins; `upgrade` hook; subprotocol); it answers 101, or the
 * refusal. There is no `maxConnections` here: a deployed Worker runs in many isolates, so a
 * count in one means nothing; a `WebSocketRoom` has one.
 *
 * ```ts
 * export default {
 *   fetch: (request) => upgrade(request, { message: (conn, msg) => conn.send(msg.data) }),
 * };
 * ```
 */
export async function upgrade<C = unknown>(
  request: Request,
  handler: WebSocketHandler<C>,
  options: UpgradeOptions = {},
): Promise<Response> {
  const decision = await acceptUpgrade(request, handler, {
    runtime: 'workers',
    capabilities: WORKERD_CAPABILITIES,
  });
  if (!decision.accept) return decision.response;
  const pair = new WebSocketPair();
  const transport = new AcceptedSocketTransport(
    pair[1],
    toWebSocketUrl(request.url),
    decision.protocol ?? '',
  );
  const conn = new WebSocketConnection<C>({
    transport,
    side: 'server',
    options: decision.options,
    context: decision.context,
    topics: options.topics ?? isolateTopics,
    request,
    appHeartbeat: decision.heartbeat,
  });
  const running = runHandler(conn, handler);
  options.ctx?.waitUntil(running);
  return switchingProtocols(pair[0], decision.protocol, decision.headers);
}
