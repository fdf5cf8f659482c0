/**
 * RedisTopics on a real redis-server: several buses in this process stand for several
 * processes (each bus is one "process" to Redis: its own id, connections, subscriptions).
 * Across real OS processes: multiprocess.test.ts.
 */
import type { PreparedMessage } from '@anyws/core';
import { createClient } from 'redis';
import { describe, expect, it } from 'vitest';
import { member, nextText, until, useRedis } from './helpers.js';

const { redis, buses } = useRedis();

/** How many connections Redis has subscribed to `channel` (PUBSUB NUMSUB), asked by a plain client. */
async function numsub(channel: string): Promise<number> {
  const client = createClient({ url: redis().url });
  await client.connect();
  try {
    const reply = (await client.sendCommand(['PUBSUB', 'NUMSUB', channel])) as [string, number];
    return Number(reply[1]);
  } finally {
    client.destroy();
  }
}

describe('RedisTopics across buses', () => {
  it('a publish reaches every subscriber of every bus once; the count is local + remote', async () => {
    const [a, b, c] = await buses(3);
    const pairs = [member(a!), member(a!), member(b!), member(c!), member(c!)];
    for (const p of pairs) p.server.subscribe('news');
    // Subscriptions reach Redis asynchronously: wait until every bus sees all five.
    await until(async () => (await a!.count('news')) === 5, 'five subscribers');
    expect(await pairs[0]!.server.publish('news', 'hello')).toBe(5);
    for (const p of pairs) expect(await nextText(p.client)).toBe('hello');
    // Exactly once: the next message each gets is the next one published.
    expect(await pairs[3]!.server.publish('news', 'second')).toBe(5);
    for (const p of pairs) expect(await nextText(p.client)).toBe('second');
    expect(a!.subscriberCount('news')).toBe(2);
    expect(await c!.count('news')).toBe(5);
  });

  it('exclude: a local connection, and a remote one by its id', async () => {
    const [a, b] = await buses(2);
    const [a1, a2, b1, b2] = [member(a!), member(a!), member(b!), member(b!)];
    for (const p of [a1, a2, b1, b2]) p!.server.subscribe('t');
    await until(async () => (await a!.count('t')) === 4, 'four subscribers');
    const sent = await a1!.server.publish('t', 'not to a1 nor b1', {
      exclude: [a1!.server, b1!.server.id],
    });
    expect(sent).toBe(2);
    // Same publisher, so it arrives after: whoever gets the marker first did not get the other.
    expect(await a!.publish('t', 'marker')).toBe(4);
    expect(await nextText(a1!.client)).toBe('marker');
    expect(await nextText(b1!.client)).toBe('marker');
    expect(await nextText(a2!.client)).toBe('not to a1 nor b1');
    expect(await nextText(b2!.client)).toBe('not to a1 nor b1');
    // An id that is nobody's excludes nobody; the count stays honest.
    expect(await a!.publish('t', 'all', { exclude: 'nobody.1' })).toBe(4);
  });

  it('one Redis subscription per topic per bus: the first subscriber subscribes, the last leaves', async () => {
    const [a, b] = await buses(2);
    const pairs = [member(a!), member(a!), member(a!)];
    for (const p of pairs) p.server.subscribe('x');
    pairs[0]!.server.subscribe('x'); // twice is once
    pairs[0]!.server.subscribe('y');
    expect(a!.stats).toMatchObject({ channels: 2, subscribes: 2, unsubscribes: 0 });
    // Redis itself sees one subscriber connection for x: this bus (b has no subscriber).
    await a!.members('x'); // after the bus's own work on x
    expect(await numsub('anyws:t:x')).toBe(1);
    const onB = member(b!);
    onB.server.subscribe('x');
    await b!.members('x');
    expect(await numsub('anyws:t:x')).toBe(2);
    onB.server.unsubscribe('x');
    await b!.members('x');
    expect(await numsub('anyws:t:x')).toBe(1);
    pairs[0]!.server.unsubscribe('x');
    pairs[1]!.server.unsubscribe('x');
    expect(a!.stats).toMatchObject({ channels: 2, unsubscribes: 0 });
    await pairs[2]!.client.close();
    await until(() => pairs[2]!.server.closed, 'server end closed');
    expect(a!.stats).toMatchObject({ channels: 1, subscribes: 2, unsubscribes: 1 });
    // Gone from Redis too: a publish from another bus is counted for nobody on x.
    await until(async () => (await b!.count('x')) === 0, 'x empty');
    expect(await b!.publish('x', 'nobody')).toBe(0);
    pairs[0]!.server.unsubscribe('y');
    expect(a!.stats).toMatchObject({ channels: 0, subscribes: 2, unsubscribes: 2 });
    pairs[1]!.server.subscribe('x');
    expect(a!.stats).toMatchObject({ channels: 1, subscribes: 3 });
  });

  it('order: the messages of one publisher on one topic arrive in order on every bus', async () => {
    const [a, b] = await buses(2);
    const local = member(a!);
    const remote = member(b!);
    local.server.subscribe('seq');
    remote.server.subscribe('seq');
    await until(async () => (await a!.count('seq')) === 2, 'two subscribers');
    const n = 300;
    const sent = Array.from({ length: n }, (_, i) => a!.publish('seq', String(i)));
    expect(await Promise.all(sent)).toEqual(Array(n).fill(2));
    for (const p of [local, remote]) {
      for (let i = 0; i < n; i++) expect(await nextText(p.client)).toBe(String(i));
    }
  });

  it('framed once per process: the remote subscribers of one bus share one PreparedMessage', async () => {
    const [a, b] = await buses(2);
    const seen: PreparedMessage[] = [];
    const remote = [member(b!), member(b!), member(b!)];
    for (const p of remote) {
      // What the connection hands its transport for a publish (the memory transport has no
      // sendPrepared of its own: this one records it and sends the text as usual).
      const transport = p.serverTransport as typeof p.serverTransport & {
        sendPrepared?: (m: PreparedMessage) => void;
      };
      transport.sendPrepared = (m) => {
        seen.push(m);
        transport.sendText(m.data as string);
      };
      p.server.subscribe('f');
    }
    await until(async () => (await a!.count('f')) === 3, 'three subscribers');
    expect(await a!.publish('f', 'once', { compress: true })).toBe(3);
    for (const p of remote) expect(await nextText(p.client)).toBe('once');
    expect(seen).toHaveLength(3);
    expect(new Set(seen).size).toBe(1);
    expect(seen[0]!.compress).toBe(true);
  });

  it('binary stays binary; compress and exclude travel with the message', async () => {
    const [a, b] = await buses(2);
    const remote = member(b!);
    remote.server.subscribe('bin');
    await until(async () => (await a!.count('bin')) === 1, 'one subscriber');
    expect(await a!.publish('bin', new Uint8Array([0, 10, 255]))).toBe(1);
    expect(await remote.client.receiveBytes({ timeout: 5000 })).toEqual(
      new Uint8Array([0, 10, 255]),
    );
    expect(await a!.publish('bin', 'text with a\nnewline and ünïcode', { compress: false })).toBe(
      1,
    );
    expect(await nextText(remote.client)).toBe('text with a\nnewline and ünïcode');
  });

  it('bad input throws a TypeError before anything is sent', async () => {
    const [a] = await buses(1);
    const p = member(a!);
    expect(() => p.server.subscribe('')).toThrow(TypeError);
    expect(() => a!.publish('', 'x')).toThrow(TypeError);
    expect(() => a!.publish('t', 42 as unknown as string)).toThrow(TypeError);
  });
});

describe('presence', () => {
  it('members across buses with their data, current on join and leave', async () => {
    const [a, b] = await buses(2);
    const ada = member(a!, { user: 'ada' });
    const bob = member(b!, { user: 'bob' });
    ada.server.subscribe('room');
    bob.server.subscribe('room');
    // Each bus's own joins are written before its reads: no waiting needed.
    const seen = await b!.members<{ user: string }>('room');
    expect(seen.map((m) => m.data.user).sort()).toContain('bob');
    await until(async () => (await b!.members('room')).length === 2, 'both members');
    const members = await a!.members<{ user: string }>('room');
    expect(members.map((m) => [m.id, m.process, m.data.user]).sort()).toEqual(
      [
        [ada.server.id, a!.processId, 'ada'],
        [bob.server.id, b!.processId, 'bob'],
      ].sort(),
    );
    expect(await a!.count('room')).toBe(2);
    bob.server.unsubscribe('room');
    expect((await b!.members('room')).map((m) => m.id)).toEqual([ada.server.id]);
    await ada.client.close();
    await until(() => ada.server.closed, 'closed');
    expect(await a!.members('room')).toEqual([]);
    expect(await b!.count('room')).toBe(0);
  });

  it('presenceData chooses what is shown; data that is not JSON shows as null', async () => {
    const [a] = await buses(1, {
      presenceData: (conn: { context: unknown }) =>
        (conn.context as { name?: string })?.name ?? conn.context,
    });
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    const one = member(a!, { name: 'one', secret: 'x' });
    const two = member(a!, cyclic);
    one.server.subscribe('p');
    two.server.subscribe('p');
    const data = (await a!.members('p')).map((m) => m.data);
    expect(data.sort()).toEqual(['one', null].sort());
  });

  it('close() takes the bus out of presence and out of other buses counts', async () => {
    const [a, b] = await buses(2);
    member(a!, 'a').server.subscribe('c');
    member(b!, 'b').server.subscribe('c');
    await until(async () => (await b!.count('c')) === 2, 'two');
    await a!.close();
    expect(await b!.count('c')).toBe(1);
    expect((await b!.members('c')).map((m) => m.data)).toEqual(['b']);
    await expect(a!.members('c')).rejects.toMatchObject({
      name: 'RedisTopicsError',
      reason: 'closed',
    });
    await expect(a!.publish('c', 'x')).rejects.toMatchObject({ reason: 'closed' });
  });
});
