import { describe, expect, it } from 'vitest';
import { LocalTopics, PreparedMessage, prepare, WebSocketError } from '../src/index.js';
import { createPair } from '../src/testing.js';
import { scripted, stateOf } from './helpers.js';

function room(n: number, topics = new LocalTopics()) {
  const pairs = Array.from({ length: n }, () => createPair({ topics }));
  return {
    topics,
    pairs,
    servers: pairs.map((p) => p.server),
    clients: pairs.map((p) => p.client),
  };
}

describe('LocalTopics through the connection', () => {
  it('publish reaches every subscriber, the publisher included, and returns the count', async () => {
    const { servers, clients } = room(3);
    for (const s of servers) s.subscribe('news');
    expect(servers[0]!.publish('news', 'hello')).toBe(3);
    for (const c of clients) expect(await c.receiveText()).toBe('hello');
  });
  it('exclude one connection, or several', async () => {
    const { servers, clients } = room(3);
    const [a, b] = servers as [(typeof servers)[0], (typeof servers)[0]];
    for (const s of servers) s.subscribe('t');
    expect(a.publish('t', 'not to a', { exclude: a })).toBe(2);
    expect(a.publish('t', 'only to c', { exclude: [a, b] })).toBe(1);
    expect(a.publish('t', 'only to c again', { exclude: new Set([a, b]) })).toBe(1);
    expect(await clients[1]!.receiveText()).toBe('not to a');
    expect(await clients[2]!.receiveText()).toBe('not to a');
    expect(await clients[2]!.receiveText()).toBe('only to c');
    expect(await clients[2]!.receiveText()).toBe('only to c again');
    expect(await stateOf(clients[0]!.receive({ timeout: null }))).toBe('pending');
    expect(await stateOf(clients[1]!.receive({ timeout: null }))).toBe('pending');
  });
  it('exclude by id: a string is one id (not its characters), mixed with connections', async () => {
    const { servers, clients } = room(3);
    const [a, b, c] = servers as [(typeof servers)[0], (typeof servers)[0], (typeof servers)[0]];
    for (const s of servers) s.subscribe('t');
    expect(a.publish('t', 'not to b', { exclude: b.id })).toBe(2);
    expect(a.publish('t', 'only to c', { exclude: [a, b.id] })).toBe(1);
    expect(a.publish('t', 'to all', { exclude: 'nobody.1' })).toBe(3);
    expect(await clients[0]!.receiveText()).toBe('not to b');
    expect(await clients[2]!.receiveText()).toBe('not to b');
    expect(await clients[2]!.receiveText()).toBe('only to c');
    expect(await clients[1]!.receiveText()).toBe('to all');
    expect(c.id).not.toBe(b.id);
  });
  it('connection ids: made on first read, stable, distinct, with one prefix per realm', () => {
    const { server, client } = createPair();
    const id = server.id;
    expect(server.id).toBe(id);
    expect(client.id).not.toBe(id);
    expect(id).toMatch(/^[0-9a-f]{18}\.[0-9a-z]+$/);
    expect(client.id.split('.')[0]).toBe(id.split('.')[0]);
  });
  it('binary payloads stay binary, one PreparedMessage for all', async () => {
    const { servers, clients } = room(2);
    for (const s of servers) s.subscribe('b');
    expect(servers[0]!.publish('b', new Uint8Array([1, 2]))).toBe(2);
    for (const c of clients) expect(await c.receiveBytes()).toEqual(new Uint8Array([1, 2]));
  });
  it('the message is prepared once and handed to each transport as the same object', () => {
    const topics = new LocalTopics();
    const a = scripted({}, {}, { topics, withPrepared: true });
    const b = scripted({}, {}, { topics, withPrepared: true });
    a.conn.subscribe('x');
    b.conn.subscribe('x');
    expect(a.conn.publish('x', 'once', { compress: true })).toBe(2);
    const [ca] = a.t.calls;
    const [cb] = b.t.calls;
    expect(ca?.op).toBe('prepared');
    expect(ca && 'message' in ca && cb && 'message' in cb && ca.message === cb.message).toBe(true);
    if (ca && 'message' in ca) expect(ca.message.compress).toBe(true);
  });
  it('unsubscribe, topics, subscriberCount', () => {
    const { topics, servers } = room(2);
    const [a, b] = servers as [(typeof servers)[0], (typeof servers)[0]];
    a.subscribe('x');
    a.subscribe('y');
    a.subscribe('y'); // twice is once
    b.subscribe('x');
    expect(a.topics).toEqual(['x', 'y']);
    expect(topics.subscriberCount('x')).toBe(2);
    expect(topics.subscribersOf('x')).toEqual([a, b]);
    expect(topics.subscribersOf('none')).toEqual([]);
    expect(topics.subscriberCount('y')).toBe(1);
    a.unsubscribe('y');
    a.unsubscribe('never');
    expect(a.topics).toEqual(['x']);
    expect(topics.subscriberCount('y')).toBe(0);
    expect(a.publish('y', 'nobody')).toBe(0);
    expect(topics.topicsOf(b)).toEqual(['x']);
  });
  it('a closed connection is unsubscribed from everything', async () => {
    const { topics, servers, clients } = room(2);
    for (const s of servers) {
      s.subscribe('x');
      s.subscribe('y');
    }
    await clients[0]!.close();
    expect(servers[0]!.closed).toBe(true);
    expect(servers[0]!.topics).toEqual([]);
    expect(topics.subscriberCount('x')).toBe(1);
    expect(topics.subscriberCount('y')).toBe(1);
    expect(servers[1]!.publish('x', 'still works')).toBe(1);
  });
  it('subscribing a closed connection does nothing', () => {
    const topics = new LocalTopics();
    const { server } = createPair({ topics });
    server.terminate();
    server.subscribe('x');
    expect(topics.subscriberCount('x')).toBe(0);
  });
  it('a subscriber that is closing is skipped and not counted', () => {
    const { topics, servers } = room(2);
    for (const s of servers) s.subscribe('x');
    void servers[1]!.close();
    expect(topics.publish('x', 'm')).toBe(1);
  });
  it('a subscriber past its outgoing bound is not counted; its policy applies', () => {
    const topics = new LocalTopics();
    const slow = scripted({ maxBufferedAmount: 4 }, {}, { topics });
    const fast = scripted({}, {}, { topics });
    slow.conn.subscribe('x');
    fast.conn.subscribe('x');
    slow.t.bufferedAmount = 4;
    expect(topics.publish('x', 'hello')).toBe(1);
    expect(slow.t.ops()).toEqual(['close']);
    expect(slow.conn.exception()?.name).toBe('BufferOverflowError');
  });
  it('a topic is a non-empty string: TypeError', () => {
    const { server } = createPair({ topics: new LocalTopics() });
    expect(() => server.subscribe('')).toThrow(TypeError);
    expect(() => server.publish('', 'x')).toThrow(TypeError);
    expect(() => server.subscribe(1 as unknown as string)).toThrow(TypeError);
  });
  it('publish takes a string or bytes: TypeError otherwise', () => {
    const { server } = createPair({ topics: new LocalTopics() });
    server.subscribe('x');
    expect(() => server.publish('x', 42 as unknown as string)).toThrow(TypeError);
  });
  it('without a topic bus (a client): subscribe and publish throw a WebSocketError, topics is empty', () => {
    const { client } = createPair();
    expect(() => client.subscribe('x')).toThrow(WebSocketError);
    expect(() => client.unsubscribe('x')).toThrow(WebSocketError);
    expect(() => client.publish('x', 'y')).toThrow(/topic bus/);
    expect(client.topics).toEqual([]);
  });
  it('unsubscribeAll of a connection that never subscribed does nothing', () => {
    const topics = new LocalTopics();
    const { server } = createPair();
    expect(() => topics.unsubscribeAll(server)).not.toThrow();
  });
});

describe('prepare', () => {
  it('wraps text and bytes; a TypeError for anything else', () => {
    const text = prepare('t', true);
    expect(text).toBeInstanceOf(PreparedMessage);
    expect([text.data, text.binary, text.compress]).toEqual(['t', false, true]);
    const bytes = prepare(new Uint8Array([1]));
    expect([bytes.binary, bytes.compress]).toEqual([true, undefined]);
    const view = prepare(new DataView(new ArrayBuffer(3)) as unknown as Uint8Array);
    expect(view.data).toBeInstanceOf(Uint8Array);
    expect(() => prepare({} as unknown as string)).toThrow(TypeError);
  });
});
