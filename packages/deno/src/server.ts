/**
 * The server side: `upgrade(request, handler)` for any `Deno.serve` handler, and `serve()`
 * for a standalone server. The upgrade flow is core's: check the handshake (Deno does not),
 * run the `upgrade` hook, and only then call `Deno.upgradeWebSocket`, echoing the chosen
 * subprotocol; the socket becomes a core connection once it is open.
 */
import {
  checkHandshake,
  decideUpgrade,
  LocalTopics,
  type ResolvedOptions,
  resolveOptions,
  runHandler,
  type TopicBus,
  WebSocketConnection,
  type WebSocketHandler,
  WSCloseCode,
} from '@anyws/core';
import { type DenoServeOptions, type DenoUpgradeOptions, denoRuntime } from './runtime.ts';
import { DenoTransport } from './transport.ts';

/** Options of {@link upgrade}. */
export interface UpgradeOptions {
  /**
   * The topic bus of the connection. Default: one bus shared by every `upgrade()` call of
   * this process that names none (a `Deno.serve` process is usually one server).
   */
  topics?: TopicBus;
  /**
   * Deno's own protocol-level keepalive, in seconds: after half of it without traffic Deno
   * sends a ping frame, and when no pong comes within the other half it closes the socket
   * (the connection then ends with 1006 and an error). It works with any client, anyws or
   * not, while core's `heartbeat` option (application-level on Deno) needs an anyws peer.
   * Default 0, off: as on every anyws runtime, a connection ends only by a close, a
   * `terminate()` or core's `heartbeat` (Deno alone would use 30 and re-arm a timer for
   * every message received).
   */
  idleTimeout?: number;
}

const sharedTopics = new LocalTopics();

interface Accept {
  topics: TopicBus;
  idleTimeout: number | undefined;
  /** Told of each connection once it is open (the standalone server keeps a list). */
  onOpen: ((conn: WebSocketConnection<unknown>) => void) | undefined;
}

/**
 * Answers a WebSocket upgrade request inside a `Deno.serve` handler: resolves with the
 * Response to return, a refusal (405, 426, 400, or the `upgrade` hook's own Response) or the
 * 101 that Deno completes. A bad handshake never reaches `Deno.upgradeWebSocket`, so it gets
 * its 4xx rather than a 500, and the server keeps serving.
 *
 * ```ts
 * Deno.serve((request) => upgrade(request, { message: (conn, msg) => conn.send(msg.data) }));
 * ```
 */
export function upgrade<C = unknown>(
  request: Request,
  handler: WebSocketHandler<C>,
  options: UpgradeOptions = {},
): Promise<Response> {
  return accept(request, handler, {
    topics: options.topics ?? sharedTopics,
    idleTimeout: options.idleTimeout,
    onOpen: undefined,
  });
}

async function accept<C>(
  request: Request,
  handler: WebSocketHandler<C>,
  how: Accept,
): Promise<Response> {
  const refusal = checkHandshake(request);
  if (refusal) return refusal;
  let options: ResolvedOptions;
  try {
    options = resolveOptions(handler.options);
  } catch (error) {
    // The handler's fault, found before anything is upgraded.
    return new Response(`invalid handler options: ${String(error)}`, { status: 500 });
  }
  const decision = await decideUpgrade(handler, request);
  if (!decision.accept) return decision.response;
  const protocol = decision.protocol ?? '';
  const settings: DenoUpgradeOptions = {};
  // Deno puts `protocol` in the 101's Sec-WebSocket-Protocol: browsers drop a connection
  // whose offered subprotocol is not answered.
  if (protocol !== '') settings.protocol = protocol;
  settings.idleTimeout = how.idleTimeout ?? 0;
  let upgraded: { socket: WebSocket; response: Response };
  try {
    upgraded = denoRuntime().upgradeWebSocket(request, settings);
  } catch (error) {
    // Whatever Deno still refuses after core's checks is the request's fault, not the server's.
    return new Response(`WebSocket upgrade failed: ${String(error)}`, { status: 400 });
  }
  const { socket, response } = upgraded;
  for (const [name, value] of Object.entries(decision.headers)) response.headers.set(name, value);
  const transport = new DenoTransport(socket, toWebSocketUrl(request.url), protocol, 'server', {
    drainThreshold: options.highWaterMark,
  });
  // Deno's socket is CONNECTING until the 101 is written, and refuses sends until then.
  socket.addEventListener(
    'open',
    () => {
      const conn = new WebSocketConnection<C>({
        transport,
        side: 'server',
        options,
        context: decision.context,
        topics: how.topics,
      });
      how.onOpen?.(conn as WebSocketConnection<unknown>);
      void runHandler(conn, handler, request);
    },
    { once: true },
  );
  return response;
}

/** The URL a server connection reports: the request's, with the WebSocket scheme. */
function toWebSocketUrl(httpUrl: string): string {
  return httpUrl.replace(/^http/, 'ws');
}

/** A handler, or a function that picks one per request (undefined: 404). */
export type HandlerSource<C = unknown> =
  | WebSocketHandler<C>
  | ((request: Request) => WebSocketHandler<C> | undefined);

/** Options of {@link serve}. */
export interface ServeOptions<C = unknown> extends UpgradeOptions {
  /** The handler of every path, or a function that picks one per request. */
  handler: HandlerSource<C>;
  /** Port to listen on; 0 picks a free one. Default: Deno's (8000). */
  port?: number;
  /** Address to listen on. Default: Deno's (0.0.0.0). */
  hostname?: string;
  /** Answers requests that do not ask for a WebSocket upgrade. Default: 426 Upgrade Required. */
  fetch?: (request: Request) => Response | Promise<Response>;
  /** Stops the server when aborted, as `Deno.serve`'s own option. */
  signal?: AbortSignal;
  /** Called once listening. Default: nothing is printed (unlike `Deno.serve`). */
  onListen?: (addr: { hostname: string; port: number }) => void;
}

/** A running standalone server. */
export interface RunningServer {
  /** `ws://host:port`, the base URL of the server. */
  readonly url: string;
  readonly port: number;
  readonly hostname: string;
  /** The server's topic bus. */
  readonly topics: TopicBus;
  /** The open connections. */
  readonly connections: ReadonlySet<WebSocketConnection<unknown>>;
  /** Resolves when the server has stopped. */
  readonly finished: Promise<void>;
  /**
   * Stops listening, closes every connection with `code` (default 1001, going away) and
   * resolves when they and the server are closed (each within its `closeTimeout`).
   */
  close(code?: number, reason?: string): Promise<void>;
}

/**
 * Starts a standalone WebSocket server on `Deno.serve` and resolves once it listens. All its
 * connections share one topic bus.
 */
export async function serve<C = unknown>(options: ServeOptions<C>): Promise<RunningServer> {
  const topics = options.topics ?? new LocalTopics();
  const connections = new Set<WebSocketConnection<unknown>>();
  const how: Accept = {
    topics,
    idleTimeout: options.idleTimeout,
    onOpen(conn) {
      connections.add(conn);
      void conn.whenClosed.then(() => connections.delete(conn));
    },
  };
  const source = options.handler;
  const fetch = options.fetch;
  const handle = (request: Request): Response | Promise<Response> => {
    if (fetch && request.headers.get('upgrade')?.toLowerCase() !== 'websocket') {
      return fetch(request);
    }
    const handler = typeof source === 'function' ? source(request) : source;
    if (!handler) return new Response('not found', { status: 404 });
    return accept(request, handler as WebSocketHandler<unknown>, how);
  };
  // Deno.serve listens before it returns (and throws when it cannot); onListen only keeps it quiet.
  const settings: DenoServeOptions = { onListen: () => undefined };
  if (options.port !== undefined) settings.port = options.port;
  if (options.hostname !== undefined) settings.hostname = options.hostname;
  if (options.signal !== undefined) settings.signal = options.signal;
  const server = denoRuntime().serve(settings, handle);
  const addr = server.addr;
  options.onListen?.({ hostname: addr.hostname, port: addr.port });
  const host = ['0.0.0.0', '::'].includes(addr.hostname) ? 'localhost' : addr.hostname;
  const urlHost = host.includes(':') ? `[${host}]` : host;
  return {
    url: `ws://${urlHost}:${String(addr.port)}`,
    port: addr.port,
    hostname: host,
    topics,
    connections,
    finished: server.finished,
    async close(code: number = WSCloseCode.GOING_AWAY, reason = 'server shutting down') {
      const stopped = server.shutdown();
      await Promise.all(
        [...connections].map((conn) =>
          conn.state === 'open' ? conn.close(code, reason) : conn.whenClosed,
        ),
      );
      await stopped;
    },
  };
}
