import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  BufferOverflowError,
  ConnectionClosedError,
  PreparedMessage,
  WebSocketError,
  WSMsgType,
} from '../src/index.js';
import { createPair } from '../src/testing.js';
import { flush, rejection, scripted, stateOf, useFakeClock } from './helpers.js';

afterEach(() => {
  vi.useRealTimers();
});

const KiB = 1024;

describe('send backpressure (highWaterMark)', () => {
  it('createPair: bufferedAmount grows while the peer does not read, and shrinks when it does', async () => {
    const { server, clientTransport } = createPair();
    clientTransport.pause();
    await server.sendBytes(new Uint8Array(1000));
    await server.sendText('abc');
    expect(server.bufferedAmount).toBe(1003);
    clientTransport.resume();
    await flush();
    expect(server.bufferedAmount).toBe(0);
  });
  it('a send resolves at once while the buffer is at or under the mark', async () => {
    const { server, clientTransport } = createPair({ server: { highWaterMark: 10 } });
    clientTransport.pause();
    const send = server.sendBytes(new Uint8Array(10));
    expect(await stateOf(send)).toBe('fulfilled');
  });
  it('a send that takes the buffer over the mark resolves when it drains', async () => {
    const { server, clientTransport } = createPair({ server: { highWaterMark: 10 } });
    clientTransport.pause();
    const first = server.sendBytes(new Uint8Array(11));
    const second = server.sendBytes(new Uint8Array(1));
    expect(await stateOf(first)).toBe('pending');
    expect(await stateOf(second)).toBe('pending');
    clientTransport.resume();
    expect(await stateOf(first)).toBe('fulfilled');
    expect(await stateOf(second)).toBe('fulfilled');
  });
  it('a drain that leaves the buffer over the mark resolves nobody', async () => {
    const { conn, t } = scripted({ highWaterMark: 10 });
    t.bufferedAmount = 50;
    const send = conn.sendText('x');
    t.bufferedAmount = 11;
    t.sink.drain();
    expect(await stateOf(send)).toBe('pending');
    t.bufferedAmount = 10;
    t.sink.drain();
    expect(await stateOf(send)).toBe('fulfilled');
  });
  it('highWaterMark 0: every buffered send waits for the drain', async () => {
    const { server, clientTransport } = createPair({ server: { highWaterMark: 0 } });
    clientTransport.pause();
    const send = server.sendText('x');
    expect(await stateOf(send)).toBe('pending');
    clientTransport.resume();
    await send;
  });
  it('default 64 KiB', async () => {
    const { server, clientTransport } = createPair();
    clientTransport.pause();
    expect(await stateOf(server.sendBytes(new Uint8Array(64 * KiB)))).toBe('fulfilled');
    expect(await stateOf(server.sendBytes(new Uint8Array(1)))).toBe('pending');
  });
  it('sends waiting for the drain reject with ConnectionClosedError when the connection ends', async () => {
    const { server, clientTransport } = createPair({ server: { highWaterMark: 0 } });
    clientTransport.pause();
    const send = server.sendText('x');
    server.terminate();
    const error = (await rejection(send)) as ConnectionClosedError;
    expect(error).toBeInstanceOf(ConnectionClosedError);
    expect(error.code).toBe(1006);
  });
  it('a transport without backpressure: sends resolve at once and no bound applies', async () => {
    const { conn, t } = scripted(
      { highWaterMark: 0, maxBufferedAmount: 10 },
      { backpressure: false },
    );
    t.bufferedAmount = 1_000_000;
    expect(await stateOf(conn.sendBytes(new Uint8Array(100)))).toBe('fulfilled');
    expect(conn.state).toBe('open');
  });
});

describe('the outgoing bound (maxBufferedAmount) and slow consumers', () => {
  it("policy 'close' (the default): the send is refused, 1008 goes out, exception() and 'error' tell why", async () => {
    const { server, client, clientTransport, serverTransport } = createPair({
      server: { maxBufferedAmount: 100 },
    });
    const errors: Error[] = [];
    server.on('error', (error) => errors.push(error));
    clientTransport.pause();
    void server.sendBytes(new Uint8Array(60));
    const refused = server.sendBytes(new Uint8Array(60)); // 120 > 100
    const error = (await rejection(refused)) as BufferOverflowError;
    expect(error).toBeInstanceOf(BufferOverflowError);
    expect(error).toBeInstanceOf(WebSocketError);
    expect([error.bufferedAmount, error.limit]).toEqual([120, 100]);
    expect(server.exception()).toBe(error);
    expect(errors).toEqual([error]);
    expect(server.state).toBe('closing');
    expect(serverTransport.sent.map((f) => f.kind)).toEqual(['binary', 'close']);
    expect(serverTransport.sent[1]).toEqual({
      kind: 'close',
      code: 1008,
      reason: 'slow consumer: send buffer full',
    });
    // Later sends are refused as closed.
    expect(await rejection(server.sendText('x'))).toBeInstanceOf(ConnectionClosedError);
    // A client that reads again gets what was sent, then the 1008.
    clientTransport.resume();
    expect((await client.receiveBytes()).byteLength).toBe(60);
    expect(await client.receive()).toMatchObject({ type: WSMsgType.CLOSE, data: 1008 });
    await server.whenClosed;
    expect(server.closeCode).toBe(1008);
  });
  it("policy 'close': the reader gets the ERROR too, as for a heartbeat timeout or a message too big", async () => {
    const { server, clientTransport } = createPair({ server: { maxBufferedAmount: 100 } });
    clientTransport.pause();
    const refused = server.sendBytes(new Uint8Array(101));
    const error = await rejection(refused);
    expect(await server.receive()).toEqual({ type: WSMsgType.ERROR, data: error, extra: '' });
    server.terminate();
    expect((await server.receive()).type).toBe(WSMsgType.CLOSED);
  });
  it("policy 'reject' puts nothing in the reader queue", async () => {
    const { server, clientTransport } = createPair({
      server: { maxBufferedAmount: 100, slowConsumer: 'reject' },
    });
    clientTransport.pause();
    await rejection(server.sendBytes(new Uint8Array(101)));
    expect(await stateOf(server.receive())).toBe('pending');
    server.terminate();
  });
  it("policy 'close' against a client that never reads: terminated after closeTimeout, closeCode 1008", async () => {
    useFakeClock();
    const { server, clientTransport } = createPair({
      server: { maxBufferedAmount: 100, closeTimeout: 200 },
    });
    clientTransport.pause();
    void server.sendBytes(new Uint8Array(101)).catch(() => undefined);
    await vi.advanceTimersByTimeAsync(200);
    expect(server.state).toBe('closed');
    // This end failed the connection: its code, though the peer never answered.
    expect(server.closeCode).toBe(1008);
    expect(server.exception()).toBeInstanceOf(BufferOverflowError);
  });
  it("policy 'reject': that send is refused, the connection stays open and usable", async () => {
    const { server, client, clientTransport } = createPair({
      server: { maxBufferedAmount: 100, slowConsumer: 'reject' },
    });
    clientTransport.pause();
    await server.sendBytes(new Uint8Array(60)).catch(() => undefined);
    const error = (await rejection(server.sendBytes(new Uint8Array(60)))) as BufferOverflowError;
    expect(error).toBeInstanceOf(BufferOverflowError);
    expect(server.state).toBe('open');
    expect(server.exception()).toBeNull();
    // What fits still goes.
    const fits = server.sendBytes(new Uint8Array(40));
    clientTransport.resume();
    await fits;
    expect((await client.receiveBytes()).byteLength).toBe(60);
    expect((await client.receiveBytes()).byteLength).toBe(40);
  });
  it('a careless sender that never awaits: the buffer never passes the bound', async () => {
    const { server, clientTransport } = createPair({ server: { maxBufferedAmount: 64 * KiB } });
    clientTransport.pause();
    const chunk = new Uint8Array(KiB);
    let maxBuffered = 0;
    let sends = 0;
    while (server.state === 'open' && sends < 1000) {
      server.sendBytes(chunk).catch(() => undefined);
      sends++;
      if (server.state === 'open') maxBuffered = Math.max(maxBuffered, server.bufferedAmount);
    }
    expect(maxBuffered).toBe(64 * KiB);
    expect(sends).toBe(65);
    server.terminate();
  });
  it('text counts in bytes of UTF-8, as runtimes buffer it', async () => {
    const { conn, t } = scripted({ maxBufferedAmount: 100, slowConsumer: 'reject' });
    const error = (await rejection(conn.sendText('é'.repeat(60)))) as BufferOverflowError;
    expect(error).toBeInstanceOf(BufferOverflowError);
    expect(error.bufferedAmount).toBe(120);
    await conn.sendText('é'.repeat(50)); // 100 bytes: fits
    t.bufferedAmount = 99;
    expect(await rejection(conn.sendText('🎉'))).toBeInstanceOf(BufferOverflowError); // 2 units, 4 bytes
    const { server, clientTransport } = createPair();
    clientTransport.pause();
    await server.sendText('é✓🎉');
    expect(server.bufferedAmount).toBe(9);
  });
  it('the bound counts text too', async () => {
    const { server, clientTransport } = createPair({
      server: { maxBufferedAmount: 10, slowConsumer: 'reject' },
    });
    clientTransport.pause();
    await server.sendText('x'.repeat(10)).catch(() => undefined);
    expect(await rejection(server.sendText('y'))).toBeInstanceOf(BufferOverflowError);
    expect(await rejection(server.sendJson('z'))).toBeInstanceOf(BufferOverflowError);
  });
  it('default 16 MiB', async () => {
    const { server, clientTransport } = createPair({ server: { slowConsumer: 'reject' } });
    clientTransport.pause();
    void server.sendBytes(new Uint8Array(16 * 1024 * KiB));
    expect(await rejection(server.sendBytes(new Uint8Array(1)))).toBeInstanceOf(
      BufferOverflowError,
    );
  });
});

describe('sendPrepared (the topics path)', () => {
  it('uses the transport own sendPrepared when it has one', () => {
    const { conn, t } = scripted({}, {}, { withPrepared: true });
    const message = new PreparedMessage('hello', false, true);
    expect(conn.sendPrepared(message)).toBe(true);
    expect(t.calls).toEqual([{ op: 'prepared', message }]);
  });
  it('falls back to sendText / sendBytes with the message compress choice', () => {
    const { conn, t } = scripted();
    expect(conn.sendPrepared(new PreparedMessage('hi', false, false))).toBe(true);
    expect(conn.sendPrepared(new PreparedMessage(new Uint8Array([1]), true, undefined))).toBe(true);
    expect(t.calls).toEqual([
      { op: 'text', data: 'hi', compress: false },
      { op: 'bytes', data: new Uint8Array([1]), compress: undefined },
    ]);
  });
  it('returns false once closing, sending nothing', () => {
    const { conn, t } = scripted();
    void conn.close();
    expect(conn.sendPrepared(new PreparedMessage('x', false, undefined))).toBe(false);
    expect(t.ops()).toEqual(['close']);
  });
  it('past the bound: false, and the slow-consumer policy applies', () => {
    const reject = scripted({ maxBufferedAmount: 10, slowConsumer: 'reject' });
    reject.t.bufferedAmount = 10;
    expect(reject.conn.sendPrepared(new PreparedMessage('x', false, undefined))).toBe(false);
    expect(reject.conn.state).toBe('open');
    const close = scripted({ maxBufferedAmount: 10 });
    close.t.bufferedAmount = 10;
    expect(close.conn.sendPrepared(new PreparedMessage('x', false, undefined))).toBe(false);
    expect(close.t.calls).toEqual([
      { op: 'close', code: 1008, reason: 'slow consumer: send buffer full' },
    ]);
  });
  it('PreparedMessage: size before framing, and one cached encoding per key', () => {
    const text = new PreparedMessage('héllo', false, undefined);
    expect(text.size).toBe(6); // bytes of UTF-8
    expect(new PreparedMessage(new Uint8Array(7), true, undefined).size).toBe(7);
    const key = {};
    let made = 0;
    const make = (message: PreparedMessage) => ({ n: ++made, size: message.size });
    const a = text.cached(key, make);
    expect(text.cached(key, make)).toBe(a);
    const other = {};
    const b = text.cached(other, make);
    expect(b).toEqual({ n: 2, size: 6 });
    // Alternating keys (two window sizes in one publish) still make each value once.
    expect(text.cached(key, make)).toBe(a);
    expect(text.cached(other, make)).toBe(b);
    expect(made).toBe(2);
  });
});
