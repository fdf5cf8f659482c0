/**
 * @anyws/deno: anyws on Deno. `upgrade` inside any `Deno.serve` handler and `serve` for a
 * standalone server on the server side, `connect` on the client side, `DenoTransport` for
 * wiring a Deno WebSocket by hand. The Hono helper is in `@anyws/deno/hono`.
 * @packageDocumentation
 */
export { type ConnectOptions, connect } from './client.ts';
export { ReconnectingClient, type ReconnectingClientOptions } from './reconnecting.ts';
export {
  type HandlerSource,
  type RunningServer,
  type ServeOptions,
  serve,
  type UpgradeOptions,
  upgrade,
} from './server.ts';
export {
  DENO_CLIENT_CAPABILITIES,
  DENO_SERVER_CAPABILITIES,
  type DenoSocketRole,
  DenoTransport,
  type DenoTransportOptions,
} from './transport.ts';
