/**
 * Channels on Deno (Deno.upgradeWebSocket server, Deno's WebSocket client): a client whose
 * connection drops reconnects with its position and gets every publication made meanwhile, once
 * and in order (MemoryHistory), then the live ones.
 */
import {
  ChannelClient,
  ChannelServer,
  type JoinResult,
  type Publication,
} from '@anyws/core/channels';
import { chatMessages as messages, until, wireOffsets } from '@anyws/core/contract';
import { connect, serve } from '../src/index.ts';
import { assert, assertEquals, options } from './assert.ts';

const range = (from: number, to: number) =>
  Array.from({ length: to - from + 1 }, (_, i) => from + i);

Deno.test(
  'channels on Deno: a dropped client reconnects with its position and gets each missed message once, in order',
  options,
  async () => {
    const channels = new ChannelServer({
      messages,
      authorize: (_peer, channel) => channel === 'room',
    });
    const server = await serve({ hostname: '127.0.0.1', port: 0, handler: channels.handler() });
    const url = `ws://127.0.0.1:${String(server.port)}/`;
    try {
      const client = new ChannelClient({ messages });
      const conn = await connect(url);
      const before = wireOffsets(conn);
      client.attach(conn);
      const room = client.channel('room');
      const got: Publication<typeof messages>[] = [];
      const joins: JoinResult[] = [];
      room.on('publication', (p) => got.push(p));
      room.on('joined', (r) => joins.push(r));
      assertEquals((await room.join()).recovered, false, 'a first join recovers nothing');

      for (const i of range(1, 3))
        await channels.publish('room', 'chat', { text: `m${String(i)}` });
      await until(() => got.length === 3, 'three live publications');

      // The connection drops; the server notices and takes it out of the channel.
      conn.terminate();
      await until(() => channels.memberCount('room') === 0, 'the server to see the drop');
      assertEquals(room.state, 'joining', 'the channel waits for the next connection');
      for (const i of range(4, 30))
        await channels.publish('room', 'chat', { text: `m${String(i)}` });

      const conn2 = await connect(url);
      const after = wireOffsets(conn2);
      client.attach(conn2);
      await until(() => got.length === 30, 'the missed publications');
      await channels.publish('room', 'chat', { text: 'm31' });
      await until(() => got.length === 31, 'a live publication after the recovery');

      assertEquals(
        JSON.stringify(got.map((p) => p.offset)),
        JSON.stringify(range(1, 31)),
        'offsets',
      );
      assertEquals(
        JSON.stringify(got.map((p) => p.data.text)),
        JSON.stringify(range(1, 31).map((i) => `m${String(i)}`)),
        'texts',
      );
      assertEquals(JSON.stringify(before), JSON.stringify([1, 2, 3]), 'first connection, wire');
      assertEquals(JSON.stringify(after), JSON.stringify(range(4, 31)), 'second connection, wire');
      assert(
        joins.length === 2 && joins[1]?.recovered === true && joins[1].offset === 3,
        `the re-join recovered from 3: ${JSON.stringify(joins)}`,
      );
      await conn2.close();
    } finally {
      await server.close();
    }
  },
);
