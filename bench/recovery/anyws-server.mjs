// The anyws side of the recovery bench: @anyws/node serving a ChannelServer whose history is a
// RedisHistory (a stream per channel) and whose bus is a RedisTopics, on REDIS_URL. Forked by
// recovery.mjs; commands over IPC (common.mjs).
import { ChannelServer, defineMessages } from '@anyws/core/channels';
import { serve } from '@anyws/node';
import { RedisHistory, RedisTopics } from '@anyws/redis';
import { ownRoom, payload, publishMissed, serveCommands } from './common.mjs';

/** A Standard Schema for the bench's data, written out: the bench needs no validator package. */
const data = {
  '~standard': {
    version: 1,
    vendor: 'bench',
    validate: (value) =>
      typeof value?.room === 'string' && Number.isSafeInteger(value?.seq)
        ? { value }
        : { issues: [{ message: 'expected { room, seq }' }] },
  },
};
const messages = defineMessages({ m: { data } });

const url = process.env.REDIS_URL;
const bus = await RedisTopics.connect({ url });
const history = await RedisHistory.connect({ url });
const channels = new ChannelServer({ messages, authorize: () => true, bus, history });
let connected = 0;
const server = await serve({
  hostname: '127.0.0.1',
  port: 0,
  topics: bus,
  handler: channels.handler({
    open() {
      connected++;
    },
    close() {
      connected--;
    },
  }),
});

serveCommands({
  connected: () => connected,
  live: async ({ clients, seq }) => {
    const sent = [];
    for (let i = 0; i < clients; i++)
      sent.push(channels.publish(ownRoom(i), 'm', payload(ownRoom(i), seq)));
    await Promise.all(sent);
  },
  missed: (plan) =>
    publishMissed(
      plan,
      (room, d) => channels.publish(room, 'm', d),
      () => undefined,
    ),
});
process.send({ ready: server.port });
