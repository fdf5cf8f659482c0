/** The client side: `connect(url)` on a ws client socket. */
import type { IncomingMessage } from 'node:http';
import {
  type ClientOpening,
  type ConnectionOptions,
  clientOpening,
  guardOpening,
  HandshakeError,
  type OpenOptions,
  WebSocketConnection,
} from '@anyws/core';
import WebSocket, { type ClientOptions } from 'ws';
import {
  MAX_ENFORCEABLE_PAYLOAD,
  maxFragmentsFor,
  WS_CAPABILITIES,
  WsTransport,
} from './transport.js';

/**
 * Options of {@link connect}: the connection's, the opening's (`openTimeout`, default 10 s, and
 * `signal`), the handshake's headers, and what only a Node client has.
 */
export interface ConnectOptions extends ConnectionOptions, OpenOptions {
  /** Extra request headers of the opening handshake (e.g. `authorization`, `origin`). */
  headers?: Record<string, string>;
  /** One write per socket per tick (see `WsTransportOptions.coalesce`). Default true. */
  coalesce?: boolean;
}

/**
 * Opens a WebSocket client connection and resolves once it is open. `url` is `ws:`, `wss:`,
 * `http:` or `https:` (`conn.url` reports the WebSocket scheme); another is a `SyntaxError`.
 * Rejects with a `HandshakeError` when the opening fails: its `status` is the HTTP status when the
 * server refused the upgrade, and there is none when `openTimeout` passed or `signal` aborted
 * (its `cause` is then the signal's reason). ws has protocol ping frames, so no heartbeat token
 * is offered (see `clientProtocols`).
 */
export function connect(
  url: string | URL,
  options: ConnectOptions = {},
): Promise<WebSocketConnection<unknown>> {
  let opening: ClientOpening;
  try {
    opening = clientOpening(url, options, WS_CAPABILITIES, 'node');
  } catch (error) {
    return Promise.reject(error);
  }
  const { options: resolved, protocols } = opening;
  const target = opening.url.ws;
  const maxPayload =
    resolved.maxMessageSize <= MAX_ENFORCEABLE_PAYLOAD ? resolved.maxMessageSize : 0;
  return new Promise((resolve, reject) => {
    // `closeTimeout` and `maxFragments` are newer than @types/ws 8.18: typed here.
    const settings: ClientOptions & { closeTimeout: number; maxFragments: number } = {
      autoPong: false,
      maxPayload,
      // The server's fragment bound: ws's client default (16,384) refuses a message within
      // maxMessageSize that a server sends in more fragments.
      maxFragments: maxFragmentsFor(maxPayload),
      perMessageDeflate: resolved.compress,
      // Core's closeTimeout terminates first; ws's own timer is only a backstop.
      closeTimeout: resolved.closeTimeout + 1000,
    };
    if (options.headers) settings.headers = options.headers;
    let settled = false;
    // Throws (so rejects) before anything opens for a bad openTimeout or an aborted signal.
    const disarm = guardOpening(target, options, (error) => {
      settled = true;
      // Before 'open' this aborts the handshake; ws's 'error' and 'close' follow and are ignored.
      ws.terminate();
      reject(error);
    });
    let ws: WebSocket;
    try {
      ws = new WebSocket(target, protocols, settings);
    } catch (error) {
      disarm();
      reject(
        new HandshakeError(`cannot connect to ${target}: ${String(error)}`, undefined, {
          cause: error,
        }),
      );
      return;
    }
    const onError = (error: Error): void => {
      if (settled) return;
      settled = true;
      disarm();
      reject(
        new HandshakeError(
          `WebSocket handshake with ${target} failed: ${error.message}`,
          undefined,
          { cause: error },
        ),
      );
    };
    const onClose = (code: number): void => {
      if (settled) return;
      settled = true;
      disarm();
      reject(
        new HandshakeError(`connection to ${target} closed (${String(code)}) before it opened`),
      );
    };
    const onRefused = (req: { destroy(): void }, res: IncomingMessage): void => {
      settled = true;
      disarm();
      const status = res.statusCode ?? 0;
      res.resume();
      req.destroy();
      reject(
        new HandshakeError(
          `the server refused the WebSocket upgrade with HTTP ${String(status)}`,
          status,
        ),
      );
    };
    ws.on('error', onError);
    ws.on('close', onClose);
    ws.on('unexpected-response', onRefused);
    ws.once('open', () => {
      if (settled) return;
      settled = true;
      disarm();
      ws.off('close', onClose);
      ws.off('unexpected-response', onRefused);
      const transport = new WsTransport(ws, { coalesce: options.coalesce ?? true, maxPayload });
      ws.off('error', onError);
      resolve(
        new WebSocketConnection<unknown>({
          transport,
          side: 'client',
          options: resolved,
          // Only when the application offered the token itself (ws has ping frames).
          appHeartbeat: opening.appHeartbeat,
        }),
      );
    });
  });
}
