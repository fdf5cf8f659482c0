/** The client side: `connect(url)` on Deno's WebSocket. */
import {
  type ConnectionOptions,
  HandshakeError,
  resolveOptions,
  WebSocketConnection,
} from '@anyws/core';
import { DenoTransport } from './transport.ts';

/** Options of {@link connect}: the connection's, plus what only a Deno client has. */
export interface ConnectOptions extends ConnectionOptions {
  /** Extra request headers of the opening handshake (Deno's `WebSocketInit.headers`). */
  headers?: HeadersInit;
  /** Aborts the opening handshake; `connect` then rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** Deno's WebSocket constructor, with its (non-standard) init object. */
type DenoWebSocketConstructor = new (
  url: string | URL,
  init?: string[] | { protocols?: string[]; headers?: HeadersInit },
) => WebSocket;

/** Deno reports a refused upgrade only in its error message: "… Invalid status code: 403". */
const STATUS_IN_MESSAGE = /status code:?\s*(\d{3})\b/i;

/**
 * Opens a WebSocket client connection on Deno's WebSocket and resolves once it is open.
 * Rejects with a `HandshakeError` when the handshake fails; its `status` is the HTTP status
 * when the server refused the upgrade.
 */
export function connect(
  url: string | URL,
  options: ConnectOptions = {},
): Promise<WebSocketConnection<unknown>> {
  const { headers, signal, ...connectionOptions } = options;
  let resolved: ReturnType<typeof resolveOptions>;
  try {
    resolved = resolveOptions(connectionOptions);
  } catch (error) {
    return Promise.reject(error);
  }
  if (signal?.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const Socket = WebSocket as unknown as DenoWebSocketConstructor;
    const protocols = [...resolved.protocols];
    let ws: WebSocket;
    try {
      ws =
        headers === undefined
          ? new Socket(url, protocols)
          : new Socket(url, { protocols, headers });
    } catch (error) {
      reject(error);
      return;
    }
    const settle = (): void => {
      ws.removeEventListener('open', onOpen);
      ws.removeEventListener('error', onError);
      ws.removeEventListener('close', onClose);
      signal?.removeEventListener('abort', onAbort);
    };
    const onOpen = (): void => {
      settle();
      // Built in the 'open' dispatch itself: the transport listens before any message event.
      const transport = new DenoTransport(ws, ws.url, ws.protocol, 'client', {
        drainThreshold: resolved.highWaterMark,
      });
      resolve(new WebSocketConnection<unknown>({ transport, side: 'client', options: resolved }));
    };
    const onError = (event: Event): void => {
      settle();
      const detail = event as ErrorEvent;
      const message = detail.message || String(detail.error ?? 'WebSocket error');
      const status = STATUS_IN_MESSAGE.exec(message)?.[1];
      reject(
        new HandshakeError(
          `WebSocket handshake with ${String(url)} failed: ${message}`,
          status === undefined ? undefined : Number(status),
          { cause: detail.error },
        ),
      );
    };
    const onClose = (): void => {
      settle();
      reject(new HandshakeError(`connection to ${String(url)} closed before it opened`));
    };
    const onAbort = (): void => {
      settle();
      ws.close();
      reject(signal?.reason);
    };
    ws.addEventListener('open', onOpen);
    ws.addEventListener('error', onError);
    ws.addEventListener('close', onClose);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
