// @anyws/node with a RedisTopics (REDIS_URL): the server of the cross-process broadcast
// (cluster.mjs). Same protocol as the others: /sub subscribes to the topic, each message on
// /pub is published to it (every process), any other path echoes.
import { serve } from '@anyws/node';
import { RedisTopics } from '@anyws/redis';
import { HOST, port, ready } from './_common.mjs';

const topics = await RedisTopics.connect({ url: process.env.REDIS_URL });
const routes = {
  '/sub': {
    async session(conn) {
      conn.subscribe('bench');
      await conn.whenClosed;
    },
  },
  '/pub': {
    async session(conn) {
      for await (const message of conn) conn.publish('bench', message.data);
    },
  },
};
const echo = {
  async session(conn) {
    for await (const message of conn) await conn.send(message.data);
  },
};
const server = await serve({
  port,
  hostname: HOST,
  topics,
  handler: (request) => routes[new URL(request.url).pathname] ?? echo,
});
ready(server.port);
