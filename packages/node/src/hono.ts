/**
 * anyws for Hono on `@hono/node-server` 2.x, whose `serve({ websocket: { server } })` upgrades
 * through a ws server in `noServer` mode. Create that server with {@link createWebSocketServer}
 * and route with {@link upgradeWebSocket}:
 *
 * ```ts
 * app.get('/ws', upgradeWebSocket(handler));
 * serve({ fetch: app.fetch, port: 3000, websocket: { server: createWebSocketServer() } });
 * ```
 * @packageDocumentation
 */
import type { IncomingMessage } from 'node:http';
import {
  checkHandshake,
  DEFAULT_OPTIONS,
  decideUpgrade,
  LocalTopics,
  resolveOptions,
  runHandler,
  type TopicBus,
  WebSocketConnection,
} from '@anyws/core';
import { upgradeWebSocket as nodeServerUpgrade } from '@hono/node-server';
import type { MiddlewareHandler } from 'hono';
import WebSocket, { WebSocketServer } from 'ws';
import { checkHttpVersion, toWebSocketUrl } from './http.js';
import type { HandlerSource } from './server.js';
import { MAX_ENFORCEABLE_PAYLOAD, WsTransport, wsServerOptions } from './transport.js';

/** Options of {@link createWebSocketServer}. */
export interface HonoWebSocketServerOptions {
  /**
   * Largest message ws accepts, in bytes: it closes with 1009 before buffering a larger one.
   * Connections whose handler has the same `maxMessageSize` rely on it; others are checked by
   * core after ws buffered them. Default: core's default `maxMessageSize` (4 MiB).
   */
  maxPayload?: number;
  /**
   * Offer permessage-deflate to clients that ask, without server context takeover (so that a
   * publish is compressed once for all subscribers), every message compressed unless a send
   * says `compress: false`. Default false.
   */
  perMessageDeflate?: boolean;
  /**
   * Let ws answer pings itself, for plain Hono WebSocket routes on the same server. Then anyws
   * connections cannot hold pongs back (`autoping: false`). Default false: core answers.
   */
  autoPong?: boolean;
  /** The topic bus of the connections upgraded through this server. Default: a new one. */
  topics?: TopicBus;
}

interface Setup {
  maxPayload: number;
  autoPong: boolean;
  topics: TopicBus;
}

/** The subprotocol chosen by the `upgrade` hook, per request, until ws answers. */
const chosen = new WeakMap<IncomingMessage, string | null>();
const setups = new WeakMap<WebSocketServer, Setup>();

/**
 * The ws server to pass as `serve({ websocket: { server } })` of `@hono/node-server`. It lets
 * the `upgrade` hook choose the subprotocol and core answer pings, and carries the topic bus.
 */
export function createWebSocketServer(options: HonoWebSocketServerOptions = {}): WebSocketServer {
  const maxPayload = options.maxPayload ?? DEFAULT_OPTIONS.maxMessageSize;
  const autoPong = options.autoPong ?? false;
  const settings = wsServerOptions({
    autoPong,
    maxPayload,
    compress: options.perMessageDeflate ?? false,
    // Core's closeTimeout terminates first; ws's own timer (one per server, so fixed) is a
    // backstop that cuts a closing handshake off after 60 s whatever a handler's closeTimeout.
    closeTimeout: 60_000,
    handleProtocols: (offered, req) => {
      // A plain Hono route on this server gets ws's default: the first protocol offered.
      if (!chosen.has(req)) return offered.values().next().value ?? false;
      return chosen.get(req) ?? false;
    },
  });
  const wss = new WebSocketServer(settings);
  setups.set(wss, { maxPayload, autoPong, topics: options.topics ?? new LocalTopics() });
  return wss;
}

/** The topic bus of a server made by {@link createWebSocketServer}, e.g. to publish from HTTP routes. */
export function topicsOf(wss: WebSocketServer): TopicBus {
  const setup = setups.get(wss);
  if (!setup) throw new TypeError('this ws server was not made by createWebSocketServer()');
  return setup.topics;
}

/** Options of {@link upgradeWebSocket}. */
export interface HonoUpgradeOptions {
  /** Topic bus of these connections. Default: the ws server's. */
  topics?: TopicBus;
  /** One write per socket per tick (see `WsTransportOptions.coalesce`). Default true. */
  coalesce?: boolean;
}

/** What `@hono/node-server` puts in `c.env` during an upgrade. */
interface NodeEnv {
  incoming?: IncomingMessage;
  wss?: WebSocketServer;
}

/**
 * A Hono middleware serving WebSocket upgrades with an anyws handler (or a function choosing
 * one per request). A request without `Upgrade: websocket` goes on to the next handler, so one
 * route can serve plain HTTP too. The `upgrade` hook runs before the upgrade; its refusal is
 * the HTTP answer (status and headers; `@hono/node-server` writes refusals without a body).
 */
export function upgradeWebSocket<C = unknown>(
  source: HandlerSource<C>,
  options: HonoUpgradeOptions = {},
): MiddlewareHandler {
  return async (c, next) => {
    if (c.req.header('upgrade')?.toLowerCase() !== 'websocket') {
      await next();
      return;
    }
    const request = c.req.raw;
    const handler = typeof source === 'function' ? source(request) : source;
    if (!handler) return c.notFound();
    const env = (c.env ?? {}) as NodeEnv;
    const refusal = (env.incoming && checkHttpVersion(env.incoming)) || checkHandshake(request);
    if (refusal) return refusal;
    const setup = env.wss ? setups.get(env.wss) : undefined;
    if (!env.incoming || !setup) {
      return new Response(
        'anyws upgradeWebSocket needs @hono/node-server serve({ websocket: { server: createWebSocketServer() } })',
        { status: 500 },
      );
    }
    const decision = await decideUpgrade(handler, request);
    if (!decision.accept) return decision.response;
    let maxMessageSize: number;
    try {
      maxMessageSize = resolveOptions(handler.options).maxMessageSize;
    } catch (error) {
      return new Response(`bad handler options: ${String(error)}`, { status: 500 });
    }
    chosen.set(env.incoming, decision.protocol);
    const response = await nodeServerUpgrade(c, {
      onOpen(_event, ctx) {
        const ws = ctx.raw;
        if (!(ws instanceof WebSocket)) return;
        const transport = new WsTransport(ws, {
          url: toWebSocketUrl(request.url),
          coalesce: options.coalesce ?? true,
          maxPayload: setup.maxPayload,
          enforcesMaxMessageSize:
            setup.maxPayload === maxMessageSize && maxMessageSize <= MAX_ENFORCEABLE_PAYLOAD,
          autoPong: setup.autoPong,
        });
        const conn = new WebSocketConnection<C>({
          transport,
          side: 'server',
          options: handler.options,
          context: decision.context,
          topics: options.topics ?? setup.topics,
        });
        void runHandler(conn, handler, request);
      },
    });
    // @hono/node-server copies these onto the 101 (all but the handshake's own headers).
    for (const [name, value] of Object.entries(decision.headers)) response.headers.set(name, value);
    return response;
  };
}
