/**
 * Channels in a Durable Object room in real workerd (Miniflare): RoomChannels over
 * DurableObjectHistory. A dropped client reconnects with its position and gets each missed
 * publication once, in order, then live ones: while the object lives, across a reset of the
 * object and across a restart of workerd (storage kept on disk), and while publications race
 * the rejoin; with the storage wiped or the history trimmed past its position it is told
 * `recovered: false`. A member stays a member while the object is evicted (hibernation).
 * The clients are @anyws/node's.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ChannelClient, type JoinResult, type Publication } from '@anyws/core/channels';
import { chatMessages as messages, wireOffsets } from '@anyws/core/contract';
import { connect } from '@anyws/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOM_HISTORY_LENGTH as MAX_LENGTH } from './fixtures/channels-messages.js';
import { range, until } from './helpers/channels.js';
import { startWorkerd, type Workerd } from './helpers/workerd.js';

const FIXTURE = fileURLToPath(new URL('./fixtures/channels-room-worker.ts', import.meta.url));
const persist = mkdtempSync(join(tmpdir(), 'anyws-room-channels-'));
const start = (port?: number) =>
  startWorkerd(FIXTURE, {
    durableObjects: {
      CHANNELS: 'ChannelsRoom',
      SLOW: 'SlowChannelsRoom',
      AGING: 'AgingChannelsRoom',
    },
    persist,
    ...(port === undefined ? {} : { port }),
  });

let workerd: Workerd;
beforeAll(async () => {
  workerd = await start();
});
afterAll(async () => {
  await workerd?.dispose();
  rmSync(persist, { recursive: true, force: true });
});

/** A room of its own per test: names never repeat, so neither do histories. */
let rooms = 0;
function room(kind: 'room' | 'slow' | 'aging' = 'room') {
  const base = `/${kind}/r${String(Date.now())}-${String(++rooms)}`;
  const command = async (name: string, query = ''): Promise<string> => {
    const response = await fetch(`${workerd.http}${base}/${name}${query}`);
    const text = await response.text();
    if (!response.ok) throw new Error(`${name}: ${String(response.status)} ${text}`);
    return text;
  };
  return {
    url: () => `${workerd.ws}${base}/ws`,
    command,
    members: async () => Number(await command('members')),
    /** Publishes from the room itself (`RoomChannels.publish`). */
    publish: (text: string) => command('publish', `?text=${encodeURIComponent(text)}`),
    /** Resets the object (`ctx.abort()`) and waits for a new instance. */
    async reset(what: 'restart' | 'wipe'): Promise<void> {
      const before = await command('instance');
      await command(what);
      await until(async () => (await command('instance')) !== before, 'a new instance');
    },
  };
}

/** A reading client of the channel `room`, recording what it got. */
async function reader(url: string) {
  const client = new ChannelClient({ messages });
  const got: Publication<typeof messages>[] = [];
  const joins: JoinResult[] = [];
  const channel = client.channel('room');
  channel.on('publication', (p) => got.push(p));
  channel.on('joined', (r) => joins.push(r));
  const conn = await connect(url);
  const wires = [wireOffsets(conn)];
  client.attach(conn);
  await channel.join();
  return {
    client,
    channel,
    got,
    joins,
    wires,
    texts: () => got.map((p) => p.data.text),
    /**
     * Attaches a new connection: the client joins again with its position. `during` runs
     * once the join is sent.
     */
    async reconnect(to: string, during?: () => Promise<unknown>): Promise<void> {
      const next = await connect(to);
      wires.push(wireOffsets(next));
      client.attach(next);
      await during?.();
      await until(() => joins.length === wires.length, 'the join on the new connection');
    },
    close: () => client.connection?.close(),
  };
}

const texts = (from: number, to: number) => range(from, to).map((i) => `m${String(i)}`);

describe('channels in a Durable Object room (workerd)', () => {
  it('a dropped client reconnects with its position and gets each missed message once, in order', async () => {
    const r = room();
    const sender = new ChannelClient({ messages }, await connect(r.url()));
    const senderRoom = sender.channel('room');
    await senderRoom.join();
    const a = await reader(r.url());
    expect(a.joins[0]).toMatchObject({ recovered: false, offset: 0 });

    for (const i of range(1, 3)) await senderRoom.publish('chat', { text: `m${String(i)}` });
    await until(() => a.got.length === 3, 'three live publications');
    a.client.connection?.terminate();
    await until(async () => (await r.members()) === 1, 'the room to see the drop');
    // Missed: publications of a client and of the room itself.
    for (const i of range(4, 10)) await senderRoom.publish('chat', { text: `m${String(i)}` });
    for (const i of range(11, 15)) await r.publish(`m${String(i)}`);

    await a.reconnect(r.url());
    await until(() => a.got.length === 15, 'the missed publications');
    await senderRoom.publish('chat', { text: 'm16' });
    await until(() => a.got.length === 16, 'a live publication after the recovery');

    expect(a.texts()).toEqual(texts(1, 16));
    expect(a.got.map((p) => p.offset)).toEqual(range(1, 16));
    expect(a.wires).toEqual([range(1, 3), range(4, 16)]);
    expect(new Set(a.got.map((p) => p.epoch)).size).toBe(1);
    expect(a.joins.map((j) => [j.recovered, j.offset])).toEqual([
      [false, 0],
      [true, 3],
    ]);
    await Promise.all([sender.connection?.close(), a.close()]);
  });

  it('a rejoin while publications race it gets each one once: no gap, no duplicate', async () => {
    // History reads that wait 100 ms: the publications below come in while the join is read.
    const r = room('slow');
    const sender = new ChannelClient({ messages }, await connect(r.url()));
    const senderRoom = sender.channel('room');
    await senderRoom.join();
    const a = await reader(r.url());
    await senderRoom.publish('chat', { text: 'm1' });
    await until(() => a.got.length === 1, 'the first publication');
    a.client.connection?.terminate();
    await until(async () => (await r.members()) === 1, 'the room to see the drop');
    for (const i of range(2, 10)) await senderRoom.publish('chat', { text: `m${String(i)}` });

    // Publications in flight while the reader joins again (all within the history's bound).
    await a.reconnect(r.url(), () =>
      Promise.all(range(11, 38).map((i) => senderRoom.publish('chat', { text: `m${String(i)}` }))),
    );
    await until(() => a.got.length === 38, 'every publication');
    expect(a.got.map((p) => p.offset)).toEqual(range(1, 38));
    expect(a.texts()).toEqual(texts(1, 38));
    expect(a.wires[1]).toEqual(range(2, 38));
    expect(a.joins[1]).toMatchObject({ recovered: true, offset: 1 });
    await Promise.all([sender.connection?.close(), a.close()]);
  });

  it('recovers across a reset of the object, and across a restart of workerd (storage kept)', async () => {
    const r = room();
    const a = await reader(r.url());
    const { epoch } = a.joins[0]!;
    for (const i of range(1, 3)) await r.publish(`m${String(i)}`);
    await until(() => a.got.length === 3, 'three live publications');
    a.client.connection?.terminate();
    await until(async () => (await r.members()) === 0, 'the room to see the drop');
    for (const i of range(4, 6)) await r.publish(`m${String(i)}`);

    await r.reset('restart');
    for (const i of range(7, 9)) await r.publish(`m${String(i)}`);
    await a.reconnect(r.url());
    await until(() => a.got.length === 9, 'the publications missed across the reset');
    expect(a.joins[1]).toMatchObject({ recovered: true, epoch, offset: 3 });

    // workerd itself restarts on the same port; the storage is on disk.
    a.client.connection?.terminate();
    const port = workerd.port;
    await workerd.dispose();
    workerd = await start(port);
    for (const i of range(10, 12)) await r.publish(`m${String(i)}`);
    await a.reconnect(r.url());
    await until(() => a.got.length === 12, 'the publications missed across the restart');
    await r.publish('m13');
    await until(() => a.got.length === 13, 'a live publication');

    expect(a.texts()).toEqual(texts(1, 13));
    expect(a.wires).toEqual([range(1, 3), range(4, 9), range(10, 13)]);
    expect(a.joins.map((j) => [j.recovered, j.epoch, j.offset])).toEqual([
      [false, epoch, 0],
      [true, epoch, 3],
      [true, epoch, 9],
    ]);
    await a.close();
  });

  it('with the storage wiped, or the history trimmed past its position, a client is told recovered: false', async () => {
    const r = room();
    const a = await reader(r.url());
    const first = a.joins[0]!.epoch;
    for (const i of range(1, 2)) await r.publish(`m${String(i)}`);
    await until(() => a.got.length === 2, 'two live publications');
    a.client.connection?.terminate();
    await until(async () => (await r.members()) === 0, 'the room to see the drop');
    await r.reset('wipe');
    await r.publish('n1');
    await a.reconnect(r.url());
    expect(a.joins[1]).toMatchObject({ recovered: false, offset: 1 });
    const second = a.joins[1]!.epoch;
    expect(second).not.toBe(first);
    await r.publish('n2');
    await until(() => a.got.length === 3, 'a live publication of the new epoch');
    expect(a.got[2]).toMatchObject({ epoch: second, offset: 2, data: { text: 'n2' } });

    // More missed than the history keeps.
    a.client.connection?.terminate();
    await until(async () => (await r.members()) === 0, 'the room to see the drop');
    for (const i of range(3, MAX_LENGTH + 4)) await r.publish(`n${String(i)}`);
    // The head and the last MAX_LENGTH publications: trimmed in storage too.
    expect(Number(await r.command('keys'))).toBe(MAX_LENGTH + 1);
    await a.reconnect(r.url());
    expect(a.joins[2]).toMatchObject({ recovered: false, epoch: second, offset: MAX_LENGTH + 4 });
    await r.publish('after');
    await until(() => a.got.length === 4, 'a live publication after the trimmed join');
    expect(a.wires[2]).toEqual([MAX_LENGTH + 5]);
    await a.close();
  });

  it('past maxAge a position is not recovered, and the aged entries leave the storage', async () => {
    const r = room('aging');
    const a = await reader(r.url());
    const { epoch } = a.joins[0]!;
    a.client.connection?.terminate();
    await until(async () => (await r.members()) === 0, 'the room to see the drop');
    await r.publish('m1');
    const read = async (offset: number) =>
      JSON.parse(await r.command('read', `?epoch=${epoch}&offset=${String(offset)}`)) as {
        recovered: boolean;
      };
    await until(async () => !(await read(0)).recovered, 'the entry to age out', 5000);
    await a.reconnect(r.url());
    expect(a.joins[1]).toMatchObject({ recovered: false, epoch, offset: 1 });
    // A client that missed nothing still recovers: its position is the last one.
    expect(await read(1)).toEqual({ recovered: true, epoch, offset: 1, entries: [] });
    // The next append deletes what aged: the head and the new entry stay.
    await r.publish('m2');
    expect(Number(await r.command('keys'))).toBe(2);
    await until(() => a.got.length === 1, 'the live publication');
    expect(a.got[0]).toMatchObject({ offset: 2, data: { text: 'm2' } });
    await a.close();
  });

  it('a join the hook refuses gets forbidden; one past what the attachment holds, too_many_channels', async () => {
    const r = room();
    const a = await reader(r.url());
    await expect(a.client.channel('other').join()).rejects.toMatchObject({ code: 'forbidden' });
    // 16 KiB of attachment: a few channels with names of 1,000 characters fill it.
    let refused: unknown;
    const joined: string[] = [];
    for (let i = 0; i < 30 && refused === undefined; i++) {
      const name = `long:${String(i)}:${'x'.repeat(1000)}`;
      await a.client
        .channel(name)
        .join()
        .then(
          () => joined.push(name),
          (error: unknown) => {
            refused = error;
          },
        );
    }
    expect(refused).toMatchObject({ code: 'too_many_channels' });
    expect(joined.length).toBeGreaterThan(5);
    // Still in its channels, and served.
    await r.publish('m1');
    await until(() => a.got.length === 1, 'a publication after the refusals');
    expect(Number(await r.members())).toBe(1);
    await a.close();
  });

  it('a member stays a member while the object is evicted, and a dropped one recovers after', async () => {
    const r = room();
    const a = await reader(r.url());
    const b = await reader(r.url());
    await r.publish('m1');
    await until(() => a.got.length === 1 && b.got.length === 1, 'the first publication');
    b.client.connection?.terminate();
    await until(async () => (await r.members()) === 1, 'the room to see the drop');
    const before = await r.command('instance');
    // workerd evicts an object after 10 s without events; the client stays connected.
    let after = before;
    for (let attempt = 0; attempt < 3 && after === before; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 11_000));
      // Reading the instance wakes the object: the publish below is in the new life.
      after = await r.command('instance');
    }
    expect(after, 'a fresh instance of the object').not.toBe(before);
    await r.publish('m2');
    await until(() => a.got.length === 2, 'a live publication after the eviction');
    // A frame of a connection opened in the earlier life: the room rebuilds its peer.
    expect(await a.channel.publish('chat', { text: 'm3' })).toMatchObject({ offset: 3 });
    await b.reconnect(r.url());
    await until(() => b.got.length === 3, 'the publications missed across the eviction');
    await until(() => a.got.length === 3, 'its own publication');
    expect(a.texts()).toEqual(texts(1, 3));
    expect(b.texts()).toEqual(texts(1, 3));
    expect(a.wires).toEqual([[1, 2, 3]]);
    expect(b.wires).toEqual([[1], [2, 3]]);
    expect(b.joins[1]).toMatchObject({ recovered: true, offset: 1 });
    expect(await r.members()).toBe(2);
    await Promise.all([a.close(), b.close()]);
  }, 60_000);
});
