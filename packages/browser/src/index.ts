/**
 * @anyws/browser: anyws in the browser. `connect()` opens one `WebSocketConnection` (core's
 * semantics, application-level heartbeat); `ReconnectingClient` keeps one alive across drops,
 * deploys and background tabs without losing what was sent.
 * @packageDocumentation
 */

// The policy is core's, as on every runtime; re-exported where browser apps always found it.
export {
  DEFAULT_RECONNECT,
  NO_RECONNECT_CODES,
  type ReconnectPolicy,
  reconnectDelay,
} from '@anyws/core';
export {
  type ClientEvents,
  type ClientOptions,
  type ClientState,
  QueueFullError,
  ReconnectingClient,
  type ReconnectingClientOptions,
  type ReconnectingOptions,
} from './client.js';
export {
  BROWSER_CAPABILITIES,
  BrowserTransport,
  type ConnectOptions,
  connect,
} from './transport.js';
