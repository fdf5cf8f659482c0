/**
 * @anyws/browser: anyws in the browser. `connect()` opens one `WebSocketConnection` (core's
 * semantics, application-level heartbeat); `ReconnectingClient` keeps one alive across drops,
 * deploys and background tabs without losing what was sent.
 * @packageDocumentation
 */
export {
  type ClientEvents,
  type ClientOptions,
  type ClientState,
  QueueFullError,
  ReconnectingClient,
} from './client.js';
export {
  DEFAULT_RECONNECT,
  NO_RECONNECT_CODES,
  type ReconnectPolicy,
  reconnectDelay,
} from './policy.js';
export {
  BROWSER_CAPABILITIES,
  BrowserTransport,
  type ConnectOptions,
  connect,
} from './transport.js';
