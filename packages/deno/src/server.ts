/**
 * The server side: `upgrade(request, handler)` for any `Deno.serve` handler, and `serve()`
 * for a standalone server. The decision is core's `acceptUpgrade` (handshake checks, which
 * Deno does not make; options; origins; connection limit; `upgrade` hook; subprotocol); only
 * then is `Deno.upgradeWebSocket` called, and the socket becomes a core connection once open.
 */
import {
  acceptUpgrade,
  LocalTopics,
  runHandler,
  type TopicBus,
  toWebSocketUrl,
  WebSocketConnection,
  type WebSocketHandler,
  WSCloseCode,
} from '@anyws/core';
import { type DenoServeOptions, type DenoUpgradeOptions, denoRuntime } from './runtime.ts';
import { DENO_SERVER_CAPABILITIES, DenoTransport } from './transport.ts';

/** Options of {@link upgrade}. */
export interface UpgradeOptions {
  /**
   * The topic bus of the connection. Default: one bus shared by every `upgrade()` call of
   * this process that names none (a `Deno.serve` process is usually one server).
   */
  topics?: TopicBus;
  /**
   * Deno's own protocol-level keepalive, in ms (Deno's option is in seconds: it gets this
   * divided by 1000): after half of it without traffic Deno sends a ping frame, and when no pong comes within
   * the other half it closes the socket (the connection then ends with 1006 and an error). It
   * works with any client, anyws or not, while core's `heartbeat` option (application-level
   * on Deno) needs an anyws peer. Default 0, off: as on every anyws runtime, a connection
   * ends only by a close, a `terminate()` or core's `heartbeat`.
   */
  idleTimeout?: number;
  /**
   * The most connections open at once: through `upgrade()` per handler (every call with the
   * same handler object counts together), through `serve()` per server. Past it the upgrade
   * is refused with 503 and `Retry-After` before upgrading. Default: no limit.
   */
  maxConnections?: number;
}

const sharedTopics = new LocalTopics();

/** What counts against a `maxConnections`: open connections and upgrades under way. */
interface Counter {
  count: number;
}
const perHandler = new WeakMap<object, Counter>();

interface Accept {
  topics: TopicBus;
  idleTimeout: number | undefined;
  maxConnections: number | undefined;
  counter: Counter;
  /** Told of each connection once it is open (the standalone server keeps a list). */
  onOpen: ((conn: WebSocketConnection<unknown>) => void) | undefined;
}

/**
 * Answers a WebSocket upgrade request inside a `Deno.serve` handler: resolves with the
 * Response to return, a refusal (core's status for the request, or the `upgrade` hook's own
 * Response) or the 101 that Deno completes. A bad handshake never reaches
 * `Deno.upgradeWebSocket`, so it gets its 4xx rather than a 500, and the server keeps serving.
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
  let counter = perHandler.get(handler);
  if (!counter) {
    counter = { count: 0 };
    perHandler.set(handler, counter);
  }
  return accept(request, handler, {
    topics: options.topics ?? sharedTopics,
    idleTimeout: options.idleTimeout,
    maxConnections: options.maxConnections,
    counter,
    onOpen: undefined,
  });
}

/** Deno's `idleTimeout` (seconds) for one in ms. */
function idleSeconds(ms: number | undefined): number {
  if (ms === undefined || ms === 0) return 0;
  if (!Number.isFinite(ms) || ms < 0) {
    throw new RangeError(`idleTimeout must be a number of ms, 0 or more; got ${String(ms)}`);
  }
  return ms / 1000;
}

async function accept<C>(
  request: Request,
  handler: WebSocketHandler<C>,
  how: Accept,
): Promise<Response> {
  const counter = how.counter;
  const decision = await acceptUpgrade(request, handler, {
    runtime: 'deno',
    capabilities: DENO_SERVER_CAPABILITIES,
    connections: counter.count,
    maxConnections: how.maxConnections,
  });
  if (!decision.accept) return decision.response;
  const settings: DenoUpgradeOptions = { idleTimeout: idleSeconds(how.idleTimeout) };
  // Deno closes the Request when it upgrades: what builds `conn.request` is copied first.
  const url = request.url;
  const method = request.method;
  const headers = new Headers(request.headers);
  let upgraded: { socket: WebSocket; response: Response };
  try {
    // No `protocol` for Deno: it splits the offer on ", " only, and refuses `a,b` (aiohttp's
    // spelling) with 400. The chosen one goes on the 101 below instead.
    upgraded = denoRuntime().upgradeWebSocket(request, settings);
  } catch (error) {
    // Whatever Deno still refuses after core's checks is the request's fault, not the server's.
    return new Response(`WebSocket upgrade failed: ${String(error)}`, { status: 400 });
  }
  const { socket, response } = upgraded;
  const protocol = decision.protocol ?? '';
  // Browsers and ws drop a connection whose offered subprotocol goes unanswered.
  if (protocol !== '') response.headers.set('sec-websocket-protocol', protocol);
  for (const [name, value] of Object.entries(decision.headers)) response.headers.set(name, value);
  const transport = new DenoTransport(socket, toWebSocketUrl(url), protocol, 'server', {
    drainThreshold: decision.options.highWaterMark,
  });
  counter.count++;
  const release = (): void => {
    counter.count--;
  };
  let opened = false;
  // Deno's socket is CONNECTING until the 101 is written, and refuses sends until then.
  socket.addEventListener(
    'open',
    () => {
      opened = true;
      const conn = new WebSocketConnection<C>({
        transport,
        side: 'server',
        options: decision.options,
        context: decision.context,
        topics: how.topics,
        onClosed: release,
        request: () => new Request(url, { method, headers }),
        appHeartbeat: decision.heartbeat,
      });
      how.onOpen?.(conn as WebSocketConnection<unknown>);
      void runHandler(conn, handler);
    },
    { once: true },
  );
  // A socket that never opens (the client left during the handshake) gives its place up;
  // an open one gives it up when its connection closes (`onClosed`).
  socket.addEventListener(
    'close',
    () => {
      if (!opened) release();
    },
    { once: true },
  );
  return response;
}

/** A handler, or a function that picks one per request (undefined: 404). */
export type HandlerSource<C = unknown> =
  | WebSocketHandler<C>
  | ((request: Request) => WebSocketHandler<C> | undefined);

/** Options of {@link serve}. */
export interface ServeOptions<C = unknown> extends UpgradeOptions {
  /** The handler of every path, or a function that picks one per request. */
  handler: HandlerSource<C>;
  /** Port to listen on; 0 (the default, as on Node) picks a free one (see `RunningServer.port`). */
  port?: number;
  /** Address to listen on. Default `'0.0.0.0'` (every IPv4 interface), as on Node. */
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
  /** `ws://host:port`, the base URL of the server (127.0.0.1 when listening on every interface). */
  readonly url: string;
  readonly port: number;
  /** The address it listens on. */
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
    maxConnections: options.maxConnections,
    // Every path of this server counts against its one limit.
    counter: { count: 0 },
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
  const settings: DenoServeOptions = {
    onListen: () => undefined,
    port: options.port ?? 0,
    hostname: options.hostname ?? '0.0.0.0',
  };
  if (options.signal !== undefined) settings.signal = options.signal;
  const server = denoRuntime().serve(settings, handle);
  const addr = server.addr;
  options.onListen?.({ hostname: addr.hostname, port: addr.port });
  const urlHost =
    addr.hostname === '0.0.0.0'
      ? '127.0.0.1'
      : addr.hostname === '::'
        ? '[::1]'
        : addr.hostname.includes(':')
          ? `[${addr.hostname}]`
          : addr.hostname;
  return {
    url: `ws://${urlHost}:${String(addr.port)}`,
    port: addr.port,
    hostname: addr.hostname,
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
