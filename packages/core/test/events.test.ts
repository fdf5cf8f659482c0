import { describe, expect, it } from 'vitest';
import {
  type ControlMessage,
  type DataMessage,
  MessageTooBigError,
  WSMsgType,
} from '../src/index.js';
import { createPair } from '../src/testing.js';
import { flush, scripted, stateOf } from './helpers.js';

describe('push listeners', () => {
  it("'message' gets TEXT and BINARY instead of receive()", async () => {
    const { client, server } = createPair();
    const seen: (DataMessage | ControlMessage)[] = [];
    server.on('message', (message) => seen.push(message));
    const reader = server.receive({ timeout: null });
    await client.sendText('a');
    await client.sendBytes(new Uint8Array([1]));
    await flush();
    expect(seen.map((m) => [m.type, m.data])).toEqual([
      [WSMsgType.TEXT, 'a'],
      [WSMsgType.BINARY, new Uint8Array([1])],
    ]);
    expect(await stateOf(reader)).toBe('pending');
  });
  it("every 'message' listener gets every message; the returned function removes one", async () => {
    const { client, server } = createPair();
    const a: unknown[] = [];
    const b: unknown[] = [];
    const offA = server.on('message', (m) => a.push(m.data));
    server.on('message', (m) => b.push(m.data));
    await client.sendText('1');
    await flush();
    offA();
    await client.sendText('2');
    await flush();
    expect(a).toEqual(['1']);
    expect(b).toEqual(['1', '2']);
  });
  it("messages queued before the first 'message' listener go to it first, in order", async () => {
    const { client, server } = createPair();
    await client.sendText('early 1');
    await client.sendText('early 2');
    await flush(); // queued for a reader: nobody listens yet
    const seen: unknown[] = [];
    server.on('message', (m) => seen.push(m.data));
    expect(seen).toEqual([]); // never called from inside on()
    await client.sendText('late');
    await flush();
    expect(seen).toEqual(['early 1', 'early 2', 'late']);
    await client.sendText('after');
    await flush();
    expect(seen).toEqual(['early 1', 'early 2', 'late', 'after']);
  });
  it('a hand-over stops at a CLOSE for the reader, and when the listener is gone', async () => {
    const { client, server } = createPair({ server: { autoclose: false } });
    await client.sendText('before');
    client.close(1000, 'bye').catch(() => undefined);
    await flush();
    const seen: unknown[] = [];
    server.on('message', (m) => seen.push(m.data));
    await flush();
    expect(seen).toEqual(['before']);
    const close = await server.receive({ timeout: null });
    expect(close.type).toBe(WSMsgType.CLOSE);
    const { client: c2, server: s2 } = createPair();
    await c2.sendText('kept');
    await flush();
    const off = s2.on('message', () => undefined);
    off();
    await flush();
    expect((await s2.receive({ timeout: null })).data).toBe('kept');
  });
  it('with the last listener removed, messages go to receive() again', async () => {
    const { client, server } = createPair();
    const off = server.on('message', () => undefined);
    await client.sendText('to the listener');
    await flush();
    off();
    await client.sendText('to the reader');
    expect(await server.receiveText()).toBe('to the reader');
  });
  it("'message' gets PING and PONG with autoping off", async () => {
    const { client, server } = createPair({ server: { autoping: false } });
    const types: number[] = [];
    server.on('message', (m) => types.push(m.type));
    void client.ping().catch(() => undefined);
    await client.pong();
    await flush();
    expect(types).toEqual([WSMsgType.PING, WSMsgType.PONG]);
  });
  it("a listener that throws: 'error' listeners get it, the others still get the message", async () => {
    const { client, server } = createPair();
    const boom = new Error('listener failed');
    const errors: Error[] = [];
    const got: unknown[] = [];
    server.on('error', (e) => errors.push(e));
    server.on('message', () => {
      throw boom;
    });
    server.on('message', (m) => got.push(m.data));
    await client.sendText('x');
    await flush();
    expect(errors).toEqual([boom]);
    expect(got).toEqual(['x']);
    expect(server.state).toBe('open');
  });
  it('a thrown non-Error is wrapped in an Error', async () => {
    const { client, server } = createPair();
    const errors: Error[] = [];
    server.on('error', (e) => errors.push(e));
    server.on('message', () => {
      throw 'just a string';
    });
    await client.sendText('x');
    await flush();
    expect(errors[0]).toBeInstanceOf(Error);
    expect(errors[0]?.message).toBe('just a string');
  });
  it("'close' gets the close code and reason once", async () => {
    const { client, server } = createPair();
    const closes: [number, string][] = [];
    server.on('close', (code, reason) => closes.push([code, reason]));
    await client.close(4000, 'bye');
    await server.close(); // already closed: no second event
    expect(closes).toEqual([[4000, 'bye']]);
  });
  it("'close' on terminate: 1006 and an empty reason", () => {
    const { client } = createPair();
    const closes: [number, string][] = [];
    client.on('close', (code, reason) => closes.push([code, reason]));
    client.terminate();
    expect(closes).toEqual([[1006, '']]);
  });
  it("a 'close' listener that throws goes to 'error'; the others still run and whenClosed resolves", async () => {
    const { client } = createPair();
    const boom = new Error('close listener failed');
    const errors: Error[] = [];
    let second = false;
    client.on('error', (e) => errors.push(e));
    client.on('close', () => {
      throw boom;
    });
    client.on('close', () => {
      second = true;
    });
    client.terminate();
    expect(errors).toEqual([boom]);
    expect(second).toBe(true);
    expect(await stateOf(client.whenClosed)).toBe('fulfilled');
  });
  it("'error' gets connection faults; an 'error' listener that throws is contained", async () => {
    const { conn, t } = scripted({ maxMessageSize: 1 });
    const errors: Error[] = [];
    conn.on('error', () => {
      throw new Error('error listener failed');
    });
    conn.on('error', (e) => errors.push(e));
    t.sink.text('too long');
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(MessageTooBigError);
  });
  it('the CLOSE message is not a push event: close listeners report it', async () => {
    const { client, server } = createPair();
    const messages: unknown[] = [];
    server.on('message', (m) => messages.push(m));
    await client.close(1000);
    expect(messages).toEqual([]);
  });
});
