/**
 * @anyws/workers: anyws on Cloudflare Workers. `connect()` opens a client connection from a
 * Worker or a Durable Object; `upgrade()` serves one in a plain Worker, and
 * `WebSocketRoom`, a Durable Object base class on the WebSocket Hibernation API, with a router
 * from a Worker to a room by name; `RoomChannels` and `DurableObjectHistory` serve core's channels
 * with recovery from a room. Hono helpers are in `@anyws/workers/hono`.
 * @packageDocumentation
 */
export { RoomChannels, type RoomChannelsOptions } from './channels.js';
export { type ConnectOptions, connect } from './connect.js';
export { DurableObjectHistory, type DurableObjectHistoryOptions } from './history.js';
export { ReconnectingClient, type ReconnectingClientOptions } from './reconnecting.js';
export { AttachmentError, saveContext, WebSocketRoom } from './room.js';
export { type RoomNamespace, type RoomRouterOptions, roomRouter, routeToRoom } from './router.js';
export { MAX_TAG_LENGTH, MAX_TAGS, RoomTopics } from './topics.js';
export {
  AcceptedSocketTransport,
  HibernatableTransport,
  TERMINATE_CODE,
  WORKERD_CAPABILITIES,
} from './transport.js';
export { type UpgradeOptions, upgrade, type WaitUntil } from './upgrade.js';
