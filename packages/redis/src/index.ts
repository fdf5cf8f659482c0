/**
 * @anyws/redis: core's `TopicBus` across processes on Redis (or Valkey), with presence, and
 * core's `ChannelHistory` on a Redis stream per channel (`RedisHistory`).
 * Usable from Node and Deno (the official `redis` client from npm).
 */
export { RedisTopicsError, type RedisTopicsErrorReason } from './errors.js';
export { RedisHistory, RedisHistoryError, type RedisHistoryOptions } from './history.js';
export {
  type PresenceMember,
  RedisTopics,
  type RedisTopicsOptions,
  type RedisTopicsStats,
} from './topics.js';
