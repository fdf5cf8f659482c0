/**
 * @anyws/node: anyws on Node.js, on `ws`. `serve` and `attach` on the server side, `connect`
 * on the client side, `WsTransport` for wiring a ws socket by hand. The Hono helper for
 * `@hono/node-server` is in `@anyws/node/hono`.
 * @packageDocumentation
 */
export { type ConnectOptions, connect } from './client.js';
export { ReconnectingClient, type ReconnectingClientOptions } from './reconnecting.js';
export {
  type Attachment,
  type AttachOptions,
  attach,
  DEFAULT_HANDSHAKE_TIMEOUT,
  type HandlerSource,
  handshakeTimeouts,
  type RunningServer,
  type ServeOptions,
  serve,
} from './server.js';
export {
  COMPRESS_ONCE_MAX,
  DirectWebSocket,
  MAX_ENFORCEABLE_PAYLOAD,
  WS_CAPABILITIES,
  WsTransport,
  type WsTransportOptions,
} from './transport.js';
