/**
 * The whole contract suite (its topic cases included; report routes also travel on topics)
 * with @anyws/node's server and client, the server's topic bus being a RedisTopics on a real
 * redis-server.
 */
import { type ContractTarget, contractRoute, registerContractSuite } from '@anyws/core/contract';
import { connect, type RunningServer, serve, WS_CAPABILITIES } from '@anyws/node';
import { afterAll, beforeAll, describe, it } from 'vitest';
import type { RedisTopics } from '../src/index.js';
import { RedisServer } from '../src/testing.js';
import { bus } from './helpers.js';

describe('contract suite: @anyws/node with RedisTopics', () => {
  let redis: RedisServer;
  let topics: RedisTopics;
  let server: RunningServer;
  let target: ContractTarget;

  beforeAll(async () => {
    redis = await RedisServer.start();
    topics = await bus(redis.url);
    server = await serve({
      hostname: '127.0.0.1',
      topics,
      handler: (request) => contractRoute(new URL(request.url).pathname),
    });
    target = { baseUrl: server.url, connect: (url, options) => connect(url, options) };
  });
  afterAll(async () => {
    await server?.close();
    await topics?.close();
    await redis?.stop();
  });

  registerContractSuite(
    (name, run, skip) => (skip ? it.skip(name, run) : it(name, run, 20_000)),
    {
      server: WS_CAPABILITIES,
      client: WS_CAPABILITIES,
      handshakeStatus: true,
      // The silent peers are the node package's own test fixtures: not needed for topics.
      silentServer: false,
      silentClient: false,
    },
    () => target,
  );
});
