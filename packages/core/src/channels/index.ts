/**
 * @anyws/core/channels: channels with recovery, typed messages and requests, over any
 * `WebSocketConnection`. Opt-in: connections that do not use it keep raw messages untouched.
 * The wire envelope is documented in `wire.ts` (and the core README).
 * @packageDocumentation
 */
export {
  type Channel,
  ChannelClient,
  type ChannelClientEvents,
  type ChannelClientOptions,
  type ChannelEvents,
  type ConnectionSource,
  type JoinResult,
  type Publication,
} from './client.js';
export {
  DEFAULT_REQUEST_TIMEOUT,
  type Endpoint,
  type RequestHandlers,
  type RequestOptions,
} from './endpoint.js';
export { ChannelError, type ChannelErrorCode, RequestTimeoutError } from './errors.js';
export {
  type ChannelHistory,
  type HistoryEntry,
  type HistoryRead,
  historyBounds,
  MemoryHistory,
  type MemoryHistoryOptions,
} from './history.js';
export {
  type AnyMessage,
  type DataIn,
  type DataOut,
  defineMessages,
  type KindOf,
  type MessageDefs,
  type MessageKind,
  type ReplyIn,
  type ReplyOut,
  type RequestKindOf,
  type StandardSchemaV1,
  type WireIssue,
} from './schema.js';
export {
  type ChannelAction,
  type ChannelHooks,
  ChannelHost,
  ChannelPeer,
  ChannelServer,
  type ChannelServerOptions,
  checkPublication,
} from './server.js';
export {
  CHANNELS_VERSION,
  type ClientFrame,
  decodeFrame,
  encodeFrame,
  encodePub,
  type Frame,
  type ServerFrame,
  type StreamPosition,
} from './wire.js';
