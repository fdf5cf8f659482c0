/**
 * RedisHistory on a real redis-server: dense offsets, bounds, epochs that change when the
 * history is lost, typed errors while Redis is down, and ChannelServers on one Redis sharing it.
 */
import { ChannelClient, ChannelServer, type StreamPosition } from '@anyws/core/channels';
import { type ChatMessages as Messages, chatMessages as messages } from '@anyws/core/contract';
import { createPair } from '@anyws/core/testing';
import { createClient } from 'redis';
import { afterEach, describe, expect, it } from 'vitest';
import { RedisHistory, RedisHistoryError, type RedisHistoryOptions } from '../src/index.js';
import { record } from './channels-setup.js';
import { until, useRedis } from './helpers.js';

const { redis, buses } = useRedis();
const opened: RedisHistory[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((h) => h.close()));
});

async function history(options: RedisHistoryOptions = {}): Promise<RedisHistory> {
  const made = await RedisHistory.connect({ url: redis().url, ...options });
  opened.push(made);
  return made;
}

/** A plain client, to look at (and break) the keys. */
async function raw() {
  const client = createClient({ url: redis().url });
  client.on('error', () => undefined);
  await client.connect();
  return client;
}

let serial = 0;
/** A channel name no other test uses (they share one Redis). */
const fresh = (name: string) => `${name}:${String(++serial)}`;
const chat = (i: number) => ({ text: `m${String(i)}` });

describe('RedisHistory: append and read', () => {
  it('offsets are dense from 1 in one epoch; a read returns what came after a position, in order', async () => {
    const h = await history();
    const ch = fresh('room');
    const first = await h.read(ch);
    expect(first).toMatchObject({ recovered: false, offset: 0 });
    const { epoch } = first;
    const positions: StreamPosition[] = [];
    for (let i = 1; i <= 5; i++) positions.push(await h.append(ch, 'chat', chat(i)));
    expect(positions).toEqual([1, 2, 3, 4, 5].map((offset) => ({ epoch, offset })));
    expect(await h.read(ch, { epoch, offset: 0 })).toEqual({
      recovered: true,
      epoch,
      offset: 5,
      entries: [1, 2, 3, 4, 5].map((o) => ({ offset: o, kind: 'chat', data: chat(o) })),
    });
    const tail = await h.read(ch, { epoch, offset: 3 });
    expect(tail.recovered && tail.entries.map((e) => e.offset)).toEqual([4, 5]);
    expect(await h.read(ch, { epoch, offset: 5 })).toEqual({
      recovered: true,
      epoch,
      offset: 5,
      entries: [],
    });
    // Ahead of the channel, another epoch, or no position: not recovered, current position.
    for (const since of [{ epoch, offset: 6 }, { epoch: 'other', offset: 2 }, undefined])
      expect(await h.read(ch, since)).toEqual({ recovered: false, epoch, offset: 5 });
    // Channels are apart; data keeps its JSON shape.
    const other = fresh('room');
    const p = await h.append(other, 'chat', { text: 'x', n: [1, null, { deep: true }] });
    expect(p.offset).toBe(1);
    expect(p.epoch).not.toBe(epoch);
    await h.append(other, 'chat', undefined);
    const read = await h.read(other, { epoch: p.epoch, offset: 0 });
    // No data stays no data (not null).
    expect(read.recovered && read.entries[1]).toEqual({ offset: 2, kind: 'chat', data: undefined });
    expect(read.recovered && read.entries[0]?.data).toEqual({
      text: 'x',
      n: [1, null, { deep: true }],
    });
  });

  it('two histories (two processes) appending to one channel share one dense sequence', async () => {
    const [a, b] = [await history(), await history()];
    const ch = fresh('shared');
    const appends = Array.from({ length: 40 }, (_, i) =>
      (i % 2 === 0 ? a : b).append(ch, 'chat', chat(i)),
    );
    const positions = await Promise.all(appends);
    expect(new Set(positions.map((p) => p.epoch)).size).toBe(1);
    expect(positions.map((p) => p.offset).sort((x, y) => x - y)).toEqual(
      Array.from({ length: 40 }, (_, i) => i + 1),
    );
    const read = await b.read(ch, { epoch: positions[0]!.epoch, offset: 0 });
    // Each entry is the one appended with that offset.
    const byOffset = new Map(positions.map((p, i) => [p.offset, chat(i)]));
    expect(read.recovered && read.entries.map((e) => [e.offset, e.data])).toEqual(
      [...byOffset.entries()].sort((x, y) => x[0] - y[0]),
    );
  });
});

describe('RedisHistory: bounds', () => {
  it('past maxLength a position is not recovered; Redis holds a bounded stream', async () => {
    const h = await history({ maxLength: 5 });
    const ch = fresh('long');
    let epoch = '';
    for (let i = 1; i <= 300; i++) epoch = (await h.append(ch, 'chat', chat(i))).epoch;
    expect(await h.read(ch, { epoch, offset: 294 })).toEqual({
      recovered: false,
      epoch,
      offset: 300,
    });
    const kept = await h.read(ch, { epoch, offset: 295 });
    expect(kept.recovered && kept.entries.map((e) => e.offset)).toEqual([296, 297, 298, 299, 300]);
    const client = await raw();
    try {
      // MAXLEN ~ trims whole nodes (100 entries by default): far less than 300, at least 5.
      const length = await client.xLen(`anyws:h:{${ch}}`);
      expect(length).toBeGreaterThanOrEqual(5);
      expect(length).toBeLessThan(300);
      // Both keys expire after the idle TTL (a day by default).
      for (const key of [`anyws:h:{${ch}}`, `anyws:h:{${ch}}:e`]) {
        const ttl = await client.pTTL(key);
        expect(ttl).toBeGreaterThan(0);
        expect(ttl).toBeLessThanOrEqual(86_400_000);
      }
    } finally {
      client.destroy();
    }
  });

  it('past maxAge a position is not recovered; the epoch and offset stay', async () => {
    const h = await history({ maxAge: 300 });
    const ch = fresh('old');
    const { epoch } = await h.append(ch, 'chat', chat(1));
    await until(
      async () => !(await h.read(ch, { epoch, offset: 0 })).recovered,
      'the entry to age out',
      5000,
    );
    // A client that missed nothing still recovers (its position is the last one).
    expect(await h.read(ch, { epoch, offset: 1 })).toEqual({
      recovered: true,
      epoch,
      offset: 1,
      entries: [],
    });
    expect(await h.read(ch, { epoch, offset: 0 })).toEqual({ recovered: false, epoch, offset: 1 });
  });

  it('bad bounds are a RangeError', async () => {
    await expect(RedisHistory.connect({ url: redis().url, maxLength: -1 })).rejects.toThrow(
      RangeError,
    );
    await expect(RedisHistory.connect({ url: redis().url, maxAge: 1.5 })).rejects.toThrow(
      RangeError,
    );
    await expect(
      RedisHistory.connect({ url: redis().url, maxAge: 10_000, idleTtl: 1000 }),
    ).rejects.toThrow(RangeError);
  });
});

describe('RedisHistory: epochs', () => {
  it('a deleted stream starts a new epoch: old positions are not recovered', async () => {
    const h = await history();
    const ch = fresh('deleted');
    let before = { epoch: '', offset: 0 };
    for (let i = 1; i <= 3; i++) before = await h.append(ch, 'chat', chat(i));
    const client = await raw();
    try {
      await client.del(`anyws:h:{${ch}}`);
    } finally {
      client.destroy();
    }
    const after = await h.read(ch, before);
    expect(after.recovered).toBe(false);
    expect(after.epoch).not.toBe(before.epoch);
    expect(after.offset).toBe(0);
    expect(await h.append(ch, 'chat', chat(4))).toEqual({ epoch: after.epoch, offset: 1 });
  });

  it('reset() forgets a channel: the next use has a new epoch', async () => {
    const h = await history();
    const ch = fresh('reset');
    const before = await h.append(ch, 'chat', chat(1));
    await h.reset(ch);
    const after = await h.append(ch, 'chat', chat(2));
    expect(after.offset).toBe(1);
    expect(after.epoch).not.toBe(before.epoch);
  });

  it('Redis down: append and read reject with a RedisHistoryError; after a restart without persistence the epoch is new', async () => {
    const h = await history({ timeout: 2000 });
    const ch = fresh('restart');
    const before = await h.append(ch, 'chat', chat(1));
    await redis().stop();
    try {
      const failed = await h.append(ch, 'chat', chat(2)).catch((e: unknown) => e);
      expect(failed).toBeInstanceOf(RedisHistoryError);
      expect((failed as RedisHistoryError).reason).toBe('unavailable');
      expect((failed as RedisHistoryError).channel).toBe(ch);
      await expect(h.read(ch, before)).rejects.toBeInstanceOf(RedisHistoryError);
    } finally {
      await redis().resume();
    }
    await until(() => h.connected, 'the history to reconnect');
    const after = await h.read(ch, before);
    expect(after.recovered).toBe(false);
    expect(after.epoch).not.toBe(before.epoch);
    expect(after.offset).toBe(0);
  });

  it('Redis hung (SIGSTOP): append and read reject with reason timeout', async () => {
    const h = await history({ timeout: 400 });
    const ch = fresh('hung');
    const position = await h.append(ch, 'chat', chat(1));
    process.kill(redis().pid, 'SIGSTOP');
    try {
      for (const attempt of [h.append(ch, 'chat', chat(2)), h.read(ch, position)])
        await expect(attempt).rejects.toMatchObject({
          name: 'RedisHistoryError',
          reason: 'timeout',
        });
    } finally {
      process.kill(redis().pid, 'SIGCONT');
    }
  });

  it('connect to a Redis that is not there rejects with unavailable, within the timeout', async () => {
    const error = await RedisHistory.connect({ url: 'redis://127.0.0.1:1', timeout: 500 }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(RedisHistoryError);
    expect((error as RedisHistoryError).reason).toBe('unavailable');
  });
});

describe('two ChannelServers on one Redis (RedisTopics + RedisHistory)', () => {
  async function node() {
    const [bus] = await buses(1);
    const server = new ChannelServer<Messages>({
      messages,
      authorize: () => true,
      bus: bus!,
      history: await history(),
    });
    return {
      server,
      connect(client: ChannelClient<Messages>) {
        const pair = createPair({ topics: bus! });
        server.serve(pair.server);
        client.attach(pair.client);
        return pair;
      },
    };
  }

  it('a client moves between servers and recovers what either published, once, in order', async () => {
    const [a, b] = [await node(), await node()];
    const ch = fresh('room');
    const client = new ChannelClient({ messages });
    const room = client.channel(ch);
    const got = record(room);
    const first = a.connect(client);
    expect((await room.join()).recovered).toBe(false);
    for (let i = 1; i <= 3; i++) await b.server.publish(ch, 'chat', chat(i));
    await got.count(3);
    // The connection drops; both servers publish meanwhile.
    first.client.terminate();
    await until(() => a.server.memberCount(ch) === 0, 'server a to see the drop');
    for (let i = 4; i <= 10; i++) await (i % 2 ? a : b).server.publish(ch, 'chat', chat(i));
    const joined = new Promise((resolve) => room.on('joined', resolve));
    b.connect(client);
    expect(await joined).toMatchObject({ recovered: true, offset: 3 });
    await got.count(10);
    // Live again, from either server.
    await a.server.publish(ch, 'chat', chat(11));
    await got.count(11);
    expect(got.offsets()).toEqual(Array.from({ length: 11 }, (_, i) => i + 1));
    expect(got.texts()).toEqual(Array.from({ length: 11 }, (_, i) => `m${String(i + 1)}`));
  });

  it('Redis down: a join is answered history_unavailable and the connection keeps serving', async () => {
    const { server, connect } = await node();
    const errors: Error[] = [];
    const client = new ChannelClient({ messages });
    client.on('error', (e) => errors.push(e));
    const pair = connect(client);
    const ch = fresh('down');
    await redis().stop();
    try {
      await expect(client.channel(ch).join()).rejects.toMatchObject({
        code: 'history_unavailable',
      });
      await expect(server.publish(ch, 'chat', chat(1))).rejects.toBeInstanceOf(RedisHistoryError);
    } finally {
      await redis().resume();
    }
    expect(pair.client.state).toBe('open');
    await until(() => server.history instanceof RedisHistory && server.history.connected, 'back');
    const room = client.channel(ch);
    const got = record(room);
    expect((await room.join()).recovered).toBe(false);
    await server.publish(ch, 'chat', chat(2));
    await got.count(1);
    expect(errors).toEqual([]);
  });

  it('concurrent publishes from both servers reach members of both, each offset once, in order', async () => {
    const [a, b] = [await node(), await node()];
    const ch = fresh('busy');
    const clients = [new ChannelClient({ messages }), new ChannelClient({ messages })];
    const rooms = clients.map((c) => c.channel(ch));
    const gots = rooms.map(record);
    a.connect(clients[0]!);
    b.connect(clients[1]!);
    await Promise.all(rooms.map((r) => r.join()));
    await Promise.all(
      Array.from({ length: 50 }, (_, i) => (i % 2 ? a : b).server.publish(ch, 'chat', chat(i))),
    );
    for (const got of gots) {
      await got.count(50);
      expect(got.offsets()).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
      expect(new Set(got.texts()).size).toBe(50);
    }
  });
});
