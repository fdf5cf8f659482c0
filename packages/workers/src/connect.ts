/**
 * The client side on workerd: a Worker or a Durable Object opens a WebSocket to another server.
 * workerd has no WebSocket constructor for that; a `fetch` with `Upgrade: websocket` answers
 * 101 with the socket in `response.webSocket`, which the transport accepts.
 */
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
import { AcceptedSocketTransport, WORKERD_CAPABILITIES } from './transport.js';

/**
 * Options of {@link connect}: the connection's, the opening's (`openTimeout`, default 10 s, and
 * `signal`), the handshake's headers, and `offerHeartbeat`, as on every runtime.
 */
export interface ConnectOptions extends ConnectionOptions, OpenOptions, HeartbeatOfferOptions {
  /** Extra request headers of the opening handshake (e.g. `authorization`). */
  headers?: HeadersInit;
}

/**
 * Opens a WebSocket client connection from a Worker or a Durable Object and resolves once it is
 * open. `url` is `ws:`, `wss:`, `http:` or `https:` (`conn.url` reports the WebSocket scheme);
 * another is a `SyntaxError`. Rejects with a `HandshakeError` when the opening fails: its
 * `status` is the HTTP status when the server answered anything but 101; there is none when
 * `openTimeout` passed or `signal` aborted (its `cause` is then the signal's reason).
 *
 * workerd has no ping frames, so the subprotocol `anyws.heartbeat` is offered after the
 * application's (see `offerHeartbeat`). Run it inside the request (or the Durable Object) that
 * uses the connection: workerd ties a socket to the I/O context that opened it, and a plain
 * Worker's connection ends with its request.
 *
 * ```ts
 * const conn = await connect('wss://example.com/feed', { protocols: ['feed.v1'] });
 * await conn.sendText('hello');
 * ```
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
      WORKERD_CAPABILITIES,
      'workers',
      offerHeartbeat,
    );
  } catch (error) {
    return Promise.reject(error);
  }
  const { url: target, protocols } = opening;
  const request = new Headers(headers);
  request.set('upgrade', 'websocket');
  if (protocols.length > 0) request.set('sec-websocket-protocol', protocols.join(', '));
  return new Promise((resolve, reject) => {
    const abort = new AbortController();
    let failed = false;
    // Throws (so rejects) before anything opens for a bad openTimeout or an aborted signal.
    const disarm = guardOpening(target.ws, { signal, openTimeout }, (error) => {
      failed = true;
      abort.abort(error);
      reject(error);
    });
    fetch(target.http, { headers: request, signal: abort.signal }).then(
      (response) => {
        disarm();
        const ws = response.webSocket;
        if (failed) {
          // The deadline passed as the answer came: the socket is nobody's.
          ws?.accept();
          ws?.close(1001, 'the opening was abandoned');
          return;
        }
        if (response.status !== 101 || !ws) {
          response.body?.cancel().catch(() => undefined);
          reject(
            new HandshakeError(
              `the server refused the WebSocket upgrade with HTTP ${String(response.status)}`,
              response.status,
            ),
          );
          return;
        }
        const selected = response.headers.get('sec-websocket-protocol');
        if (selected !== null && !protocols.includes(selected)) {
          // RFC 6455 §4.1: a subprotocol the client did not offer fails the connection.
          ws.accept();
          ws.close(1002, 'subprotocol not offered');
          reject(new HandshakeError(`the server selected ${selected}, which was not offered`));
          return;
        }
        const transport = new AcceptedSocketTransport(ws, target.ws, negotiatedProtocol(selected));
        resolve(
          new WebSocketConnection<unknown>({
            transport,
            side: 'client',
            options: opening.options,
            appHeartbeat: opening.appHeartbeat,
          }),
        );
      },
      (error: unknown) => {
        disarm();
        if (failed) return;
        reject(
          new HandshakeError(
            `WebSocket handshake with ${target.ws} failed: ${error instanceof Error ? error.message : String(error)}`,
            undefined,
            { cause: error },
          ),
        );
      },
    );
  });
}
