import type { WebSocketConnection } from './connection.js';
import type { ControlMessage, DataMessage } from './message.js';
import type { ConnectionOptions } from './options.js';
import { INTERNAL_ERROR, OK } from './protocol.js';

/** What the `upgrade` hook decides when it accepts. */
export interface UpgradeAcceptance<C> {
  /** The subprotocol to answer with; must be one the client offered. Default: the first of `options.protocols` the client offered. */
  protocol?: string;
  /** Per-connection context, found later as `conn.context`. */
  context?: C;
  /** Extra headers on the 101 response (where the runtime lets us set them). */
  headers?: Record<string, string>;
}

/** `void` accepts; a `Response` refuses with it (401, 403, …); an object accepts with choices. */
// biome-ignore lint/suspicious/noConfusingVoidType: a hook that returns nothing accepts the upgrade
export type UpgradeResult<C> = void | undefined | Response | UpgradeAcceptance<C>;

/**
 * A server's handler, written once for every runtime. Either hooks (`open`, `message`,
 * `close`, `error`: the style that survives Durable Object hibernation) or a `session`
 * that pulls messages with `receive()`.
 */
export interface WebSocketHandler<C = unknown> {
  /** Options of every connection this handler serves. */
  options?: ConnectionOptions;
  /** Before the upgrade: auth, origin check, subprotocol choice, context. Runs on plain HTTP. */
  upgrade?(request: Request): UpgradeResult<C> | Promise<UpgradeResult<C>>;
  /** The connection is open. Throwing (or rejecting) closes it with 1011. */
  open?(conn: WebSocketConnection<C>): void | Promise<void>;
  /** A TEXT or BINARY message (PING/PONG too with `autoping: false`). Throwing closes with 1011. */
  message?(
    conn: WebSocketConnection<C>,
    message: DataMessage | ControlMessage,
  ): void | Promise<void>;
  /** The connection is closed, with `conn.closeCode` and `conn.closeReason`. Runs with a `session` too. */
  close?(conn: WebSocketConnection<C>, code: number, reason: string): void | Promise<void>;
  /** A fault of the connection, or an error thrown by another hook or by the session. */
  error?(conn: WebSocketConnection<C>, error: Error): void | Promise<void>;
  /**
   * Pull style: owns the connection until it returns; then the connection is closed with 1000.
   * `request` is the upgrade request. Where the runtime has no web `Request` of its own (Node),
   * the adapter builds one only when the session declares the parameter: a session written
   * `session(conn)` (its `length` is 1) gets none, and its connections skip that cost.
   */
  session?(conn: WebSocketConnection<C>, request: Request): Promise<void>;
}

/** Typed identity, for inference of the context type. */
export function defineHandler<C = unknown>(handler: WebSocketHandler<C>): WebSocketHandler<C> {
  return handler;
}

/** The protocols a client offers in `Sec-WebSocket-Protocol`. */
export function offeredProtocols(request: HandshakeFields): string[] {
  const header = request.headers.get('sec-websocket-protocol');
  if (!header) return [];
  return header
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '');
}

const KEY_PATTERN = /^[A-Za-z0-9+/]{22}==$/;

/**
 * What the handshake checks read of a request: a web `Request`, or a view of the runtime's
 * own request where building a `Request` would cost more than the checks (Node).
 * `headers.get` answers as `Headers.get` does: null when absent, repeated values joined by ", ".
 */
export interface HandshakeFields {
  readonly method: string;
  readonly headers: { get(name: string): string | null };
}

/**
 * Checks an opening handshake (RFC 6455 §4.2.1) for runtimes that do not: returns the refusal
 * to answer with, or null when it is a valid WebSocket upgrade.
 */
export function checkHandshake(request: HandshakeFields): Response | null {
  if (request.method !== 'GET') {
    return new Response('WebSocket upgrade needs GET', { status: 405, headers: { allow: 'GET' } });
  }
  const upgrade = request.headers.get('upgrade') ?? '';
  const connection = request.headers.get('connection') ?? '';
  if (!isToken(upgrade, 'websocket') || !hasToken(connection, 'upgrade')) {
    return new Response('expected Upgrade: websocket and Connection: upgrade', {
      status: 426,
      headers: { upgrade: 'websocket', connection: 'upgrade' },
    });
  }
  const version = request.headers.get('sec-websocket-version');
  if (version !== '13') {
    return new Response('unsupported Sec-WebSocket-Version', {
      status: 426,
      headers: { 'sec-websocket-version': '13' },
    });
  }
  const key = request.headers.get('sec-websocket-key') ?? '';
  if (!KEY_PATTERN.test(key.trim())) {
    return new Response('missing or malformed Sec-WebSocket-Key', { status: 400 });
  }
  return null;
}

/** `value` is `token` (lowercase), in any case; the usual spellings answer without a copy. */
function isToken(value: string, token: string): boolean {
  return value === token || value.toLowerCase() === token;
}

/** The comma-separated list `value` holds `token` (lowercase), in any case. */
function hasToken(value: string, token: string): boolean {
  if (value.length === token.length) return isToken(value, token);
  return value
    .toLowerCase()
    .split(',')
    .some((item) => item.trim() === token);
}

/** The answer of {@link canUpgrade}: aiohttp's `WebSocketReady`. */
export interface UpgradeReadiness {
  /** It is a valid WebSocket upgrade (the `upgrade` hook is not run). */
  ok: boolean;
  /** The subprotocol that would be chosen, or null. */
  protocol: string | null;
}

/** Whether `request` is a WebSocket upgrade that `handler` could accept, without upgrading. */
export function canUpgrade(
  request: Request,
  handler?: WebSocketHandler<unknown>,
): UpgradeReadiness {
  if (checkHandshake(request) !== null) return { ok: false, protocol: null };
  return {
    ok: true,
    protocol: chooseProtocol(offeredProtocols(request), handler?.options?.protocols),
  };
}

function chooseProtocol(
  offered: readonly string[],
  supported: readonly string[] | undefined,
): string | null {
  if (!supported) return null;
  for (const protocol of supported) if (offered.includes(protocol)) return protocol;
  return null;
}

/** The outcome of running the `upgrade` hook. */
export type UpgradeDecision<C> =
  | { accept: false; response: Response }
  | { accept: true; protocol: string | null; context: C; headers: Record<string, string> };

/**
 * Runs the handler's `upgrade` hook and picks the subprotocol. Every adapter calls it before
 * upgrading, so auth and refusals behave the same everywhere. A hook that throws refuses with 500.
 * Without an `upgrade` hook only the headers are read: `request` may then be any
 * {@link HandshakeFields}; with one it must be a `Request`.
 */
export async function decideUpgrade<C>(
  handler: WebSocketHandler<C>,
  request: Request | HandshakeFields,
): Promise<UpgradeDecision<C>> {
  let result: UpgradeResult<C>;
  try {
    // A Request whenever there is a hook (see above): adapters pass a view only without one.
    result = handler.upgrade ? await handler.upgrade(request as Request) : undefined;
  } catch {
    return { accept: false, response: new Response('upgrade hook failed', { status: 500 }) };
  }
  if (result instanceof Response) return { accept: false, response: result };
  const supported = handler.options?.protocols;
  // The offer is read only when something is chosen from it.
  const offered =
    supported !== undefined || result?.protocol !== undefined ? offeredProtocols(request) : [];
  let protocol = chooseProtocol(offered, supported);
  if (result?.protocol !== undefined) {
    if (!offered.includes(result.protocol)) {
      return {
        accept: false,
        response: new Response(`subprotocol ${result.protocol} was not offered`, { status: 500 }),
      };
    }
    protocol = result.protocol;
  }
  return { accept: true, protocol, context: result?.context as C, headers: result?.headers ?? {} };
}

/**
 * Drives a connection with a handler: the `session` function, or the hooks. Resolves when the
 * connection is closed, and never rejects. A hook or session that throws ends the connection
 * with 1011. Nothing here keeps `request` once the session has it. `request` may be undefined
 * only where nothing reads it: hooks, or a session declared without it (`session.length === 1`).
 */
export function runHandler<C>(
  conn: WebSocketConnection<C>,
  handler: WebSocketHandler<C>,
  request: Request | undefined,
): Promise<void> {
  // close and error hooks run with a session too: they report, the session pulls.
  if (handler.error) {
    const onError = handler.error;
    conn.on('error', (error) => call(conn, handler, () => onError.call(handler, conn, error)));
  }
  if (handler.close) {
    const close = handler.close;
    conn.on('close', (code, reason) =>
      call(conn, handler, () => close.call(handler, conn, code, reason)),
    );
  }
  if (handler.session) return runSession(conn, handler, handler.session, request);
  if (handler.message) {
    const onMessage = handler.message;
    conn.on('message', (message) =>
      call(conn, handler, () => onMessage.call(handler, conn, message)),
    );
  }
  if (handler.open) {
    const open = handler.open;
    call(conn, handler, () => open.call(handler, conn));
  }
  return conn.whenClosed;
}

/**
 * Runs a session and closes the connection when it ends. Not an async function: its frame
 * (a generator with its parameters, the request among them) would live as long as the
 * connection. Two small closures on the session's promise cost less, and the promise
 * returned is the one `then` makes anyway; `whenClosed` is asked for only at the end.
 */
function runSession<C>(
  conn: WebSocketConnection<C>,
  handler: WebSocketHandler<C>,
  session: NonNullable<WebSocketHandler<C>['session']>,
  request: Request | undefined,
): Promise<void> {
  let running: Promise<void>;
  try {
    // Undefined only for a session that does not declare the parameter (see `session`).
    running = session.call(handler, conn, request as Request);
  } catch (error) {
    fail(conn, handler, error);
    return conn.whenClosed;
  }
  return Promise.resolve(running).then(
    // Also when the peer's close is still unanswered (autoclose: false): the session is over.
    () => (conn.closed ? undefined : conn.close(OK)),
    (error: unknown) => {
      fail(conn, handler, error);
      return conn.whenClosed;
    },
  );
}

// Module functions rather than closures of `runHandler`: a session's frame lives as long as
// its connection, and would keep them alive for each one.

/** A hook or session failed: report it to the error hook, end the connection with 1011. */
function fail<C>(conn: WebSocketConnection<C>, handler: WebSocketHandler<C>, error: unknown): void {
  const err = error instanceof Error ? error : new Error(String(error));
  if (handler.error) {
    try {
      void Promise.resolve(handler.error(conn, err)).catch(() => undefined);
    } catch {
      // The error hook failing too leaves nothing to report to.
    }
  }
  if (!conn.closed) conn.close(INTERNAL_ERROR, 'internal error').catch(() => undefined);
}

/** Runs a hook; a throw or a rejection is a {@link fail}. */
function call<C>(
  conn: WebSocketConnection<C>,
  handler: WebSocketHandler<C>,
  fn: () => void | Promise<void>,
): void {
  try {
    const result = fn();
    if (result instanceof Promise) result.catch((error: unknown) => fail(conn, handler, error));
  } catch (error) {
    fail(conn, handler, error);
  }
}
