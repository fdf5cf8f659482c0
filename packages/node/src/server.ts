/**
 * The server side: `attach` to any Node HTTP(S) server, or `serve` a standalone one. The
 * upgrade decision is core's `acceptUpgrade` (handshake, options, origins, connection limit,
 * `upgrade` hook, subprotocol); this module answers its refusal as plain HTTP, or lets ws
 * complete the handshake and hands the socket to core.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import {
  acceptUpgrade,
  LocalTopics,
  type ResolvedOptions,
  runHandler,
  type TopicBus,
  type UpgradeAccepted,
  type UpgradeContext,
  WebSocketConnection,
  type WebSocketHandler,
  WSCloseCode,
} from '@anyws/core';
import { type WebSocket, WebSocketServer } from 'ws';
import {
  checkHttpVersion,
  checkRequestUrl,
  handshakeFields,
  UpgradeHead,
  writeResponse,
} from './http.js';
import {
  MAX_ENFORCEABLE_PAYLOAD,
  WS_CAPABILITIES,
  WsTransport,
  wsServerOptions,
} from './transport.js';

/** A handler, or a function that picks one per request (undefined: 404). */
export type HandlerSource<C = unknown> =
  | WebSocketHandler<C>
  | ((request: Request) => WebSocketHandler<C> | undefined);

/** Options of {@link attach}. */
export interface AttachOptions<C = unknown> {
  /** Serve upgrades at this pathname only (exact match, query ignored). Default: every path. */
  path?: string;
  /** The handler of these connections. */
  handler: HandlerSource<C>;
  /** Topic bus of these connections. Default: the one bus of this HTTP server. */
  topics?: TopicBus;
  /** One write per socket per tick (see `WsTransportOptions.coalesce`). Default true. */
  coalesce?: boolean;
  /**
   * The most WebSocket connections this HTTP server holds open at once (every attachment's
   * connections and the upgrades under way count). Past it an upgrade to this path is refused
   * with 503 and `Retry-After` before upgrading. Default: no limit.
   */
  maxConnections?: number;
}

/** What {@link attach} returns. */
export interface Attachment {
  /** The topic bus the attached connections publish on. */
  readonly topics: TopicBus;
  /** The open connections of this HTTP server (all attachments). */
  readonly connections: ReadonlySet<WebSocketConnection<unknown>>;
  /** Stops serving this path; open connections stay open. */
  detach(): void;
}

type AnyHandler = WebSocketHandler<unknown>;

interface Route {
  path: string | undefined;
  handler: HandlerSource<unknown>;
  topics: TopicBus;
  coalesce: boolean;
  maxConnections: number | undefined;
}

/** A ws server (in `noServer` mode) set up from one handler's options. */
interface Endpoint {
  wss: WebSocketServer;
  options: ResolvedOptions;
  maxPayload: number;
}

/** The accepted decision of each request while ws completes its handshake. */
const decisions = new WeakMap<IncomingMessage, UpgradeAccepted<unknown>>();
const endpoints = new WeakMap<AnyHandler, Endpoint>();
const upgraders = new WeakMap<Server | HttpsServer, Upgrader>();

function ignore(): void {}

/** The ws server of a handler, made on its first accepted upgrade from the checked options. */
function endpointFor(handler: AnyHandler, options: ResolvedOptions): Endpoint {
  let endpoint = endpoints.get(handler);
  if (endpoint) return endpoint;
  // ws reads maxPayload as a 32-bit integer; past that core checks the size instead.
  const maxPayload = options.maxMessageSize <= MAX_ENFORCEABLE_PAYLOAD ? options.maxMessageSize : 0;
  const settings = wsServerOptions({
    autoPong: false,
    maxPayload,
    compress: options.compress,
    // Core's closeTimeout terminates first; ws's own timer is only a backstop.
    closeTimeout: options.closeTimeout + 1000,
    handleProtocols: (_offered, req) => decisions.get(req)?.protocol ?? false,
  });
  const wss = new WebSocketServer(settings);
  wss.on('headers', (headers: string[], req: IncomingMessage) => {
    const extra = decisions.get(req)?.headers;
    if (extra) for (const [name, value] of Object.entries(extra)) headers.push(`${name}: ${value}`);
  });
  endpoint = { wss, options, maxPayload };
  endpoints.set(handler, endpoint);
  return endpoint;
}

function pathnameOf(url: string | undefined): string {
  if (!url) return '/';
  const query = url.indexOf('?');
  return query === -1 ? url : url.slice(0, query);
}

/** The 'upgrade' listener of one HTTP server: routes, its topic bus and its connections. */
class Upgrader {
  readonly routes: Route[] = [];
  readonly topics: TopicBus = new LocalTopics();
  readonly connections = new Set<WebSocketConnection<unknown>>();
  /** Every connection's `onClosed`: one function, not a `whenClosed.then` closure each. */
  readonly #untrack = (conn: WebSocketConnection<unknown>): void => {
    this.connections.delete(conn);
  };

  constructor(readonly server: Server | HttpsServer) {}

  readonly listener = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    // Node removes its own error listener before 'upgrade': without one, a reset crashes.
    socket.on('error', ignore);
    this.#handle(req, socket, head).catch(() => {
      socket.destroy();
    });
  };

  #match(pathname: string): Route | undefined {
    let fallback: Route | undefined;
    for (const route of this.routes) {
      if (route.path === pathname) return route;
      if (route.path === undefined) fallback ??= route;
    }
    return fallback;
  }

  async #handle(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const route = this.#match(pathnameOf(req.url));
    if (!route) {
      // Another 'upgrade' listener of this server may own the path.
      if (this.server.listenerCount('upgrade') === 1) await writeResponse(socket, notFound());
      return;
    }
    // A web Request only for code that reads one (a handler function, the upgrade hook,
    // `conn.request`): building it is most of what a handshake costs here.
    const upgradeHead = new UpgradeHead(req);
    let handler: AnyHandler | undefined;
    try {
      // Checked now, as building the Request would check it: a URL that one refuses is a 400.
      checkRequestUrl(req);
      const source = route.handler;
      handler = typeof source === 'function' ? source(upgradeHead.request()) : source;
    } catch {
      return writeResponse(socket, new Response('bad request', { status: 400 }));
    }
    if (!handler) return writeResponse(socket, notFound());
    const version = checkHttpVersion(req);
    if (version) return writeResponse(socket, version);
    const ctx: UpgradeContext = {
      runtime: 'node',
      capabilities: WS_CAPABILITIES,
      connections: this.connections.size + this.#opening,
      maxConnections: route.maxConnections,
      toRequest: () => upgradeHead.request(),
    };
    const decision = await acceptUpgrade(upgradeHead.built ?? handshakeFields(req), handler, ctx);
    if (!decision.accept) return writeResponse(socket, decision.response);
    const endpoint = endpointFor(handler, decision.options);
    if (socket.destroyed || !socket.writable) {
      socket.destroy();
      return;
    }
    // ws asks for the decision only to answer with a subprotocol or extra headers.
    const remembered = decision.protocol !== null || hasKeys(decision.headers);
    if (remembered) decisions.set(req, decision);
    this.#opening++;
    let opened = false;
    // Until ws calls back, the upgrade counts against maxConnections; a socket that fails
    // the handshake inside ws never calls back, and its close gives the place up.
    const giveUp = (): void => {
      if (!opened) this.#opening--;
    };
    socket.once('close', giveUp);
    const handlerOf = handler;
    endpoint.wss.handleUpgrade(req, socket, head, (ws) => {
      opened = true;
      this.#opening--;
      socket.removeListener('close', giveUp);
      if (remembered) decisions.delete(req);
      // ws listens for socket errors now: without ours, the socket keeps one listener, not a
      // list of two, for the connection's life.
      socket.removeListener('error', ignore);
      this.#open(ws, upgradeHead, route, endpoint, handlerOf, decision);
    });
  }

  /** Upgrades accepted by core that ws has not completed yet. */
  #opening = 0;

  /**
   * Starts the connection. A method of its own so that nothing living as long as the
   * connection keeps `#handle`'s scope, and with it the `IncomingMessage`, alive: the
   * connection keeps only what builds its `Request` and URL on first read.
   */
  #open(
    ws: WebSocket,
    head: UpgradeHead,
    route: Route,
    endpoint: Endpoint,
    handler: AnyHandler,
    decision: UpgradeAccepted<unknown>,
  ): void {
    const transport = new WsTransport(ws, {
      url: head,
      coalesce: route.coalesce,
      maxPayload: endpoint.maxPayload,
    });
    const conn = new WebSocketConnection<unknown>({
      transport,
      side: 'server',
      options: decision.options,
      context: decision.context,
      topics: route.topics,
      onClosed: this.#untrack,
      request: head.built ?? head,
      appHeartbeat: decision.heartbeat,
    });
    if (!conn.closed) this.connections.add(conn);
    // It never rejects; its promise is not awaited (and costs nothing more) here.
    void runHandler(conn, handler);
  }
}

function hasKeys(record: Record<string, string>): boolean {
  for (const _ in record) return true;
  return false;
}

function notFound(): Response {
  return new Response('not found', { status: 404 });
}

/**
 * Serves WebSocket upgrades on an existing Node HTTP or HTTPS server. Every attachment to one
 * server shares its topic bus and its list of connections; an upgrade to a path nobody
 * serves gets 404 (unless the server has other 'upgrade' listeners).
 */
export function attach<C = unknown>(
  server: Server | HttpsServer,
  options: AttachOptions<C>,
): Attachment {
  let upgrader = upgraders.get(server);
  if (!upgrader) {
    upgrader = new Upgrader(server);
    upgraders.set(server, upgrader);
    server.on('upgrade', upgrader.listener);
  }
  const route: Route = {
    path: options.path,
    handler: options.handler as HandlerSource<unknown>,
    topics: options.topics ?? upgrader.topics,
    coalesce: options.coalesce ?? true,
    maxConnections: options.maxConnections,
  };
  upgrader.routes.push(route);
  const owner = upgrader;
  return {
    topics: route.topics,
    connections: owner.connections,
    detach() {
      const index = owner.routes.indexOf(route);
      if (index !== -1) owner.routes.splice(index, 1);
    },
  };
}

/** The default `handshakeTimeout` of {@link serve}, in ms. */
export const DEFAULT_HANDSHAKE_TIMEOUT = 10_000;

/** Options of {@link serve}. */
export interface ServeOptions<C = unknown> extends AttachOptions<C> {
  /** Port to listen on; 0 (the default) picks a free one (see `RunningServer.port`). */
  port?: number;
  /** Address to listen on. Default `'0.0.0.0'` (every IPv4 interface), as on Deno. */
  hostname?: string;
  /**
   * The longest a client may take to send its whole opening handshake, in ms: a request
   * still incomplete after it is answered 408 and closed (a client that sends half a
   * handshake and idles does not hold its socket). Node checks this periodically: the
   * request head is given nine tenths of it and checked every tenth, so the socket is closed
   * within `handshakeTimeout`. Default {@link DEFAULT_HANDSHAKE_TIMEOUT} (10 s).
   */
  handshakeTimeout?: number;
  /** Closes the server (as `close()`) when aborted. */
  signal?: AbortSignal;
}

/** A running standalone server. */
export interface RunningServer {
  /** `ws://host:port`, the base URL of the server (127.0.0.1 when listening on every interface). */
  readonly url: string;
  /** The port it listens on (the one picked when `port` was 0). */
  readonly port: number;
  /** The address it listens on (`'0.0.0.0'` by default). */
  readonly hostname: string;
  /** The underlying Node HTTP server (plain HTTP requests get 426). */
  readonly server: Server;
  /** The server's topic bus. */
  readonly topics: TopicBus;
  /** The open connections. */
  readonly connections: ReadonlySet<WebSocketConnection<unknown>>;
  /**
   * Stops listening, closes every connection with `code` (default 1001, going away) and
   * resolves when they and the server are closed (each within its `closeTimeout`).
   */
  close(code?: number, reason?: string): Promise<void>;
}

/** Node's HTTP server timeouts for a handshake limit of `timeout` ms (see `handshakeTimeout`). */
export function handshakeTimeouts(timeout: number): {
  headersTimeout: number;
  requestTimeout: number;
  connectionsCheckingInterval: number;
} {
  if (!Number.isFinite(timeout) || timeout < 10) {
    throw new RangeError(
      `handshakeTimeout must be a number of ms, at least 10; got ${String(timeout)}`,
    );
  }
  const interval = Math.max(1, Math.floor(timeout / 10));
  const limit = timeout - interval;
  return { headersTimeout: limit, requestTimeout: limit, connectionsCheckingInterval: interval };
}

/** The host a URL names for a listening address: the loopback of an any-address. */
export function urlHost(hostname: string): string {
  if (hostname === '0.0.0.0') return '127.0.0.1';
  if (hostname === '::') return '[::1]';
  return hostname.includes(':') ? `[${hostname}]` : hostname;
}

/** Starts a standalone WebSocket server and resolves once it listens. */
export async function serve<C = unknown>(options: ServeOptions<C>): Promise<RunningServer> {
  const timeouts = handshakeTimeouts(options.handshakeTimeout ?? DEFAULT_HANDSHAKE_TIMEOUT);
  const server = createServer(timeouts, (_req, res) => {
    const body = 'this server speaks WebSocket: upgrade required';
    res.writeHead(426, {
      'content-type': 'text/plain',
      'content-length': Buffer.byteLength(body),
      upgrade: 'websocket',
    });
    res.end(body);
  });
  const attachment = attach(server, options);
  const hostname = options.hostname ?? '0.0.0.0';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, hostname, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = urlHost(hostname);
  let closing: Promise<void> | undefined;
  const running: RunningServer = {
    url: `ws://${host}:${String(address.port)}`,
    port: address.port,
    hostname,
    server,
    topics: attachment.topics,
    connections: attachment.connections,
    close(code: number = WSCloseCode.GOING_AWAY, reason = 'server shutting down') {
      closing ??= (async () => {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeIdleConnections();
        await Promise.all(
          [...attachment.connections].map((conn) =>
            conn.state === 'open' ? conn.close(code, reason) : conn.whenClosed,
          ),
        );
        await closed;
      })();
      return closing;
    },
  };
  const signal = options.signal;
  if (signal) {
    if (signal.aborted) void running.close();
    else signal.addEventListener('abort', () => void running.close(), { once: true });
  }
  return running;
}
