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
  /**
   * Origins allowed to connect (the `Origin` header, compared without regard to case), or a
   * function deciding per origin. Another origin is refused with 403 before the `upgrade` hook.
   * A request without `Origin` is allowed: browsers always send one, and other clients
   * (servers, CLIs) send none, so checking it guards against other web pages, not other programs.
   * Default: every origin.
   */
  allowedOrigins?: readonly string[] | ((origin: string) => boolean);
  /**
   * Accept a client whose offered subprotocols match none of `options.protocols` (nor the
   * hook's choice), without an application subprotocol (`conn.protocol` is ''). Default
   * false: such an upgrade is refused with 400 and a body naming the offers, because anyws's
   * clients, ws and browsers all fail a connection whose offer went unanswered.
   */
  allowNoProtocol?: boolean;
  /** Before the upgrade: auth, subprotocol choice, context. Runs on plain HTTP. */
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
   * The upgrade request is `conn.request`, built on first read where the runtime has no web
   * `Request` of its own (Node), so a session that never reads it costs nothing for it.
   */
  session?(conn: WebSocketConnection<C>): Promise<void>;
}

/** Typed identity, for inference of the context type. */
export function defineHandler<C = unknown>(handler: WebSocketHandler<C>): WebSocketHandler<C> {
  return handler;
}

/**
 * Drives a connection with a handler: the `session` function, or the hooks. Resolves when the
 * connection is closed, and never rejects. A hook or session that throws ends the connection
 * with 1011.
 */
export function runHandler<C>(
  conn: WebSocketConnection<C>,
  handler: WebSocketHandler<C>,
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
  if (handler.session) return runSession(conn, handler, handler.session);
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
 * (a generator with its parameters) would live as long as the connection. Two small closures
 * on the session's promise cost less, and the promise returned is the one `then` makes
 * anyway; `whenClosed` is asked for only at the end.
 */
function runSession<C>(
  conn: WebSocketConnection<C>,
  handler: WebSocketHandler<C>,
  session: NonNullable<WebSocketHandler<C>['session']>,
): Promise<void> {
  let running: Promise<void>;
  try {
    running = session.call(handler, conn);
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
