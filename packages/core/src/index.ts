/**
 * @anyws/core: the WebSocket contract shared by every anyws runtime adapter.
 * @packageDocumentation
 */

export {
  type ClientOpening,
  type ClientUrl,
  clientOpening,
  clientProtocols,
  clientUrl,
  DEFAULT_OPEN_TIMEOUT,
  guardOpening,
  type HeartbeatOfferOptions,
  negotiatedProtocol,
  type OpenOptions,
  resolveOpenTimeout,
  toWebSocketUrl,
} from './connect.js';
export {
  type ConnectionEvents,
  type ConnectionInit,
  type ConnectionState,
  type LoopItem,
  type RequestSource,
  type Side,
  WebSocketConnection,
} from './connection.js';
export {
  BufferOverflowError,
  ConcurrentReceiveError,
  ConnectionClosedError,
  HandshakeError,
  HeartbeatTimeoutError,
  JsonParseError,
  MessageTooBigError,
  ProtocolError,
  ReceiveOverflowError,
  ReceiveTimeoutError,
  UnexpectedMessageError,
  UnsupportedOptionError,
  WebSocketError,
} from './errors.js';
export {
  defineHandler,
  runHandler,
  type UpgradeAcceptance,
  type UpgradeResult,
  type WebSocketHandler,
} from './handler.js';
export { APP_PING, APP_PONG, HEARTBEAT_PROTOCOL } from './heartbeat.js';
export { nextConnectionId } from './ids.js';
export {
  type BinaryMessage,
  binaryMessage,
  CLOSED_MESSAGE,
  CLOSING_MESSAGE,
  type CloseMessage,
  type ControlMessage,
  closeMessage,
  type DataMessage,
  decodeUtf8,
  type ErrorMessage,
  errorMessage,
  type JsonParser,
  jsonText,
  type StateMessage,
  type TextMessage,
  textMessage,
  toBytes,
  type WSMessage,
} from './message.js';
export { type AggregateOptions, aggregate, mux } from './mux.js';
export {
  assertSupported,
  type ConnectionOptions,
  DEFAULT_OPTIONS,
  type HeartbeatOptions,
  type PingOptions,
  type ReceiveJsonOptions,
  type ReceiveOptions,
  type ResolvedOptions,
  resolveOptions,
  type SendJsonOptions,
  type SendOptions,
  type SlowConsumerPolicy,
} from './options.js';
export {
  assertSendableClose,
  isSendableCloseCode,
  isValidReceivedCloseCode,
  MAX_CLOSE_REASON_BYTES,
  utf8ByteLength,
  WSCloseCode,
  WSMsgType,
} from './protocol.js';
export {
  type ClientEvents,
  type ClientState,
  type LinkSignals,
  QueueFullError,
  ReconnectingClient,
  type ReconnectingOptions,
  type ReconnectingRuntime,
} from './reconnect/client.js';
export {
  DEFAULT_RECONNECT,
  NO_RECONNECT_CODES,
  type ReconnectPolicy,
  reconnectDelay,
} from './reconnect/policy.js';
export {
  type Excluded,
  exclusion,
  LocalTopics,
  type PublishOptions,
  prepare,
  type TopicBus,
} from './topics.js';
export {
  PreparedMessage,
  type Transport,
  type TransportCapabilities,
  type TransportSink,
} from './transport.js';
export {
  acceptUpgrade,
  canUpgrade,
  checkHandshake,
  chooseSubprotocol,
  type HandshakeFields,
  isOriginAllowed,
  offeredProtocols,
  RETRY_AFTER_SECONDS,
  type SubprotocolChoice,
  type UpgradeAccepted,
  type UpgradeContext,
  type UpgradeDecision,
  type UpgradeReadiness,
  type UpgradeRefused,
} from './upgrade.js';
