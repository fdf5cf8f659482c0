/**
 * The server's upgrade pipeline, once for every runtime: an adapter calls {@link acceptUpgrade}
 * with the request and answers `response` as plain HTTP when it refuses, or performs its
 * runtime's upgrade with the decision's subprotocol and headers when it accepts. So the same
 * bad request, or the same bad handler, gets the same status everywhere.
 *
 * The steps, in order, each answering before anything is upgraded:
 *
 * 1. handshake checks (RFC 6455 §4.2.1): 405, 426 or 400 ({@link checkHandshake});
 * 2. the handler's options: resolved (`resolveOptions`) and checked against what the runtime
 *    can honour (`assertSupported`); a fault of the handler answers 500 naming it, before the
 *    `upgrade` hook runs;
 * 3. `allowedOrigins`: another origin gets 403 (a request without `Origin` passes: only
 *    browsers send it, and they always do);
 * 4. the connection limit: at `maxConnections` open connections, 503 with `Retry-After`;
 * 5. the `upgrade` hook: its Response refuses; a throw answers 500;
 * 6. the subprotocol ({@link chooseSubprotocol}): an offer the server cannot match gets 400,
 *    unless the handler sets `allowNoProtocol`.
 */
import type { UpgradeResult, WebSocketHandler } from './handler.js';
import { HEARTBEAT_PROTOCOL } from './heartbeat.js';
import { assertSupported, type ResolvedOptions, resolveOptions } from './options.js';
import type { TransportCapabilities } from './transport.js';

/**
 * What the handshake checks read of a request: a web `Request`, or a view of the runtime's
 * own request where building a `Request` would cost more than the checks (Node).
 * `headers.get` answers as `Headers.get` does: null when absent, repeated values joined by ", ".
 */
export interface HandshakeFields {
  readonly method: string;
  readonly headers: { get(name: string): string | null };
}

const KEY_PATTERN = /^[A-Za-z0-9+/]{22}==$/;

/**
 * Checks an opening handshake (RFC 6455 §4.2.1) for runtimes that do not: returns the refusal
 * to answer with, or null when it is a valid WebSocket upgrade. 405 for a method other than
 * GET, 426 without `Upgrade: websocket` and `Connection: upgrade` or with a version other than
 * 13, 400 for a missing or malformed `Sec-WebSocket-Key`.
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

/**
 * The subprotocols a client offers in `Sec-WebSocket-Protocol`, in its order. Split on ","
 * with the spaces around each trimmed: aiohttp writes `a,b`, browsers `a, b`.
 */
export function offeredProtocols(request: HandshakeFields): string[] {
  const header = request.headers.get('sec-websocket-protocol');
  if (!header) return [];
  return header
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '');
}

/** The outcome of {@link chooseSubprotocol}. */
export interface SubprotocolChoice {
  /** The subprotocol to answer with, or null for none. */
  protocol: string | null;
  /** The client offered {@link HEARTBEAT_PROTOCOL}: the application-level heartbeat is agreed. */
  heartbeat: boolean;
  /** Why the offer cannot be answered (the body of a 400), or null when it can. */
  refusal: string | null;
}

/**
 * The subprotocol rule, the same for every anyws server (and what anyws clients expect):
 *
 * - {@link HEARTBEAT_PROTOCOL} takes no part in matching; offering it agrees to the
 *   application-level heartbeat. Where no application subprotocol is chosen, the 101 selects
 *   the token itself: browsers fail an opening whose answer selects none of their offers, the
 *   token alone included. `conn.protocol` never reads it (core maps it to '').
 * - `chosen` (from the `upgrade` hook) wins; else the first of `supported` (the handler's
 *   `options.protocols`, in the server's order of preference) that the client offered.
 * - A client that offered subprotocols and matched none is refused (400, saying why), since
 *   anyws's clients, ws and browsers all fail a connection answered without one of their
 *   offers. `allowNoProtocol` accepts it instead, answering without `Sec-WebSocket-Protocol`.
 * - A client that offered none is accepted without one.
 */
export function chooseSubprotocol(
  offer: readonly string[],
  supported: readonly string[] | undefined,
  chosen: string | undefined,
  allowNoProtocol: boolean,
): SubprotocolChoice {
  let heartbeat = false;
  let offered = offer;
  if (offer.includes(HEARTBEAT_PROTOCOL)) {
    heartbeat = true;
    offered = offer.filter((p) => p !== HEARTBEAT_PROTOCOL);
  }
  let protocol: string | null = null;
  if (chosen !== undefined) protocol = chosen;
  else if (supported) {
    for (const p of supported) {
      if (offered.includes(p)) {
        protocol = p;
        break;
      }
    }
  }
  let refusal: string | null = null;
  if (protocol === null && offered.length > 0 && !allowNoProtocol) {
    refusal =
      `none of the offered subprotocols (${offered.join(', ')}) is supported here` +
      (supported && supported.length > 0 ? `; this server speaks: ${supported.join(', ')}` : '');
  }
  if (protocol === null && heartbeat && refusal === null) protocol = HEARTBEAT_PROTOCOL;
  return { protocol, heartbeat, refusal };
}

/** What an adapter tells {@link acceptUpgrade} about its runtime and its server. */
export interface UpgradeContext {
  /** The runtime's name, for the error of an option it cannot honour (`'node'`, `'deno'`, …). */
  runtime: string;
  /** What the runtime's server-side transport can do. */
  capabilities: TransportCapabilities;
  /** Connections the server (or room) has open now; with `maxConnections`, the limit is checked. */
  connections?: number;
  /** The most connections allowed at once; `undefined` (or `Infinity`) means no limit. */
  maxConnections?: number | undefined;
  /**
   * Builds the web `Request`, where `request` is only a header view (Node): called only when
   * the `upgrade` hook needs one, at most once.
   */
  toRequest?: () => Request;
}

/** An accepted upgrade: what the adapter upgrades with. */
export interface UpgradeAccepted<C> {
  accept: true;
  /** The subprotocol to answer with (`Sec-WebSocket-Protocol`), or null for none. */
  protocol: string | null;
  /** The `upgrade` hook's context, for `conn.context`. */
  context: C;
  /** Extra headers for the 101 response. */
  headers: Record<string, string>;
  /** The client offered {@link HEARTBEAT_PROTOCOL} (`ConnectionInit.appHeartbeat`). */
  heartbeat: boolean;
  /** The handler's options, resolved and checked: give them to the connection. */
  options: ResolvedOptions;
  /** The `Request` built for the `upgrade` hook, when one was (reuse it for `conn.request`). */
  request: Request | undefined;
}

/** A refused upgrade: `response` is the whole HTTP answer. */
export interface UpgradeRefused {
  accept: false;
  response: Response;
}

/** The outcome of {@link acceptUpgrade}. */
export type UpgradeDecision<C> = UpgradeAccepted<C> | UpgradeRefused;

/** Seconds a 503 at the connection limit asks the client to wait (`Retry-After`). */
export const RETRY_AFTER_SECONDS = 1;

/** Each handler options object resolved once per runtime capability set, or its fault. */
const checked = new WeakMap<object, WeakMap<TransportCapabilities, ResolvedOptions | Error>>();
const NO_OPTIONS = {};

function optionsFor(
  handler: WebSocketHandler<unknown>,
  ctx: UpgradeContext,
): ResolvedOptions | Error {
  const key = handler.options ?? NO_OPTIONS;
  let byRuntime = checked.get(key);
  if (!byRuntime) {
    byRuntime = new WeakMap();
    checked.set(key, byRuntime);
  }
  let result = byRuntime.get(ctx.capabilities);
  if (result === undefined) {
    try {
      const options = resolveOptions(handler.options);
      assertSupported(options, ctx.capabilities, ctx.runtime);
      result = options;
    } catch (error) {
      result = error instanceof Error ? error : new Error(String(error));
    }
    byRuntime.set(ctx.capabilities, result);
  }
  return result;
}

/** Whether `origin` may connect under `allowed` (see `WebSocketHandler.allowedOrigins`). */
export function isOriginAllowed(
  origin: string | null,
  allowed: WebSocketHandler<unknown>['allowedOrigins'],
): boolean {
  if (allowed === undefined || origin === null) return true;
  if (typeof allowed === 'function') return allowed(origin);
  const lower = origin.toLowerCase();
  return allowed.some((entry) => entry.toLowerCase() === lower);
}

function refuse(status: number, body: string, headers?: Record<string, string>): UpgradeRefused {
  return { accept: false, response: new Response(body, { status, headers }) };
}

/**
 * Decides an upgrade request for `handler`: the whole pipeline described in this module,
 * before anything is upgraded. Never throws: a fault of the handler is a 500 refusal.
 * `request` may be a {@link HandshakeFields} view when `ctx.toRequest` can build the
 * `Request` the `upgrade` hook gets.
 */
export async function acceptUpgrade<C>(
  request: Request | HandshakeFields,
  handler: WebSocketHandler<C>,
  ctx: UpgradeContext,
): Promise<UpgradeDecision<C>> {
  const invalid = checkHandshake(request);
  if (invalid) return { accept: false, response: invalid };
  const options = optionsFor(handler as WebSocketHandler<unknown>, ctx);
  if (options instanceof Error) {
    return refuse(500, `bad handler options: ${options.name}: ${options.message}`);
  }
  if (
    handler.allowedOrigins !== undefined &&
    !isOriginAllowed(request.headers.get('origin'), handler.allowedOrigins)
  ) {
    return refuse(403, 'origin not allowed');
  }
  const limit = ctx.maxConnections;
  if (limit !== undefined && (ctx.connections ?? 0) >= limit) {
    return refuse(503, 'too many connections, try again later', {
      'retry-after': String(RETRY_AFTER_SECONDS),
    });
  }
  let built: Request | undefined;
  let hook: UpgradeResult<C>;
  try {
    if (handler.upgrade) {
      built = request instanceof Request ? undefined : ctx.toRequest?.();
      const web = request instanceof Request ? request : built;
      if (!web) return refuse(500, 'the adapter gave no Request for the upgrade hook');
      hook = await handler.upgrade(web);
    }
  } catch {
    return refuse(500, 'upgrade hook failed');
  }
  if (hook instanceof Response) return { accept: false, response: hook };
  const offer = offeredProtocols(request);
  const chosen = hook?.protocol;
  if (chosen !== undefined && !offer.includes(chosen)) {
    return refuse(500, `the upgrade hook chose subprotocol ${chosen}, which was not offered`);
  }
  const choice = chooseSubprotocol(
    offer,
    options.protocols.length > 0 ? options.protocols : undefined,
    chosen,
    handler.allowNoProtocol === true,
  );
  if (choice.refusal !== null) return refuse(400, choice.refusal);
  return {
    accept: true,
    protocol: choice.protocol,
    context: hook?.context as C,
    headers: hook?.headers ?? {},
    heartbeat: choice.heartbeat,
    options,
    request: built,
  };
}

/** The answer of {@link canUpgrade}: aiohttp's `WebSocketReady`. */
export interface UpgradeReadiness {
  /** It is a valid WebSocket upgrade that the subprotocol rule accepts (the `upgrade` hook is not run). */
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
  const choice = chooseSubprotocol(
    offeredProtocols(request),
    handler?.options?.protocols,
    undefined,
    handler?.allowNoProtocol === true,
  );
  return { ok: choice.refusal === null, protocol: choice.protocol };
}
