/** The client side: `connect(url)` on Deno's WebSocket. */
import {
  type ClientOpening,
  type ConnectionOptions,
  clientOpening,
  guardOpening,
  HandshakeError,
  type HeartbeatOfferOptions,
  negotiatedProtocol,
  type OpenOptions,
  WebSocketConnection,
} from '@anyws/core';
import { DENO_CLIENT_CAPABILITIES, DenoTransport } from './transport.ts';

/**
 * Options of {@link connect}: the connection's, the opening's (`openTimeout`, default 10 s, and
 * `signal`), the handshake's headers, and `offerHeartbeat`.
 */
export interface ConnectOptions extends ConnectionOptions, OpenOptions, HeartbeatOfferOptions {
  /** Extra request headers of the opening handshake (Deno's `WebSocketInit.headers`). */
  headers?: HeadersInit;
}

/** Deno's WebSocket constructor, with its (non-standard) init object. */
type DenoWebSocketConstructor = new (
  url: string | URL,
  init?: string[] | { protocols?: string[]; headers?: HeadersInit },
) => WebSocket;

/** Deno reports a refused upgrade only in its error message: "… Invalid status code: 403". */
const STATUS_IN_MESSAGE = /status code:?\s*(\d{3})\b/i;

/**
 * Opens a WebSocket client connection on Deno's WebSocket and resolves once it is open. `url`
 * is `ws:`, `wss:`, `http:` or `https:` (`conn.url` reports the WebSocket scheme); another is a
 * `SyntaxError`. Rejects with a `HandshakeError` when the opening fails: its `status` is the
 * HTTP status when the server refused the upgrade; there is none when `openTimeout` passed or
 * `signal` aborted (its `cause` is then the signal's reason). Deno's client has no ping frames,
 * so the heartbeat token is offered last (see `clientProtocols`).
 */
export function connect(
  url: string | URL,
  options: ConnectOptions = {},
): Promise<WebSocketConnection<unknown>> {
  const { headers, signal, openTimeout, offerHeartbeat, ...connectionOptions } = options;
  let opening: ClientOpening;
  try {
    opening = clientOpening(
      url,
      connectionOptions,
      DENO_CLIENT_CAPABILITIES,
      'deno',
      offerHeartbeat,
    );
  } catch (error) {
    return Promise.reject(error);
  }
  const target = opening.url.ws;
  const { protocols } = opening;
  return new Promise((resolve, reject) => {
    const Socket = WebSocket as unknown as DenoWebSocketConstructor;
    // Throws (so rejects) before anything opens for a bad openTimeout or an aborted signal.
    const disarm = guardOpening(target, { signal, openTimeout }, (error) => {
      settle();
      ws.close();
      reject(error);
    });
    let ws: WebSocket;
    try {
      ws =
        headers === undefined
          ? new Socket(target, protocols)
          : new Socket(target, { protocols, headers });
    } catch (error) {
      disarm();
      reject(error);
      return;
    }
    const settle = (): void => {
      disarm();
      ws.removeEventListener('open', onOpen);
      ws.removeEventListener('error', onError);
      ws.removeEventListener('close', onClose);
    };
    const onOpen = (): void => {
      settle();
      // Built in the 'open' dispatch itself: the transport listens before any message event.
      const protocol = negotiatedProtocol(ws.protocol);
      const transport = new DenoTransport(ws, ws.url, protocol, 'client', {
        drainThreshold: opening.options.highWaterMark,
      });
      resolve(
        new WebSocketConnection<unknown>({
          transport,
          side: 'client',
          options: opening.options,
          appHeartbeat: opening.appHeartbeat,
        }),
      );
    };
    const onError = (event: Event): void => {
      settle();
      const detail = event as ErrorEvent;
      const message = detail.message || String(detail.error ?? 'WebSocket error');
      const status = STATUS_IN_MESSAGE.exec(message)?.[1];
      reject(
        new HandshakeError(
          `WebSocket handshake with ${target} failed: ${message}`,
          status === undefined ? undefined : Number(status),
          { cause: detail.error },
        ),
      );
    };
    const onClose = (): void => {
      settle();
      reject(new HandshakeError(`connection to ${target} closed before it opened`));
    };
    ws.addEventListener('open', onOpen);
    ws.addEventListener('error', onError);
    ws.addEventListener('close', onClose);
  });
}
