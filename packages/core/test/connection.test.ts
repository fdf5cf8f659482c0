import { describe, expect, it } from 'vitest';
import {
  ConcurrentReceiveError,
  ConnectionClosedError,
  JsonParseError,
  ReceiveTimeoutError,
  textMessage,
  UnexpectedMessageError,
  WebSocketConnection,
  WebSocketError,
  WSMsgType,
} from '../src/index.js';
import { createPair } from '../src/testing.js';
import { flush, rejection, ScriptedTransport, scripted, stateOf } from './helpers.js';

const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);

describe('connection identity', () => {
  it('exposes side, url, protocol, extensions and context from its init and transport', () => {
    const t = new ScriptedTransport();
    const conn = new WebSocketConnection({
      transport: t,
      side: 'client',
      context: { user: 'ada' },
    });
    expect(conn.side).toBe('client');
    expect(conn.url).toBe('wss://scripted.example/path?q=1');
    expect(conn.protocol).toBe('chat.v1');
    expect(conn.extensions).toBe('permessage-deflate');
    expect(conn.context).toEqual({ user: 'ada' });
    expect(t.starts).toBe(1);
  });
  it('createPair: a client and a server on one url and protocol, open', () => {
    const { client, server } = createPair({ url: 'ws://x/y', protocol: 'p' });
    expect([client.side, server.side]).toEqual(['client', 'server']);
    expect([client.url, server.url]).toEqual(['ws://x/y', 'ws://x/y']);
    expect([client.protocol, server.protocol]).toEqual(['p', 'p']);
    expect(client.extensions).toBe('');
    expect([client.state, client.closed, client.closeCode, client.closeReason]).toEqual([
      'open',
      false,
      null,
      null,
    ]);
    expect(client.exception()).toBeNull();
    expect(createPair().client.protocol).toBe('');
    expect(createPair().client.url).toBe('ws://memory/');
  });
});

describe('end of the connection', () => {
  it('onClosed runs once, after the close listeners, before whenClosed resolves', async () => {
    const t = new ScriptedTransport();
    const order: string[] = [];
    const conn: WebSocketConnection = new WebSocketConnection({
      transport: t,
      side: 'server',
      onClosed: (closed) =>
        order.push(`hook ${String(closed === conn)} ${String(closed.closeCode)}`),
    });
    conn.on('close', () => order.push('listener'));
    const ended = conn.whenClosed.then(() => order.push('whenClosed'));
    t.sink.closed(1006, '');
    t.sink.closed(1000, '');
    expect(order).toEqual(['listener', 'hook true 1006']);
    await ended;
    expect(order).toEqual(['listener', 'hook true 1006', 'whenClosed']);
  });
  it('whenClosed first asked for after the end is resolved, and the same promise each time', async () => {
    const t = new ScriptedTransport();
    const conn = new WebSocketConnection({ transport: t, side: 'server' });
    t.sink.closed(1001, 'bye');
    expect(conn.whenClosed).toBe(conn.whenClosed);
    await expect(conn.whenClosed).resolves.toBeUndefined();
    await expect(conn.close()).resolves.toBeUndefined();
  });
  it('a throwing onClosed is reported as an error and the connection still ends', async () => {
    const t = new ScriptedTransport();
    const errors: string[] = [];
    const conn = new WebSocketConnection({
      transport: t,
      side: 'server',
      onClosed: () => {
        throw new Error('hook failed');
      },
    });
    conn.on('error', (error) => errors.push(error.message));
    const ended = conn.whenClosed;
    t.sink.closed(1000, '');
    await ended;
    expect(errors).toEqual(['hook failed']);
  });
});

describe('sending', () => {
  it('send() takes a string as TEXT and bytes of every kind as BINARY', async () => {
    const { client, server } = createPair();
    await client.send('hi');
    await client.send(new Uint8Array([1, 2]));
    await client.send(new Uint8Array([9, 3, 4, 9]).buffer.slice(1, 3));
    await client.send(new DataView(new Uint8Array([7, 5, 6, 7]).buffer, 1, 2));
    expect(await server.receive()).toMatchObject({ type: WSMsgType.TEXT, data: 'hi' });
    expect(await server.receive()).toMatchObject({
      type: WSMsgType.BINARY,
      data: new Uint8Array([1, 2]),
    });
    expect(await server.receiveBytes()).toEqual(new Uint8Array([3, 4]));
    expect(await server.receiveBytes()).toEqual(new Uint8Array([5, 6]));
  });
  it('send() rejects anything else with a TypeError, sending nothing', async () => {
    const { conn, t } = scripted();
    for (const value of [42, null, undefined, {}, [1]]) {
      const error = await rejection(conn.send(value as unknown as string));
      expect(error).toBeInstanceOf(TypeError);
    }
    expect((await rejection(conn.send(null as unknown as string))).message).toMatch(/null/);
    expect((await rejection(conn.send({} as unknown as string))).message).toMatch(/Object/);
    expect((await rejection(conn.send(Object.create(null)))).message).toMatch(/object/);
    expect((await rejection(conn.send(5 as unknown as string))).message).toMatch(/number/);
    expect(t.calls).toEqual([]);
  });
  it('sendText and sendBytes refuse the other type with a TypeError', async () => {
    const { conn, t } = scripted();
    expect(await rejection(conn.sendText(new Uint8Array(1) as unknown as string))).toBeInstanceOf(
      TypeError,
    );
    expect(await rejection(conn.sendBytes('x' as unknown as Uint8Array))).toBeInstanceOf(TypeError);
    expect(t.calls).toEqual([]);
  });
  it('passes the per-message compress choice to the transport', async () => {
    const { conn, t } = scripted();
    await conn.sendText('a', { compress: true });
    await conn.sendBytes(new Uint8Array(1), { compress: false });
    await conn.send('b');
    await conn.sendJson(1, { compress: true });
    expect(t.calls.map((c) => ('compress' in c ? c.compress : null))).toEqual([
      true,
      false,
      undefined,
      true,
    ]);
  });
  it('sendJson sends JSON text, with a custom stringify', async () => {
    const { client, server } = createPair();
    await client.sendJson({ a: [1, 'é'] });
    await client.sendJson(2n, { stringify: (v) => `"${String(v)}n"` });
    expect(await server.receiveText()).toBe('{"a":[1,"é"]}');
    expect(await server.receiveText()).toBe('"2n"');
  });
  it('sendJson: a TypeError for a value that does not serialise, or a stringify that throws', async () => {
    const { conn, t } = scripted();
    expect(await rejection(conn.sendJson(undefined))).toBeInstanceOf(TypeError);
    expect(await rejection(conn.sendJson(() => 1))).toBeInstanceOf(TypeError);
    const cyclic: { self?: unknown } = {};
    cyclic.self = cyclic;
    const error = await rejection(conn.sendJson(cyclic));
    expect(error).toBeInstanceOf(TypeError);
    expect(error.cause).toBeInstanceOf(TypeError);
    const thrown = new Error('nope');
    const custom = await rejection(
      conn.sendJson(1, {
        stringify: () => {
          throw thrown;
        },
      }),
    );
    expect(custom.cause).toBe(thrown);
    expect(await rejection(conn.sendJson(1, { stringify: () => undefined }))).toBeInstanceOf(
      TypeError,
    );
    expect(t.calls).toEqual([]);
  });
  it('many writers keep their order', async () => {
    const { client, server } = createPair();
    await Promise.all(Array.from({ length: 50 }, (_, i) => client.sendText(String(i))));
    for (let i = 0; i < 50; i++) expect(await server.receiveText()).toBe(String(i));
  });
  it('sends after close() reject with ConnectionClosedError and send nothing', async () => {
    const { conn, t } = scripted();
    void conn.close();
    const before = t.calls.length;
    for (const attempt of [
      conn.send('x'),
      conn.sendText('x'),
      conn.sendBytes(new Uint8Array(1)),
      conn.sendJson({}),
      conn.ping(),
      conn.pong(),
    ]) {
      const error = await rejection(attempt);
      expect(error).toBeInstanceOf(ConnectionClosedError);
      expect(error).toBeInstanceOf(WebSocketError);
      expect(error.message).toMatch(/closing/);
    }
    expect(t.calls.length).toBe(before);
  });
});

describe('receiving', () => {
  it('receive() gives TEXT and BINARY in order, queued or awaited', async () => {
    const { client, server } = createPair();
    const waiting = server.receive();
    await client.sendText('first');
    expect(await waiting).toMatchObject({ type: WSMsgType.TEXT, data: 'first', extra: '' });
    await client.sendBytes(utf8('second'));
    await client.sendText('third');
    await flush();
    expect((await server.receive()).data).toEqual(utf8('second'));
    expect(await server.receiveText()).toBe('third');
  });
  it('one reader at a time: a second receive() while one waits rejects, the first still gets the message', async () => {
    const { client, server } = createPair();
    const first = server.receive();
    const error = await rejection(server.receive());
    expect(error).toBeInstanceOf(ConcurrentReceiveError);
    expect(await rejection(server.receiveText())).toBeInstanceOf(ConcurrentReceiveError);
    await client.sendText('x');
    expect((await first).data).toBe('x');
    // After the first settled, reading is allowed again.
    await client.sendText('y');
    expect(await server.receiveText()).toBe('y');
  });
  it('receiveText on BINARY: UnexpectedMessageError holding the message; the connection stays usable', async () => {
    const { client, server } = createPair();
    await client.sendBytes(new Uint8Array([1]));
    const error = await rejection(server.receiveText());
    expect(error).toBeInstanceOf(UnexpectedMessageError);
    const unexpected = error as UnexpectedMessageError;
    expect(unexpected.expected).toBe('text');
    expect(unexpected.received).toMatchObject({
      type: WSMsgType.BINARY,
      data: new Uint8Array([1]),
    });
    expect(unexpected.message).toMatch(/type 0x2/);
    expect(server.state).toBe('open');
    await client.sendText('still');
    expect(await server.receiveText()).toBe('still');
  });
  it('receiveBytes on TEXT: UnexpectedMessageError', async () => {
    const { client, server } = createPair();
    await client.sendText('t');
    const error = (await rejection(server.receiveBytes())) as UnexpectedMessageError;
    expect(error).toBeInstanceOf(UnexpectedMessageError);
    expect(error.expected).toBe('binary');
    expect(error.received.data).toBe('t');
  });
  it('receiveJson parses TEXT and BINARY, with a custom parse', async () => {
    const { client, server } = createPair();
    await client.sendText('{"a":1}');
    await client.sendBytes(utf8('[1,"é"]'));
    await client.sendText('5');
    expect(await server.receiveJson()).toEqual({ a: 1 });
    expect(await server.receiveJson()).toEqual([1, 'é']);
    expect(await server.receiveJson({ parse: (text) => Number(text) * 2 })).toBe(10);
  });
  it('receiveJson on invalid JSON: JsonParseError with the text and cause; the connection stays usable', async () => {
    const { client, server } = createPair();
    await client.sendText('{not json');
    const error = (await rejection(server.receiveJson())) as JsonParseError;
    expect(error).toBeInstanceOf(JsonParseError);
    expect(error.text).toBe('{not json');
    expect(error.cause).toBeInstanceOf(SyntaxError);
    expect(server.state).toBe('open');
    await client.sendJson({ ok: true });
    expect(await server.receiveJson()).toEqual({ ok: true });
  });
  it('receiveJson on BINARY that is not UTF-8: JsonParseError', async () => {
    const { client, server } = createPair();
    await client.sendBytes(new Uint8Array([0xff, 0xfe]));
    const error = (await rejection(server.receiveJson())) as JsonParseError;
    expect(error).toBeInstanceOf(JsonParseError);
    expect(error.cause).toBeInstanceOf(TypeError);
  });
  it('receiveJson: a custom parse that throws is a JsonParseError too', async () => {
    const { client, server } = createPair();
    await client.sendText('x');
    const cause = new Error('bad');
    const error = await rejection(
      server.receiveJson({
        parse: () => {
          throw cause;
        },
      }),
    );
    expect(error).toBeInstanceOf(JsonParseError);
    expect(error.cause).toBe(cause);
  });
  it('receiveJson on a PING (autoping off): UnexpectedMessageError', async () => {
    const { client, server } = createPair({ server: { autoping: false } });
    void client.ping().catch(() => undefined);
    const error = (await rejection(server.receiveJson())) as UnexpectedMessageError;
    expect(error).toBeInstanceOf(UnexpectedMessageError);
    expect(error.expected).toBe('text or binary');
    expect(error.received.type).toBe(WSMsgType.PING);
  });
  it('typed receives after the close: ConnectionClosedError with the close code', async () => {
    const { client, server } = createPair();
    await client.close(4000, 'bye');
    expect(await server.receive()).toMatchObject({
      type: WSMsgType.CLOSE,
      data: 4000,
      extra: 'bye',
    });
    for (const attempt of [server.receiveText(), server.receiveBytes(), server.receiveJson()]) {
      const error = (await rejection(attempt)) as ConnectionClosedError;
      expect(error).toBeInstanceOf(ConnectionClosedError);
      expect(error.code).toBe(4000);
      expect(error.message).toMatch(/closed/);
    }
  });
  it('receiveText on the peer CLOSE: UnexpectedMessageError holding the CLOSE (consumed once)', async () => {
    const { client, server } = createPair();
    await client.close(4000);
    const error = (await rejection(server.receiveText())) as UnexpectedMessageError;
    expect(error.received).toMatchObject({ type: WSMsgType.CLOSE, data: 4000 });
    expect((await server.receive()).type).toBe(WSMsgType.CLOSED);
  });
  it('messages queued before the close are still read after it, then CLOSE, then CLOSED for good', async () => {
    const { client, server } = createPair();
    await client.sendText('a');
    await client.sendText('b');
    await client.close(1000);
    expect(server.state).toBe('closed');
    expect(await server.receiveText()).toBe('a');
    expect(await server.receiveText()).toBe('b');
    expect((await server.receive()).type).toBe(WSMsgType.CLOSE);
    expect((await server.receive()).type).toBe(WSMsgType.CLOSED);
    expect((await server.receive()).type).toBe(WSMsgType.CLOSED);
  });
  it('a reader waiting when the connection closes gets CLOSED', async () => {
    const { client } = createPair();
    const waiting = client.receive();
    client.terminate();
    expect((await waiting).type).toBe(WSMsgType.CLOSED);
  });
  it('a long queue is read in order (the queue compacts as it goes)', async () => {
    const { client, server } = createPair();
    for (let i = 0; i < 3000; i++) void client.sendText(String(i));
    await flush();
    for (let i = 0; i < 3000; i++) expect((await server.receive()).data).toBe(String(i));
    expect(await stateOf(server.receive({ timeout: null }))).toBe('pending');
  });
});

describe('async iteration', () => {
  it('yields TEXT and BINARY until the peer closes', async () => {
    const { client, server } = createPair();
    await client.sendText('one');
    await client.sendBytes(new Uint8Array([2]));
    void client.close(1000);
    const seen: unknown[] = [];
    for await (const message of server) seen.push(message.data);
    expect(seen).toEqual(['one', new Uint8Array([2])]);
    expect(server.closeCode).toBe(1000);
  });
  it('ends on a connection that is already closed', async () => {
    const { client } = createPair();
    client.terminate();
    const seen: unknown[] = [];
    for await (const message of client) seen.push(message);
    expect(seen).toEqual([]);
  });
  it('yields an ERROR and then ends at CLOSED', async () => {
    const { conn, t } = scripted();
    const error = new Error('socket reset');
    t.sink.error(error);
    t.sink.closed(1006, '');
    const seen: unknown[] = [];
    for await (const message of conn) seen.push(message);
    expect(seen).toEqual([{ type: WSMsgType.ERROR, data: error, extra: '' }]);
  });
  // The loop is an iterator object, not an async generator: these pin the generator's behaviour.
  it('stays done after CLOSE, even when something is queued behind it', async () => {
    const { conn, t } = scripted({ autoclose: false });
    const loop = conn[Symbol.asyncIterator]();
    t.sink.text('a');
    t.sink.closeFrame(1000, '');
    t.sink.error(new Error('late'));
    expect(await loop.next()).toEqual({ value: textMessage('a'), done: false });
    expect(await loop.next()).toEqual({ value: undefined, done: true });
    expect(await loop.next()).toEqual({ value: undefined, done: true });
    expect((await conn.receive()).type).toBe(WSMsgType.ERROR);
  });
  it('runs a next() that overlaps a waiting one after it, in order', async () => {
    const { conn, t } = scripted();
    const loop = conn[Symbol.asyncIterator]();
    const first = loop.next();
    const second = loop.next();
    t.sink.text('1');
    t.sink.text('2');
    expect((await first).value?.data).toBe('1');
    expect((await second).value?.data).toBe('2');
  });
  it('ends for good after return(), throw(), a receive timeout or a concurrent reader', async () => {
    const { conn, t } = scripted();
    const returned = conn[Symbol.asyncIterator]();
    expect(await returned.return(undefined)).toEqual({ value: undefined, done: true });
    const thrown = conn[Symbol.asyncIterator]();
    const error = new Error('stop');
    expect(await rejection(thrown.throw(error))).toBe(error);
    const reading = conn.receive();
    const concurrent = conn[Symbol.asyncIterator]();
    expect(await rejection(concurrent.next())).toBeInstanceOf(ConcurrentReceiveError);
    t.sink.text('x');
    await reading;
    const timed = scripted({ receiveTimeout: 5 });
    const timedLoop = timed.conn[Symbol.asyncIterator]();
    expect(await rejection(timedLoop.next())).toBeInstanceOf(ReceiveTimeoutError);
    timed.t.sink.text('y');
    for (const loop of [returned, thrown, concurrent, timedLoop]) {
      expect(await loop.next()).toEqual({ value: undefined, done: true });
    }
    // The ended loop took nothing: 'y' is still there for the next reader.
    expect((await timed.conn.receive()).data).toBe('y');
  });
  it('is an async iterator of the runtime (its own iterator, the shared prototype)', () => {
    const { conn } = scripted();
    const loop = conn[Symbol.asyncIterator]();
    expect(loop[Symbol.asyncIterator]()).toBe(loop);
    const prototype = Object.getPrototypeOf(Object.getPrototypeOf(async function* () {}).prototype);
    expect(Object.prototype.isPrototypeOf.call(prototype, loop)).toBe(true);
  });
});

describe('ConnectionClosedError', () => {
  it('carries the close code once the connection is closed (and none while it is closing)', async () => {
    const { client, clientTransport } = createPair();
    clientTransport.peer.pause();
    void client.close(4000);
    expect(((await rejection(client.sendText('x'))) as ConnectionClosedError).code).toBeUndefined();
    client.terminate();
    for (const attempt of [client.sendText('x'), client.ping(), client.pong()]) {
      const error = (await rejection(attempt)) as ConnectionClosedError;
      expect(error.code).toBe(1006);
      expect(error.message).toMatch(/closed/);
    }
  });
});
