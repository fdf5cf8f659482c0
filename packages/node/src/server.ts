/**
 * The server side: `attach` to any Node HTTP(S) server, or `serve` a standalone one. The
 * upgrade flow is core's: check the handshake, run the `upgrade` hook before upgrading, answer
 * a refusal as plain HTTP, else let ws complete the handshake and hand the socket to core.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import {
  checkHandshake,
  decideUpgrade,
  LocalTopics,
  type ResolvedOptions,
  resolveOptions,
  runHandler,
  type TopicBus,
  type UpgradeDecision,
  WebSocketConnection,
  type WebSocketHandler,
  WSCloseCode,
} from '@anyws/core';
import { type WebSocket, WebSocketServer } from 'ws';
import {
  checkHttpVersion,
  handshakeFields,
  requestUrl,
  toRequest,
  toWebSocketUrl,
  writeResponse,
} from './http.js';
import { MAX_ENFORCEABLE_PAYLOAD, WsTransport, wsServerOptions } from './transport.js';

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
}

/** A ws server (in `noServer` mode) set up from one handler's options. */
interface Endpoint {
  wss: WebSocketServer;
  options: ResolvedOptions;
  maxPayload: number;
}

/** The accepted decision of each request while ws completes its handshake. */
const decisions = new WeakMap<IncomingMessage, UpgradeDecision<unknown> & { accept: true }>();
const endpoints = new WeakMap<AnyHandler, Endpoint>();
const upgraders = new WeakMap<Server | HttpsServer, Upgrader>();

function ignore(): void {}

function endpointFor(handler: AnyHandler): Endpoint {
  let endpoint = endpoints.get(handler);
  if (endpoint) return endpoint;
  const options = resolveOptions(handler.options);
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
    const source = route.handler;
    // A Request only for code that reads one: it is most of what a handshake costs here.
    let request: Request | undefined;
    let url: string;
    try {
      if (typeof source === 'function' || readsRequest(source)) {
        request = toRequest(req);
        url = request.url;
      } else {
        url = requestUrl(req);
      }
    } catch {
      return writeResponse(socket, new Response('bad request', { status: 400 }));
    }
    const handler = typeof source !== 'function' ? source : request && source(request);
    if (!handler) return writeResponse(socket, notFound());
    const fields = request ?? handshakeFields(req);
    const refusal = checkHttpVersion(req) ?? checkHandshake(fields);
    if (refusal) return writeResponse(socket, refusal);
    // Without a Request the handler has no upgrade hook: decideUpgrade reads only headers.
    const decision = await decideUpgrade(handler, fields);
    if (!decision.accept) return writeResponse(socket, decision.response);
    let endpoint: Endpoint;
    try {
      endpoint = endpointFor(handler);
    } catch (error) {
      return writeResponse(
        socket,
        new Response(`bad handler options: ${String(error)}`, { status: 500 }),
      );
    }
    if (socket.destroyed || !socket.writable) {
      socket.destroy();
      return;
    }
    // ws asks for the decision only to answer with a subprotocol or extra headers.
    const remembered = decision.protocol !== null || hasKeys(decision.headers);
    if (remembered) decisions.set(req, decision);
    endpoint.wss.handleUpgrade(req, socket, head, (ws) => {
      if (remembered) decisions.delete(req);
      // ws listens for socket errors now: without ours, the socket keeps one listener, not a
      // list of two, for the connection's life.
      socket.removeListener('error', ignore);
      this.#open(ws, url, request, route, endpoint, handler, decision.context);
    });
  }

  /**
   * Starts the connection. A method of its own so that nothing living as long as the
   * connection keeps `#handle`'s scope, and with it the `IncomingMessage`, alive. The
   * `Request` (when one was built) goes to the session and is not kept here.
   */
  #open(
    ws: WebSocket,
    url: string,
    request: Request | undefined,
    route: Route,
    endpoint: Endpoint,
    handler: AnyHandler,
    context: unknown,
  ): void {
    const transport = new WsTransport(ws, {
      url: toWebSocketUrl(url),
      coalesce: route.coalesce,
      maxPayload: endpoint.maxPayload,
    });
    const conn = new WebSocketConnection<unknown>({
      transport,
      side: 'server',
      options: handler.options,
      context,
      topics: route.topics,
      onClosed: this.#untrack,
    });
    if (!conn.closed) this.connections.add(conn);
    // It never rejects; its promise is not awaited (and costs nothing more) here.
    void runHandler(conn, handler, request);
  }
}

/**
 * Whether the handler reads the upgrade's `Request`: its `upgrade` hook does, and a `session`
 * unless it is declared without the parameter (see `WebSocketHandler.session`).
 */
function readsRequest(handler: AnyHandler): boolean {
  return (
    handler.upgrade !== undefined || (handler.session !== undefined && handler.session.length !== 1)
  );
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

/** Options of {@link serve}. */
export interface ServeOptions<C = unknown> extends AttachOptions<C> {
  /** Port to listen on; 0 (the default) picks a free one. */
  port?: number;
  /** Address to listen on. Default: Node's (every interface). */
  hostname?: string;
}

/** A running standalone server. */
export interface RunningServer {
  /** `ws://host:port`, the base URL of the server. */
  readonly url: string;
  readonly port: number;
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

/** Starts a standalone WebSocket server and resolves once it listens. */
export async function serve<C = unknown>(options: ServeOptions<C>): Promise<RunningServer> {
  const server = createServer((_req, res) => {
    const body = 'this server speaks WebSocket: upgrade required';
    res.writeHead(426, {
      'content-type': 'text/plain',
      'content-length': Buffer.byteLength(body),
      upgrade: 'websocket',
    });
    res.end(body);
  });
  const attachment = attach(server, options);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.hostname, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host =
    options.hostname && !['0.0.0.0', '::'].includes(options.hostname)
      ? options.hostname
      : 'localhost';
  const urlHost = host.includes(':') ? `[${host}]` : host;
  return {
    url: `ws://${urlHost}:${String(address.port)}`,
    port: address.port,
    hostname: host,
    server,
    topics: attachment.topics,
    connections: attachment.connections,
    async close(code: number = WSCloseCode.GOING_AWAY, reason = 'server shutting down') {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      await Promise.all(
        [...attachment.connections].map((conn) =>
          conn.state === 'open' ? conn.close(code, reason) : conn.whenClosed,
        ),
      );
      await closed;
    },
  };
}
