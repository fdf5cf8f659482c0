/**
 * Channels on real Node sockets: a client whose connection drops gets, after it reconnects with
 * its position, every publication made meanwhile, once and in order, then the live ones.
 */
import { ChannelClient, ChannelServer, type Publication } from '@anyws/core/channels';
import { chatMessages as messages } from '@anyws/core/contract';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type RunningServer, serve } from '../src/index.js';

const channels = new ChannelServer({
  messages,
  authorize: (_peer, channel) => channel === 'room',
});
let server: RunningServer;

beforeAll(async () => {
  server = await serve({ hostname: '127.0.0.1', handler: channels.handler() });
});
afterAll(async () => {
  await server.close();
});

/** Resolves once `predicate` holds, checked on each event of `subscribe`; bounded by `ms`. */
function when(subscribe: (check: () => void) => () => void, predicate: () => boolean, ms = 5000) {
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error('condition not reached in time'));
    }, ms);
    const off = subscribe(() => {
      if (!predicate()) return;
      clearTimeout(timer);
      off();
      resolve();
    });
    queueMicrotask(() => {
      if (predicate()) {
        clearTimeout(timer);
        off();
        resolve();
      }
    });
  });
}

describe('channels over Node sockets', () => {
  it('a dropped client reconnects with its position and gets each missed message once, in order', async () => {
    const sender = new ChannelClient({ messages }, await connect(`${server.url}/`));
    const senderRoom = sender.channel('room');
    await senderRoom.join();

    const reader = new ChannelClient({ messages }, await connect(`${server.url}/`));
    const room = reader.channel('room');
    const got: Publication<typeof messages>[] = [];
    const joins: boolean[] = [];
    room.on('joined', (r) => joins.push(r.recovered));
    await room.join();
    const arrived = (n: number) =>
      when(
        (check) => room.on('publication', check),
        () => got.length >= n,
      );
    room.on('publication', (p) => got.push(p));

    for (let i = 1; i <= 3; i++) await senderRoom.publish('chat', { text: `m${String(i)}` });
    await arrived(3);

    // The reader's TCP connection is cut; the server notices and drops it from the channel.
    reader.connection?.terminate();
    await when(
      (check) => {
        const timer = setInterval(check, 5);
        return () => clearInterval(timer);
      },
      () => channels.memberCount('room') === 1,
    );
    expect(room.state).toBe('joining');

    for (let i = 4; i <= 20; i++) await senderRoom.publish('chat', { text: `m${String(i)}` });

    reader.attach(await connect(`${server.url}/`));
    await arrived(20);
    await senderRoom.publish('chat', { text: 'm21' });
    await arrived(21);

    expect(got.map((p) => p.offset)).toEqual(Array.from({ length: 21 }, (_, i) => i + 1));
    expect(got.map((p) => p.data.text)).toEqual(
      Array.from({ length: 21 }, (_, i) => `m${String(i + 1)}`),
    );
    expect(joins).toEqual([false, true]);
    expect(room.position?.offset).toBe(21);

    await sender.connection?.close();
    await reader.connection?.close();
  });

  it('a refused join and an invalid publish get typed errors; the connection keeps serving', async () => {
    const client = new ChannelClient({ messages }, await connect(`${server.url}/`));
    await expect(client.channel('secret').join()).rejects.toMatchObject({ code: 'forbidden' });
    const room = client.channel('room');
    await room.join();
    await expect(room.publish('chat', { text: 5 } as never)).rejects.toMatchObject({
      code: 'invalid_data',
      issues: [{ message: 'expected { text: string }', path: ['text'] }],
    });
    expect((await room.publish('chat', { text: 'ok' })).offset).toBeGreaterThan(0);
    expect(client.connection?.state).toBe('open');
    await client.connection?.close();
  });

  it('a message the server sends at open reaches a client made after connect resolved', async () => {
    // Messages that arrive before the channel client listens wait in the connection's queue and
    // go to its first message listener. Both are sent in one tick, so they leave in one write
    // and arrive in one read: once the first is read, the second is already queued.
    const greeter = new ChannelServer({ messages, authorize: () => false });
    const greeting = await serve({
      hostname: '127.0.0.1',
      handler: greeter.handler({
        open: (conn) => {
          void conn.sendText('first');
          void conn.sendText('second');
        },
      }),
    });
    const conn = await connect(`${greeting.url}/`);
    expect(await conn.receiveText()).toBe('first');
    const client = new ChannelClient({ messages }, conn);
    const raw: unknown[] = [];
    await when(
      (check) =>
        client.on('raw', (message) => {
          raw.push(message.data);
          check();
        }),
      () => raw.length === 1,
    );
    expect(raw).toEqual(['second']);
    await conn.close();
    await greeting.close();
  });
});
