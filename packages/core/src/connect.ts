/**
 * What every runtime's client `connect(url, options)` shares: the URL rule, the subprotocols it
 * offers, and the opening deadline (`openTimeout`, `signal`). The adapters only open their
 * runtime's socket; these decide what the opening means, once.
 */
import { HandshakeError } from './errors.js';
import { HEARTBEAT_PROTOCOL } from './heartbeat.js';
import {
  assertSupported,
  type ConnectionOptions,
  positive,
  type ResolvedOptions,
  resolveOptions,
} from './options.js';
import type { TransportCapabilities } from './transport.js';

/** Milliseconds an opening handshake may take unless `openTimeout` says otherwise. */
export const DEFAULT_OPEN_TIMEOUT = 10_000;

/** How long a client's opening may take, and how to give up on it. Part of every `connect`'s options. */
export interface OpenOptions {
  /**
   * Milliseconds the opening handshake (connection, HTTP upgrade, 101) may take; past it
   * `connect` rejects with a `HandshakeError`. Default {@link DEFAULT_OPEN_TIMEOUT} (10 s);
   * `Infinity` waits as long as the runtime does.
   */
  openTimeout?: number;
  /**
   * Aborts the opening: `connect` rejects with a `HandshakeError` whose `cause` is the signal's
   * reason. It has no effect once the connection is open (close it then).
   */
  signal?: AbortSignal;
}

/**
 * The URL a connection reports, with the WebSocket scheme: `http:` becomes `ws:` and `https:`
 * becomes `wss:`; anything else is returned as it is. For a server's request URL (no parsing).
 */
export function toWebSocketUrl(url: string): string {
  return url.startsWith('http') ? `ws${url.slice(4)}` : url;
}

/** A client's target, checked: the URL it reports (`ws:`/`wss:`) and the one `fetch` takes (`http:`/`https:`). */
export interface ClientUrl {
  /** `ws://…` or `wss://…`: what `conn.url` reads. */
  readonly ws: string;
  /** `http://…` or `https://…`: for runtimes that open a WebSocket through `fetch`. */
  readonly http: string;
}

const SCHEMES: Record<string, readonly [ws: string, http: string]> = {
  'ws:': ['ws:', 'http:'],
  'wss:': ['wss:', 'https:'],
  'http:': ['ws:', 'http:'],
  'https:': ['wss:', 'https:'],
};

/**
 * Checks a client's URL as the WHATWG WebSocket constructor does: `ws:`, `wss:`, `http:` or
 * `https:`, no fragment. A `SyntaxError` (what browsers throw) otherwise.
 */
export function clientUrl(url: string | URL): ClientUrl {
  const text = String(url);
  let parsed: URL;
  try {
    parsed = new URL(text);
  } catch {
    throw new SyntaxError(`not a URL: ${text}`);
  }
  const schemes = SCHEMES[parsed.protocol];
  if (!schemes) {
    throw new SyntaxError(`a WebSocket URL is ws:, wss:, http: or https:, not ${parsed.protocol}`);
  }
  if (parsed.hash !== '' || text.includes('#')) {
    throw new SyntaxError(`a WebSocket URL has no fragment: ${text}`);
  }
  parsed.protocol = schemes[0];
  const ws = parsed.href;
  parsed.protocol = schemes[1];
  return { ws, http: parsed.href };
}

/**
 * The subprotocols a client offers: the application's, then {@link HEARTBEAT_PROTOCOL} last when
 * the client's transport has no ping frames (browsers, Deno's client, workerd) and `offer` is not
 * false, so that an anyws server agrees to the application-level heartbeat. A client with ping
 * frames offers only the application's: it needs no agreement, and ws fails an opening answered
 * without one of its offers.
 *
 * Browsers fail such an opening too: with the token offered, a server must answer with a
 * subprotocol. An anyws server answers with the application's, or else with the token itself; a
 * server that is not anyws and selects none cannot be reached with the token offered, hence
 * `offerHeartbeat: false` on those clients.
 */
export function clientProtocols(
  protocols: readonly string[],
  capabilities: Pick<TransportCapabilities, 'pingFrames'>,
  offer = true,
): string[] {
  // Offered once: an application that lists the token itself keeps its place.
  return capabilities.pingFrames || !offer || protocols.includes(HEARTBEAT_PROTOCOL)
    ? [...protocols]
    : [...protocols, HEARTBEAT_PROTOCOL];
}

/**
 * The subprotocol a client reports as `conn.protocol`: the one the server selected, or `''` when
 * it selected {@link HEARTBEAT_PROTOCOL} (which only agrees to the heartbeat) or none.
 */
export function negotiatedProtocol(selected: string | null | undefined): string {
  return selected === HEARTBEAT_PROTOCOL ? '' : (selected ?? '');
}

/** The option of clients without ping frames that turns the heartbeat token's offer off. */
export interface HeartbeatOfferOptions {
  /**
   * Offer the subprotocol `anyws.heartbeat` after the application's, so that an anyws server
   * runs the application-level heartbeat with this client. Default true. Set false to reach a
   * server that is not anyws and selects no subprotocol from a browser: browsers fail an opening
   * answered without one of the offered subprotocols.
   */
  offerHeartbeat?: boolean;
}

/** What a client's `connect` settled before opening anything (see {@link clientOpening}). */
export interface ClientOpening {
  /** The connection's options, resolved and supported by the runtime's client. */
  readonly options: ResolvedOptions;
  /** The target, checked (see {@link clientUrl}). */
  readonly url: ClientUrl;
  /** The subprotocols to offer (see {@link clientProtocols}). */
  readonly protocols: string[];
  /**
   * The client offered {@link HEARTBEAT_PROTOCOL}: its connection's `appHeartbeat`, agreed once
   * the server's hello comes (an anyws server), never otherwise.
   */
  readonly appHeartbeat: boolean;
}

/**
 * The checks every runtime's client `connect` makes before it opens a socket, in this order: the
 * options ({@link resolveOptions}, then {@link assertSupported} against the client's
 * capabilities), the URL ({@link clientUrl}), then the subprotocols it offers
 * ({@link clientProtocols}, with `offerHeartbeat`). Throws what those throw (a `TypeError` or
 * `RangeError` for a bad option, an `UnsupportedOptionError`, a `SyntaxError` for the URL).
 */
export function clientOpening(
  url: string | URL,
  options: ConnectionOptions,
  capabilities: TransportCapabilities,
  runtime: string,
  offerHeartbeat?: boolean,
): ClientOpening {
  const resolved = resolveOptions(options);
  assertSupported(resolved, capabilities, runtime);
  const target = clientUrl(url);
  const protocols = clientProtocols(resolved.protocols, capabilities, offerHeartbeat);
  return {
    options: resolved,
    url: target,
    protocols,
    appHeartbeat: protocols.includes(HEARTBEAT_PROTOCOL),
  };
}

/**
 * Checks `openTimeout` (a positive number of ms, or `Infinity`): a `RangeError` otherwise,
 * thrown before anything is opened.
 */
export function resolveOpenTimeout(options: OpenOptions): number {
  return positive('openTimeout', options.openTimeout ?? DEFAULT_OPEN_TIMEOUT, 'ms', false);
}

/**
 * Arms the opening's deadline and its abort signal: `fail` is called at most once, with a
 * `HandshakeError`, when `openTimeout` passes or `signal` aborts. Throws that error at once when
 * the signal has already aborted, and a `RangeError` for a bad `openTimeout`: call it before
 * opening anything. Returns the function that disarms both; call it as soon as the opening
 * settled either way.
 */
export function guardOpening(
  url: string,
  options: OpenOptions,
  fail: (error: HandshakeError) => void,
): () => void {
  const timeout = resolveOpenTimeout(options);
  const { signal } = options;
  let armed = true;
  const disarm = (): void => {
    if (!armed) return;
    armed = false;
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
  };
  const give = (error: HandshakeError): void => {
    if (!armed) return;
    disarm();
    fail(error);
  };
  const aborted = (): HandshakeError =>
    new HandshakeError(`opening ${url} was aborted`, undefined, { cause: signal?.reason });
  if (signal?.aborted) throw aborted();
  const onAbort = (): void => give(aborted());
  // setTimeout takes Infinity as 0: no timer at all for "no limit".
  const timer =
    timeout === Number.POSITIVE_INFINITY
      ? undefined
      : setTimeout(
          () => give(new HandshakeError(`opening ${url} timed out after ${timeout} ms`)),
          timeout,
        );
  signal?.addEventListener('abort', onAbort, { once: true });
  return disarm;
}
