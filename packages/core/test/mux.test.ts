import { describe, expect, it } from 'vitest';
import {
  aggregate,
  ConcurrentReceiveError,
  type LocalTopics,
  mux,
  runHandler,
  type WebSocketConnection,
  type WebSocketHandler,
  WSMsgType,
} from '../src/index.js';
import { createPair, type Pair } from '../src/testing.js';
import { flush, rejection, scripted, stateOf } from './helpers.js';

type Conn = WebSocketConnection<unknown>;

async function collect(
  stream: AsyncIterable<[Conn, { type: number; data: unknown }]>,
  conns: Conn[],
) {
  const out: [number, unknown][] = [];
  for await (const [conn, message] of stream) out.push([conns.indexOf(conn), message.data]);
  return out;
}

describe('mux', () => {
  it('one stream of [conn, message] pairs, each connection in order, interleaved; it ends at the first close', async () => {
    const a = createPair();
    const b = createPair();
    const servers = [a.server, b.server];
    const stream = collect(mux(...servers), servers);
    await a.client.sendText('a1');
    await b.client.sendText('b1');
    await a.client.sendBytes(new Uint8Array([2]));
    await flush();
    await b.client.close(1000);
    // a's second message waits behind b's first: a busy connection does not starve the others.
    expect(await stream).toEqual([
      [0, 'a1'],
      [1, 'b1'],
      [0, new Uint8Array([2])],
    ]);
  });
  it('with no connections it ends at once; with a closed one too', async () => {
    expect(await collect(mux(), [])).toEqual([]);
    const a = createPair();
    a.server.terminate();
    expect(await collect(mux(a.server, createPair().server), [])).toEqual([]);
  });
  it('yields ERROR messages and goes on', async () => {
    const { conn, t } = scripted();
    const other = createPair();
    const error = new Error('fault');
    const seen: unknown[] = [];
    const done = (async () => {
      for await (const [, message] of mux(conn, other.server)) seen.push(message.type);
    })();
    t.sink.error(error);
    await flush();
    t.sink.text('after');
    await flush();
    t.sink.closed(1006, '');
    await done;
    expect(seen).toEqual([WSMsgType.ERROR, WSMsgType.TEXT]);
  });
  it('while it reads, a receive() on one of its connections is a ConcurrentReceiveError', async () => {
    const a = createPair();
    const iterator = mux(a.server)[Symbol.asyncIterator]();
    const next = iterator.next();
    await flush();
    expect(await rejection(a.server.receive())).toBeInstanceOf(ConcurrentReceiveError);
    await a.client.sendText('x');
    expect((await next).value?.[1].data).toBe('x');
    await iterator.return?.();
  });
  it('a connection that already has a reader: ConcurrentReceiveError from the stream, the others released', async () => {
    const a = createPair();
    const b = createPair();
    const reading = b.server.receive({ timeout: null });
    const stream = mux(a.server, b.server);
    expect(await rejection(stream.next())).toBeInstanceOf(ConcurrentReceiveError);
    // a was released, b's own reader still gets its message.
    await a.client.sendText('a');
    await b.client.sendText('b');
    expect(await a.server.receiveText({ timeout: 1000 })).toBe('a');
    expect((await reading).data).toBe('b');
  });
  it('the same connection twice is read once', async () => {
    const a = createPair();
    const seen: unknown[] = [];
    const done = (async () => {
      for await (const [, message] of mux(a.server, a.server)) seen.push(message.data);
    })();
    await a.client.sendText('once');
    await flush();
    await a.client.close();
    await done;
    expect(seen).toEqual(['once']);
  });
  it('leaving early puts a taken message back at the head of its queue, before the rest', async () => {
    const a = createPair();
    const b = createPair();
    await a.client.sendText('a1');
    for (const text of ['b1', 'b2', 'b3']) await b.client.sendText(text);
    await flush();
    for await (const [conn, message] of mux(a.server, b.server)) {
      expect([conn, message.data]).toEqual([a.server, 'a1']);
      break; // b1 was already taken from b for the next turn
    }
    for (const text of ['b1', 'b2', 'b3']) expect(await b.server.receiveText()).toBe(text);
  });
  it('leaving early hands a taken message to a reader that started meanwhile', async () => {
    const a = createPair();
    const b = createPair();
    await a.client.sendText('a1');
    await b.client.sendText('b1');
    await flush();
    let reading: Promise<unknown> | undefined;
    for await (const [conn] of mux(a.server, b.server)) {
      expect(conn).toBe(a.server);
      reading = b.server.receive().then((m) => m.data); // b1 sits in the stream, b has no reader
      break;
    }
    expect(await reading).toBe('b1');
  });
  it('two connections closing at once: the stream ends, the other still reads CLOSED', async () => {
    const a = scripted();
    const b = scripted();
    const done = (async () => {
      for await (const _ of mux(a.conn, b.conn)) {
        // nothing arrives
      }
    })();
    await flush();
    a.t.sink.closed(1006, '');
    b.t.sink.closed(1006, '');
    await done;
    expect((await b.conn.receive()).type).toBe(WSMsgType.CLOSED);
    expect((await a.conn.receive()).type).toBe(WSMsgType.CLOSED);
  });
  it('once it ended, the other connections can be read again and lose nothing', async () => {
    const a = createPair();
    const b = createPair();
    await collect_until_close(a, b);
    // b's reader was released: receive() works and gets b's next message.
    await b.client.sendText('after the mux');
    expect(await b.server.receiveText({ timeout: 1000 })).toBe('after the mux');
  });
  it('breaking out early releases every reader', async () => {
    const a = createPair();
    const b = createPair();
    await a.client.sendText('first');
    for await (const [conn] of mux(a.server, b.server)) {
      expect(conn).toBe(a.server);
      break;
    }
    await a.client.sendText('to a');
    await b.client.sendText('to b');
    expect(await a.server.receiveText({ timeout: 1000 })).toBe('to a');
    expect(await b.server.receiveText({ timeout: 1000 })).toBe('to b');
  });
  it('a message that arrived with the close of another connection stays readable', async () => {
    const a = scripted();
    const b = scripted();
    const seen: unknown[] = [];
    const done = (async () => {
      for await (const [, message] of mux(a.conn, b.conn)) seen.push(message.data);
    })();
    await flush();
    // In one turn: a's peer closes, and a message for b arrives.
    a.t.sink.closed(1000, '');
    b.t.sink.text('simultaneous');
    await done;
    expect(seen).toEqual([]);
    expect(await b.conn.receiveText({ timeout: 1000 })).toBe('simultaneous');
  });
  it("the CLOSE that ended it is consumed; another connection's CLOSE stays readable", async () => {
    const a = scripted({ autoclose: false });
    const b = scripted({ autoclose: false });
    const done = (async () => {
      for await (const _ of mux(a.conn, b.conn)) {
        // nothing arrives
      }
    })();
    await flush();
    a.t.sink.closeFrame(4000, 'a');
    b.t.sink.closeFrame(4001, 'b');
    await done;
    expect((await a.conn.receive()).type).toBe(WSMsgType.CLOSING);
    expect(await b.conn.receive()).toMatchObject({ type: WSMsgType.CLOSE, data: 4001 });
  });
});

async function collect_until_close(a: Pair, b: Pair): Promise<void> {
  const done = collect(mux(a.server, b.server), [a.server, b.server]);
  await flush();
  await a.client.close();
  expect(await done).toEqual([]);
  expect(await stateOf(b.server.whenClosed)).toBe('pending');
}

describe('aggregate', () => {
  function join(handler: WebSocketHandler<unknown>, topics?: LocalTopics) {
    const pair = createPair({ server: handler.options, topics });
    const done = runHandler(pair.server, handler);
    return { ...pair, done };
  }

  it('a group size under 1 or not an integer is a RangeError', () => {
    for (const n of [0, -1, 1.5, Number.NaN])
      expect(() => aggregate(n, () => undefined)).toThrow(RangeError);
  });
  it('holds connections until n are there, then hands the group over in arrival order', async () => {
    const groups: Conn[][] = [];
    const handler = aggregate(3, (conns) => void groups.push(conns));
    const first = join(handler);
    const second = join(handler);
    await flush();
    expect(groups).toEqual([]);
    const third = join(handler);
    await flush();
    expect(groups).toEqual([[first.server, second.server, third.server]]);
  });
  it('the next n make the next group', async () => {
    const groups: Conn[][] = [];
    const handler = aggregate(2, (conns) => void groups.push(conns));
    const members = [join(handler), join(handler), join(handler), join(handler)];
    await flush();
    expect(groups).toEqual([
      [members[0]!.server, members[1]!.server],
      [members[2]!.server, members[3]!.server],
    ]);
  });
  it('a connection that leaves while waiting is dropped from the group', async () => {
    const groups: Conn[][] = [];
    const handler = aggregate(2, (conns) => void groups.push(conns));
    const leaver = join(handler);
    await leaver.client.close();
    await leaver.done;
    const a = join(handler);
    const b = join(handler);
    await flush();
    expect(groups).toEqual([[a.server, b.server]]);
  });
  it('messages sent while waiting stay queued for the group', async () => {
    const got: string[] = [];
    const handler = aggregate(2, async (conns) => {
      for (const conn of conns) got.push(await conn.receiveText());
    });
    const a = join(handler);
    await a.client.sendText('early');
    await flush();
    const b = join(handler);
    await b.client.sendText('late');
    await flush();
    expect(got).toEqual(['early', 'late']);
  });
  it('every member session ends when that member closes; the group is not closed when the function returns', async () => {
    const handler = aggregate(2, () => undefined);
    const a = join(handler);
    const b = join(handler);
    await flush();
    expect(a.server.state).toBe('open');
    await a.client.close(4000);
    await a.done;
    expect(await stateOf(b.done)).toBe('pending');
    await b.client.close(4001);
    await b.done;
  });
  it('a group function that throws closes every member with 1011', async () => {
    const errors: Error[] = [];
    const handler = aggregate(
      2,
      () => {
        throw new Error('group failed');
      },
      { base: { error: (_c, e) => void errors.push(e) } },
    );
    const a = join(handler);
    const b = join(handler);
    await Promise.all([a.client.whenClosed, b.client.whenClosed]);
    expect([a.client.closeCode, b.client.closeCode]).toEqual([1011, 1011]);
    expect(errors.map((e) => e.message)).toContain('group failed');
  });
  it('keeps the base handler: options, upgrade, close and error', async () => {
    const upgrade = () => new Response(null, { status: 401 });
    const closes: number[] = [];
    const handler = aggregate(1, () => undefined, {
      base: {
        options: { maxMessageSize: 5 },
        upgrade,
        close: (_c, code) => void closes.push(code),
      },
    });
    expect(handler.options).toEqual({ maxMessageSize: 5 });
    expect(handler.upgrade).toBe(upgrade);
    const a = join(handler);
    expect(a.server.options.maxMessageSize).toBe(5);
    await a.client.close(4002);
    await a.done;
    expect(closes).toEqual([4002]);
  });
  it('a group of one is handed over at once', async () => {
    const groups: Conn[][] = [];
    const a = join(aggregate(1, (conns) => void groups.push(conns)));
    await flush();
    expect(groups).toEqual([[a.server]]);
  });
});
