/**
 * Joins, live publications and recovery across reconnects, over in-memory connections: each
 * missed publication arrives once and in order, also when live publications come in while the
 * history is being read.
 */
import { describe, expect, it } from 'vitest';
import { type JoinResult, MemoryHistory } from '../../src/channels/index.js';
import {
  connectTo,
  GatedHistory,
  makeServer,
  reconnect,
  record,
  refusal,
  until,
  wireOffsets,
} from './setup.js';

const text = (i: number) => ({ text: `m${String(i)}` });

describe('channels: join and publish', () => {
  it('a first join is not a recovery; publications reach every member in order, typed', async () => {
    const server = makeServer();
    const a = connectTo(server);
    const b = connectTo(server);
    const [ra, rb] = [a.client.channel('room'), b.client.channel('room')];
    const [got, gotB] = [record(ra), record(rb)];
    expect(await ra.join()).toEqual({ recovered: false, epoch: 'e1', offset: 0 });
    await rb.join();
    expect(ra.state).toBe('joined');
    expect(server.memberCount('room')).toBe(2);
    for (let i = 1; i <= 3; i++) await server.publish('room', 'chat', text(i));
    await got.count(3);
    await gotB.count(3);
    expect(got.items[0]).toEqual({
      kind: 'chat',
      data: { text: 'm1' },
      channel: 'room',
      epoch: 'e1',
      offset: 1,
    });
    expect(got.offsets()).toEqual([1, 2, 3]);
    expect(gotB.items.map((p) => p.kind === 'chat' && p.data.text)).toEqual(['m1', 'm2', 'm3']);
    expect(ra.position).toEqual({ epoch: 'e1', offset: 3 });
    expect(a.peer.channels).toEqual(['room']);
  });

  it('a client publishes through the server: authorised, validated, positioned, delivered to all', async () => {
    const asked: string[] = [];
    const server = makeServer({
      authorize: (peer, channel, action) => {
        asked.push(`${peer.context.name}:${channel}:${action}`);
        return channel !== 'readonly' || action === 'join';
      },
    });
    const a = connectTo(server);
    const room = a.client.channel('room');
    const got = record(room);
    await room.join();
    expect(await room.publish('chat', { text: 'hi' })).toEqual({ epoch: 'e1', offset: 1 });
    await got.count(1);
    expect(got.items[0]?.data).toEqual({ text: 'hi' });
    const ro = a.client.channel('readonly');
    await ro.join();
    expect((await refusal(ro.publish('chat', { text: 'no' }))).code).toBe('forbidden');
    // Invalid data is refused before it is kept.
    const bad = await refusal(room.publish('chat', { text: 5 } as never));
    expect([bad.code, bad.issues?.[0]?.path]).toEqual(['invalid_data', ['text']]);
    expect(asked).toEqual([
      'ada:room:join',
      'ada:room:publish',
      'ada:readonly:join',
      'ada:readonly:publish',
    ]);
    expect(a.client.connection?.state).toBe('open');
  });

  it('a refused join rejects with forbidden; authorize throwing refuses too (fail closed)', async () => {
    const errors: Error[] = [];
    const server = makeServer({
      authorize: (_peer, channel) => {
        if (channel === 'boom') throw new Error('hook bug');
        return channel.startsWith('public:');
      },
      error: (_peer, error) => errors.push(error),
    });
    const { client } = connectTo(server);
    const secret = client.channel('secret');
    const error = await refusal(secret.join());
    expect([error.code, error.channel, secret.state]).toEqual(['forbidden', 'secret', 'left']);
    expect((await refusal(client.channel('boom').join())).code).toBe('forbidden');
    expect(errors.map((e) => e.message)).toEqual(['hook bug']);
    expect(server.memberCount('secret')).toBe(0);
    expect((await client.channel('public:x').join()).recovered).toBe(false);
  });

  it('a connection joins at most maxChannels channels: too_many_channels past it', async () => {
    const server = makeServer({ maxChannels: 2 });
    const { client, conn } = connectTo(server);
    await client.channel('a').join();
    await client.channel('b').join();
    const error = await refusal(client.channel('c').join());
    expect([error.code, error.channel]).toEqual(['too_many_channels', 'c']);
    client.channel('a').leave();
    expect((await client.channel('c').join()).recovered).toBe(false);
    expect(conn.state).toBe('open');
    expect(() => makeServer({ maxChannels: 0 })).toThrow(RangeError);
  });

  it('a leave stops publications; a later join recovers what was published meanwhile', async () => {
    const server = makeServer();
    const { client } = connectTo(server);
    const room = client.channel('room');
    const got = record(room);
    await room.join();
    await server.publish('room', 'chat', text(1));
    await got.count(1);
    room.leave();
    await until(() => server.memberCount('room') === 0);
    await server.publish('room', 'chat', text(2));
    await server.publish('room', 'chat', text(3));
    expect(await room.join()).toEqual({ recovered: true, epoch: 'e1', offset: 1 });
    await got.count(3);
    expect(got.offsets()).toEqual([1, 2, 3]);
  });

  it('leave while the join waits rejects it with not_joined', async () => {
    const history = new GatedHistory('late');
    const server = makeServer({ history });
    const { client } = connectTo(server);
    const room = client.channel('room');
    const joining = room.join();
    await until(() => history.waiting === 1);
    room.leave();
    expect((await refusal(joining)).code).toBe('not_joined');
    history.release();
    await until(() => server.memberCount('room') === 0);
  });
});

/** A client that joined 'room', got publication 1, and then lost its connection. */
async function joinedThenDropped(server: ReturnType<typeof makeServer>) {
  const first = connectTo(server);
  const room = first.client.channel('room');
  const got = record(room);
  await room.join();
  await server.publish('room', 'chat', text(1));
  await got.count(1);
  first.conn.terminate();
  await until(() => server.memberCount('room') === 0);
  return { first, room, got };
}

describe('channels: recovery across a reconnect', () => {
  it('replays what was missed, once, in order, then goes live', async () => {
    const server = makeServer();
    const first = connectTo(server);
    const room = first.client.channel('room');
    const got = record(room);
    const joins: boolean[] = [];
    room.on('joined', (r) => joins.push(r.recovered));
    await room.join();
    for (let i = 1; i <= 3; i++) await server.publish('room', 'chat', text(i));
    await got.count(3);
    first.conn.terminate();
    await until(() => server.memberCount('room') === 0);
    expect(room.state).toBe('joining');
    for (let i = 4; i <= 8; i++) await server.publish('room', 'chat', text(i));
    const second = reconnect(server, first.client, first);
    await got.count(8);
    await server.publish('room', 'chat', text(9));
    await got.count(9);
    expect(got.offsets()).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(got.items.map((p) => p.kind === 'chat' && p.data.text)).toEqual(
      Array.from({ length: 9 }, (_, i) => `m${String(i + 1)}`),
    );
    expect(joins).toEqual([false, true]);
    expect(second.peer.channels).toEqual(['room']);
  });

  for (const snapshot of ['early', 'late'] as const) {
    it(`live publications during the replay: no gap, no duplicate (history read ${snapshot})`, async () => {
      const history = new GatedHistory(snapshot);
      const server = makeServer({ history });
      const first = connectTo(server);
      const room = first.client.channel('room');
      const got = record(room);
      const joining = room.join();
      await until(() => history.waiting === 1);
      history.release();
      await joining;
      for (let i = 1; i <= 2; i++) await server.publish('room', 'chat', text(i));
      await got.count(2);
      first.conn.terminate();
      await until(() => server.memberCount('room') === 0);
      for (let i = 3; i <= 5; i++) await server.publish('room', 'chat', text(i)); // missed
      const second = reconnect(server, first.client, first);
      await until(() => history.waiting === 1); // the re-join's read is under way…
      for (let i = 6; i <= 9; i++) await server.publish('room', 'chat', text(i)); // …and these are live
      expect(got.items.length).toBe(2); // held until the replay is out
      history.release();
      await got.count(9);
      await server.publish('room', 'chat', text(10));
      await got.count(10);
      expect(got.offsets()).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
      expect(wireOffsets(second.serverTransport)).toEqual([3, 4, 5, 6, 7, 8, 9, 10]);
    });
  }

  it('many interleavings of publishes, reads and reconnects: each offset exactly once, in order', async () => {
    // A small deterministic generator, so that a failure reproduces.
    let seed = 12345;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return (seed >>> 16) % n;
    };
    let totalReconnects = 0;
    for (let round = 0; round < 20; round++) {
      const history = new GatedHistory(rand(2) === 0 ? 'early' : 'late');
      const server = makeServer({ history });
      let link = connectTo(server);
      const links = [link];
      const room = link.client.channel('room');
      const got = record(room);
      const joining = room.join();
      let published = 0;
      let reconnects = 0;
      for (let step = 0; step < 30; step++) {
        const op = rand(4);
        if (op === 0) {
          published++;
          await server.publish('room', 'chat', text(published));
        } else if (op === 1) history.release();
        else if (op === 2) {
          // Also while a join is still reading: the old read finds its member gone.
          link = reconnect(server, link.client, link);
          links.push(link);
          reconnects++;
        } else {
          for (let i = rand(5); i > 0; i--) await Promise.resolve();
        }
      }
      history.open();
      await joining;
      await until(() => room.state === 'joined');
      published++;
      await server.publish('room', 'chat', text(published));
      await until(() => room.position?.offset === published);
      const offsets = got.offsets();
      // A first join starts at the top at that time: what follows is contiguous and ends at the last.
      const start = offsets[0] ?? published;
      expect(offsets).toEqual(Array.from({ length: published - start + 1 }, (_, i) => start + i));
      // On the wire too, each connection got consecutive offsets: the server sent no duplicate.
      for (const { serverTransport } of links) {
        const sent = wireOffsets(serverTransport);
        expect(sent).toEqual(sent.map((_, i) => (sent[0] ?? 0) + i));
      }
      totalReconnects += reconnects;
    }
    expect(totalReconnects).toBeGreaterThan(20);
  });

  it('recovered: false when the history no longer holds the position; live continues after', async () => {
    const server = makeServer({ history: new MemoryHistory({ maxLength: 3, epoch: () => 'e1' }) });
    const { first, room, got } = await joinedThenDropped(server);
    for (let i = 2; i <= 10; i++) await server.publish('room', 'chat', text(i));
    const joined = new Promise((resolve) => room.on('joined', resolve));
    reconnect(server, first.client, first);
    expect(await joined).toEqual({ recovered: false, epoch: 'e1', offset: 10 });
    await server.publish('room', 'chat', text(11));
    await got.count(2);
    expect(got.offsets()).toEqual([1, 11]);
  });

  it('recovered: false when the epoch changed (a restarted history)', async () => {
    let epoch = 'e1';
    const history = new MemoryHistory({ epoch: () => epoch });
    const server = makeServer({ history });
    const { first, room, got } = await joinedThenDropped(server);
    epoch = 'e2';
    history.reset('room');
    await server.publish('room', 'chat', text(2)); // offset 1 of e2
    const joined = new Promise((resolve) => room.on('joined', resolve));
    reconnect(server, first.client, first);
    expect(await joined).toEqual({ recovered: false, epoch: 'e2', offset: 1 });
    await server.publish('room', 'chat', text(3));
    await got.count(2);
    expect(got.items.map((p) => [p.epoch, p.offset])).toEqual([
      ['e1', 1],
      ['e2', 2],
    ]);
  });

  it('an epoch change under a live member resets it with a joined (recovered: false)', async () => {
    let epoch = 'e1';
    const history = new MemoryHistory({ epoch: () => epoch });
    const server = makeServer({ history });
    const { client } = connectTo(server);
    const room = client.channel('room');
    const got = record(room);
    const joins: JoinResult[] = [];
    room.on('joined', (r) => joins.push(r));
    await room.join();
    await server.publish('room', 'chat', text(1));
    await server.publish('room', 'chat', text(2));
    await got.count(2);
    const before = got.items.length;
    epoch = 'e2';
    history.reset('room');
    await server.publish('room', 'chat', text(3)); // e2 offset 1
    await server.publish('room', 'chat', text(4)); // e2 offset 2
    await until(() => room.position?.epoch === 'e2' && room.position.offset === 2);
    // The server resets the member (a joined without id) at e2's top when it noticed the change;
    // what follows that position arrives, each once.
    const reset = joins.at(-1);
    expect(joins.length).toBe(2);
    expect(reset).toMatchObject({ recovered: false, epoch: 'e2' });
    const after = got.items.slice(before).map((p) => `${p.epoch}:${String(p.offset)}`);
    const from = (reset?.offset ?? 0) + 1;
    expect(after).toEqual(Array.from({ length: 3 - from }, (_, i) => `e2:${String(from + i)}`));
    expect(got.items.slice(0, before).map((p) => p.offset)).toEqual([1, 2]);
  });

  it('a history that fails a join answers history_unavailable; the connection stays open', async () => {
    const history = new MemoryHistory();
    const server = makeServer({
      history: {
        append: (c, k, d) => history.append(c, k, d),
        read: () => Promise.reject(new Error('down')),
      },
    });
    const { client } = connectTo(server);
    const error = await refusal(client.channel('room').join());
    expect(error.code).toBe('history_unavailable');
    expect(server.memberCount('room')).toBe(0);
    expect(client.connection?.state).toBe('open');
  });
});
