/**
 * @anyws/redis: core's `TopicBus` across processes on Redis (or Valkey), with presence.
 * Usable from Node and Deno (the official `redis` client from npm).
 */
export { RedisTopicsError, type RedisTopicsErrorReason } from './errors.js';
export {
  type PresenceMember,
  RedisTopics,
  type RedisTopicsOptions,
  type RedisTopicsStats,
} from './topics.js';
