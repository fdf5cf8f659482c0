/** Shared pieces of the tests: buses on a test Redis, in-memory connection pairs, waiting. */
import type { WebSocketConnection } from '@anyws/core';
import { until as waitUntil } from '@anyws/core/contract';
import { createPair } from '@anyws/core/testing';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { RedisTopics, type RedisTopicsError, type RedisTopicsOptions } from '../src/index.js';
import { RedisServer } from '../src/testing.js';

/** A bus on `url`; its errors are collected instead of logged. */
export async function bus(
  url: string,
  options: RedisTopicsOptions = {},
): Promise<RedisTopics & { errors: RedisTopicsError[] }> {
  const errors: RedisTopicsError[] = [];
  const topics = await RedisTopics.connect({
    url,
    onError: (error) => errors.push(error),
    ...options,
  });
  return Object.assign(topics, { errors });
}

/** A connected pair whose server end uses `topics`, with a context. */
export function member(topics: RedisTopics, context: unknown = null) {
  const pair = createPair({ topics });
  pair.server.context = context;
  return pair;
}

/** The contract's `until`, checking every 20 ms (some conditions ask Redis); fails after `ms`. */
export function until(
  condition: () => boolean | Promise<boolean>,
  what: string,
  ms = 10_000,
): Promise<void> {
  return waitUntil(condition, what, ms, 20);
}

/** Receives the next text of `conn` (the client end), failing after `ms`. */
export async function nextText(conn: WebSocketConnection<unknown>, ms = 5000): Promise<string> {
  return conn.receiveText({ timeout: ms });
}

/** Whether a client receives nothing more: a marker published after arrives first. */
export type Pair = ReturnType<typeof member>;

/**
 * One redis-server for the test file (started before, stopped after) and a maker of buses on
 * it, each closed after its test.
 */
export function useRedis() {
  let server: RedisServer | undefined;
  const open: RedisTopics[] = [];
  beforeAll(async () => {
    server = await RedisServer.start();
  });
  afterEach(async () => {
    await Promise.all(open.splice(0).map((t) => t.close()));
  });
  afterAll(async () => {
    await server?.stop();
  });
  const redis = (): RedisServer => {
    if (!server) throw new Error('redis-server not started');
    return server;
  };
  const buses = async (n: number, options: RedisTopicsOptions = {}) => {
    const made = await Promise.all(Array.from({ length: n }, () => bus(redis().url, options)));
    open.push(...made);
    return made;
  };
  return { redis, buses };
}
