/**
 * anyws for Hono on `@hono/node-server` 2.x, whose `serve({ websocket: { server } })` upgrades
 * through a ws server in `noServer` mode. Create that server with {@link createWebSocketServer},
 * give `serve` this module's {@link createServer} (it answers non-WebSocket upgrades, which
 * would hang otherwise, and limits the handshake's time), and route with {@link upgradeWebSocket}:
 *
 * ```ts
 * app.get('/ws', upgradeWebSocket(handler));
 * serve({
 *   fetch: app.fetch,
 *   port: 3000,
 *   createServer,
 *   websocket: { server: createWebSocketServer() },
 * });
 * ```
 * @packageDocumentation
 */
import { type IncomingMessage, type RequestListener, Server, type ServerOptions } from 'node:http';
import type { Duplex } from 'node:stream';
import {
  acceptUpgrade,
  checkHandshake,
  DEFAULT_OPTIONS,
  LocalTopics,
  runHandler,
  type TopicBus,
  WebSocketConnection,
} from '@anyws/core';
import { upgradeWebSocket as nodeServerUpgrade } from '@hono/node-server';
import type { MiddlewareHandler } from 'hono';
import WebSocket, { WebSocketServer } from 'ws';
import { checkHttpVersion, handshakeFields, toWebSocketUrl, writeResponse } from './http.js';
import { DEFAULT_HANDSHAKE_TIMEOUT, type HandlerSource, handshakeTimeouts } from './server.js';
import {
  MAX_ENFORCEABLE_PAYLOAD,
  WS_CAPABILITIES,
  WsTransport,
  wsServerOptions,
} from './transport.js';

/** Options of {@link createWebSocketServer}. */
export interface HonoWebSocketServerOptions {
  /**
   * Largest message ws accepts, in bytes: it closes with 1009 before buffering a larger one.
   * Connections whose handler has the same `maxMessageSize` rely on it; others are checked by
   * core after ws buffered them. Default: core's default `maxMessageSize` (4 MiB).
   */
  maxPayload?: number;
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

/** The subprotocol chosen by the pipeline, per request, until ws answers. */
const chosen = new WeakMap<IncomingMessage, string | null>();
const setups = new WeakMap<WebSocketServer, Setup>();

/**
 * The ws server to pass as `serve({ websocket: { server } })` of `@hono/node-server`. It lets
 * the pipeline choose the subprotocol and core answer pings, and carries the topic bus.
 * permessage-deflate is negotiated for anyws routes whose handler sets `compress` (and for
 * plain Hono routes on this server, whenever the client offers it).
 */
export function createWebSocketServer(options: HonoWebSocketServerOptions = {}): WebSocketServer {
  const maxPayload = options.maxPayload ?? DEFAULT_OPTIONS.maxMessageSize;
  const autoPong = options.autoPong ?? false;
  const settings = wsServerOptions({
    autoPong,
    maxPayload,
    // Each anyws route decides per request (see upgradeWebSocket): ws only negotiates what
    // the request still offers.
    compress: true,
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

/** Options of {@link createServer}: Node's, plus the handshake limit. */
export interface HonoServerOptions extends ServerOptions {
  /**
   * The longest a client may take to send its whole opening handshake, in ms (as in
   * `serve()` of `@anyws/node`): Node's `headersTimeout`, `requestTimeout` and
   * `connectionsCheckingInterval` are set from it unless given. Default 10 s.
   */
  handshakeTimeout?: number;
}

/**
 * An HTTP server whose 'upgrade' event is emitted only for a valid WebSocket handshake: any
 * other (`Upgrade: h2c`, a POST, a bad key, …) is answered here with core's status (426, 405,
 * 400). `@hono/node-server`'s upgrade listener returns without answering a non-websocket
 * upgrade, and Node hands every request with an `Upgrade` header to 'upgrade' listeners, so
 * without this such a request would hang until the client gives up.
 */
class WebSocketOnlyServer extends Server {
  override emit(event: string | symbol, ...args: unknown[]): boolean {
    if (event === 'upgrade') {
      const [req, socket] = args as [IncomingMessage, Duplex];
      // @hono/node-server builds its Request as a GET whatever the method, and leaves other
      // upgrades unanswered: every bad handshake is answered here, with core's status.
      const refusal = checkHttpVersion(req) ?? checkHandshake(handshakeFields(req));
      if (refusal) {
        socket.on('error', ignore);
        void writeResponse(socket, refusal);
        return true;
      }
    }
    return emitOf(this, event, args);
  }
}

function ignore(): void {}

/** Node's own `emit`, untyped by event (Server's overloads name each event's arguments). */
const serverEmit = Server.prototype.emit as (
  this: Server,
  event: string | symbol,
  ...args: unknown[]
) => boolean;

function emitOf(server: Server, event: string | symbol, args: unknown[]): boolean {
  return serverEmit.call(server, event, ...args);
}

/**
 * The `createServer` to pass to `@hono/node-server`'s `serve()` beside the WebSocket server:
 * a request with another `Upgrade` than websocket is answered 426 (it would hang otherwise),
 * and a half-sent handshake is closed after `handshakeTimeout`.
 *
 * ```ts
 * serve({ fetch: app.fetch, port: 3000, createServer, websocket: { server: createWebSocketServer() } });
 * ```
 */
export function createServer(
  options: HonoServerOptions | RequestListener = {},
  listener?: RequestListener,
): Server {
  const settings = typeof options === 'function' ? {} : options;
  const handler = typeof options === 'function' ? options : listener;
  const { handshakeTimeout, ...node } = settings;
  const server = new WebSocketOnlyServer({
    ...handshakeTimeouts(handshakeTimeout ?? DEFAULT_HANDSHAKE_TIMEOUT),
    ...node,
  });
  if (handler) server.on('request', handler);
  return server;
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
  /**
   * The most connections this route holds open at once; past it an upgrade gets 503 and
   * `Retry-After` before upgrading. Default: no limit.
   */
  maxConnections?: number;
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
 * one per request; undefined answers 404). A request without `Upgrade: websocket` goes on to
 * the next handler, so one route can serve plain HTTP too. The decision is core's
 * `acceptUpgrade`; its refusal is the HTTP answer (status and headers: `@hono/node-server`
 * writes refusals without a body). Serve with {@link createServer} and
 * {@link createWebSocketServer}.
 */
export function upgradeWebSocket<C = unknown>(
  source: HandlerSource<C>,
  options: HonoUpgradeOptions = {},
): MiddlewareHandler {
  let open = 0;
  const closed = (): void => {
    open--;
  };
  return async (c, next) => {
    if (c.req.header('upgrade')?.toLowerCase() !== 'websocket') {
      await next();
      return;
    }
    const request = c.req.raw;
    const handler = typeof source === 'function' ? source(request) : source;
    if (!handler) return c.notFound();
    const env = (c.env ?? {}) as NodeEnv;
    const incoming = env.incoming;
    const setup = env.wss ? setups.get(env.wss) : undefined;
    if (!incoming || !setup) {
      return new Response(
        'anyws upgradeWebSocket needs @hono/node-server serve({ websocket: { server: createWebSocketServer() } })',
        { status: 500 },
      );
    }
    const invalid = checkHttpVersion(incoming);
    if (invalid) return invalid;
    // The Request @hono/node-server built says GET whatever the method: the pipeline checks the
    // IncomingMessage's own method and headers, and hands the hook the Request.
    const decision = await acceptUpgrade(handshakeFields(incoming), handler, {
      runtime: 'node',
      capabilities: WS_CAPABILITIES,
      connections: open,
      maxConnections: options.maxConnections,
      toRequest: () => request,
    });
    if (!decision.accept) return decision.response;
    const resolved = decision.options;
    // ws negotiates permessage-deflate from this header: without `compress` it must not.
    if (!resolved.compress) delete incoming.headers['sec-websocket-extensions'];
    chosen.set(incoming, decision.protocol);
    open++;
    let started = false;
    // Counted from now; a handshake that fails inside ws never opens, and its close gives the place up.
    const socket = incoming.socket;
    const giveUp = (): void => {
      if (!started) open--;
    };
    socket.once('close', giveUp);
    const response = await nodeServerUpgrade(c, {
      onOpen(_event, ctx) {
        const ws = ctx.raw;
        started = true;
        socket.off('close', giveUp);
        if (!(ws instanceof WebSocket)) {
          open--;
          return;
        }
        const transport = new WsTransport(ws, {
          url: toWebSocketUrl(request.url),
          coalesce: options.coalesce ?? true,
          maxPayload: setup.maxPayload,
          enforcesMaxMessageSize:
            setup.maxPayload === resolved.maxMessageSize &&
            resolved.maxMessageSize <= MAX_ENFORCEABLE_PAYLOAD,
          autoPong: setup.autoPong,
        });
        const conn = new WebSocketConnection<C>({
          transport,
          side: 'server',
          options: resolved,
          context: decision.context,
          topics: options.topics ?? setup.topics,
          onClosed: closed,
          request,
          appHeartbeat: decision.heartbeat,
        });
        void runHandler(conn, handler);
      },
    });
    // @hono/node-server copies these onto the 101 (all but the handshake's own headers).
    for (const [name, value] of Object.entries(decision.headers)) response.headers.set(name, value);
    return response;
  };
}
