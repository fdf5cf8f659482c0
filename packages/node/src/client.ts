/** The client side: `connect(url)` on a ws client socket. */
import type { IncomingMessage } from 'node:http';
import {
  type ConnectionOptions,
  HandshakeError,
  resolveOptions,
  WebSocketConnection,
} from '@anyws/core';
import WebSocket, { type ClientOptions } from 'ws';
import { MAX_ENFORCEABLE_PAYLOAD, WsTransport } from './transport.js';

/** Options of {@link connect}: the connection's, plus what only a Node client has. */
export interface ConnectOptions extends ConnectionOptions {
  /** Extra request headers of the opening handshake (e.g. `authorization`, `origin`). */
  headers?: Record<string, string>;
  /** Milliseconds the opening handshake may take; default: no limit. */
  handshakeTimeout?: number;
  /** One write per socket per tick (see `WsTransportOptions.coalesce`). Default true. */
  coalesce?: boolean;
}

/**
 * Opens a WebSocket client connection and resolves once it is open. Rejects with a
 * `HandshakeError` whose `status` is the HTTP status when the server refuses the upgrade.
 */
export function connect(
  url: string | URL,
  options: ConnectOptions = {},
): Promise<WebSocketConnection<unknown>> {
  let resolved: ReturnType<typeof resolveOptions>;
  try {
    resolved = resolveOptions(options);
  } catch (error) {
    return Promise.reject(error);
  }
  const maxPayload =
    resolved.maxMessageSize <= MAX_ENFORCEABLE_PAYLOAD ? resolved.maxMessageSize : 0;
  return new Promise((resolve, reject) => {
    // `closeTimeout` is newer than @types/ws 8.18: typed here.
    const settings: ClientOptions & { closeTimeout: number } = {
      autoPong: false,
      maxPayload,
      perMessageDeflate: resolved.compress,
      // Core's closeTimeout terminates first; ws's own timer is only a backstop.
      closeTimeout: resolved.closeTimeout + 1000,
    };
    if (options.headers) settings.headers = options.headers;
    if (options.handshakeTimeout) settings.handshakeTimeout = options.handshakeTimeout;
    let ws: WebSocket;
    try {
      ws = new WebSocket(url, [...resolved.protocols], settings);
    } catch (error) {
      reject(
        new HandshakeError(`cannot connect to ${String(url)}: ${String(error)}`, undefined, {
          cause: error,
        }),
      );
      return;
    }
    let settled = false;
    const onError = (error: Error): void => {
      if (settled) return;
      settled = true;
      reject(
        new HandshakeError(
          `WebSocket handshake with ${String(url)} failed: ${error.message}`,
          undefined,
          { cause: error },
        ),
      );
    };
    const onClose = (code: number): void => {
      if (settled) return;
      settled = true;
      reject(
        new HandshakeError(
          `connection to ${String(url)} closed (${String(code)}) before it opened`,
        ),
      );
    };
    const onRefused = (req: { destroy(): void }, res: IncomingMessage): void => {
      settled = true;
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
      ws.off('close', onClose);
      ws.off('unexpected-response', onRefused);
      const transport = new WsTransport(ws, { coalesce: options.coalesce ?? true, maxPayload });
      ws.off('error', onError);
      resolve(new WebSocketConnection<unknown>({ transport, side: 'client', options: resolved }));
    });
  });
}
