// The chat handlers over core's in-memory pair, with channels' own client: typed messages,
// presence, errors, the rate limit and recovery, without a socket. The same handlers run on the
// real runtimes in the e2e tests.
import { LocalTopics, runHandler, type WebSocketConnection } from '@anyws/core';
import { ChannelError, MemoryHistory } from '@anyws/core/channels';
import { createPair } from '@anyws/core/testing';
import { describe, expect, it } from 'vitest';
import { type ChatContext, createChatHandler } from '../src/chat.js';
import { roomChannel } from '../src/messages.js';
import { type ChatUser, LIMITS } from '../src/protocol.js';
import { Probe } from './probe.js';

const ada: ChatUser = { id: 'u-ada', name: 'Ada' };
const bob: ChatUser = { id: 'u-bob', name: 'Bob' };
const tokens = new Map([
  ['token-ada', ada],
  ['token-bob', bob],
]);

function setup(history = new MemoryHistory()) {
  let clock = 1_000_000;
  const handler = createChatHandler({
    verifyToken: async (token) => tokens.get(token) ?? null,
    now: () => clock,
    history,
  });
  const topics = new LocalTopics();
  const connect = async (token: string, room = 'general') => {
    const request = new Request(`http://127.0.0.1/ws/chat/${room}?token=${token}`);
    const decision = await handler.upgrade!(request);
    if (decision instanceof Response || !decision?.context) throw new Error('refused');
    const { client, server } = createPair({ topics, server: handler.options });
    (server as WebSocketConnection<ChatContext>).context = decision.context;
    void runHandler(server as WebSocketConnection<ChatContext>, handler);
    return new Probe(client, 2000);
  };
  return { handler, connect, tick: (ms: number) => (clock += ms) };
}

describe('upgrade', () => {
  const { handler } = setup();
  const status = async (url: string) => {
    const result = await handler.upgrade!(new Request(url));
    return result instanceof Response ? result.status : 101;
  };

  it('accepts a valid token and puts user and room in the context', async () => {
    const result = await handler.upgrade!(new Request('http://h/ws/chat/general?token=token-ada'));
    expect(result).toMatchObject({ context: { user: ada, room: 'general' } });
    const again = await handler.upgrade!(new Request('http://h/ws/chat/general?token=token-ada'));
    // Each connection has its own id, even for one user.
    expect((again as { context: { id: string } }).context.id).not.toBe(
      (result as { context: { id: string } }).context.id,
    );
  });

  it('refuses a missing or unknown token with 401, a bad room with 404', async () => {
    expect(await status('http://h/ws/chat/general')).toBe(401);
    expect(await status('http://h/ws/chat/general?token=')).toBe(401);
    expect(await status('http://h/ws/chat/general?token=forged')).toBe(401);
    expect(await status('http://h/ws/chat/Not%20A%20Room?token=token-ada')).toBe(404);
    expect(await status('http://h/ws/chat/a/b?token=token-ada')).toBe(404);
  });
});

describe('chat', () => {
  it('greets, announces arrivals and keeps the presence list', async () => {
    const { connect } = setup();
    const a = await connect('token-ada');
    expect((await a.until('welcome')).data).toMatchObject({ room: 'general' });
    expect((await a.until('presence')).data).toEqual({ users: [ada] });

    const b = await connect('token-bob');
    expect((await b.until('presence')).data).toEqual({ users: [ada, bob] });
    expect((await a.until('arrived')).data).toMatchObject({ user: bob });
    expect((await a.until('presence')).data).toEqual({ users: [ada, bob] });
  });

  it('publishes what one says on the room channel, to everyone in it and only there', async () => {
    const { connect } = setup();
    const a = await connect('token-ada');
    const b = await connect('token-bob');
    const elsewhere = await connect('token-bob', 'random');
    expect(await a.join()).toMatchObject({ recovered: false, offset: 0 });
    await b.join();
    await elsewhere.join('random');
    expect(await a.channels.request('say', { id: 'm1', text: '  hello <b>there</b>  ' })).toEqual({
      id: 'u-ada:m1',
    });
    const got = await b.publication();
    expect(got).toMatchObject({
      kind: 'message',
      channel: 'room:general',
      offset: 1,
      data: { id: 'u-ada:m1', user: ada, text: 'hello <b>there</b>' },
    });
    expect(await a.publication()).toEqual(got);
    await elsewhere.channels.request('say', { id: 'p', text: 'ping' });
    expect(await elsewhere.publication()).toMatchObject({
      channel: 'room:random',
      data: { text: 'ping' },
    });
    await a.channels.request('say', { id: 'm2', text: 'second' });
    expect(await b.publication()).toMatchObject({ offset: 2, data: { text: 'second' } });
  });

  it('lets a connection join its own room only, and publish only through `say`', async () => {
    const { connect } = setup();
    const a = await connect('token-ada');
    await expect(a.channels.channel(roomChannel('random')).join()).rejects.toMatchObject({
      code: 'forbidden',
    });
    await a.join();
    await expect(
      a.channels.channel(roomChannel('general')).publish('message', {
        id: 'forged',
        user: bob,
        text: 'I am Bob',
        at: 0,
      }),
    ).rejects.toMatchObject({ code: 'forbidden' });
  });

  it('a connection that comes back with its position gets what it missed, once, in order', async () => {
    const { connect } = setup();
    const a = await connect('token-ada');
    const b = await connect('token-bob');
    await a.join();
    await b.join();
    await a.channels.request('say', { id: 'before', text: 'before' });
    await b.publication();
    const position = b.channels.channel(roomChannel('general')).position!;
    await b.conn.close();
    for (let i = 1; i <= 5; i++) await a.channels.request('say', { id: `m${i}`, text: `m${i}` });
    const again = await connect('token-bob');
    // The same channel client on the new connection, as the page does after a reconnect.
    b.channels.attach(again.conn);
    const rejoined = new Promise((resolve) =>
      b.channels.channel(roomChannel('general')).on('joined', resolve),
    );
    expect(await rejoined).toMatchObject({ recovered: true, offset: position.offset });
    const texts: string[] = [];
    for (let i = 0; i < 5; i++) {
      const publication = await b.publication();
      if (publication.kind === 'message') texts.push(publication.data.text);
    }
    expect(texts).toEqual(['m1', 'm2', 'm3', 'm4', 'm5']);
  });

  it('answers `recent` with what the history still holds, and a trimmed position with recovered: false', async () => {
    const { connect } = setup(new MemoryHistory({ maxLength: 10 }));
    const a = await connect('token-ada');
    expect(await a.channels.request('recent', {})).toMatchObject({ messages: [] });
    const b = await connect('token-bob');
    await b.join();
    const position = { ...b.channels.channel(roomChannel('general')).position! };
    await b.conn.close();
    for (let i = 1; i <= 15; i++) await a.channels.request('say', { id: `m${i}`, text: `m${i}` });
    const recent = await a.channels.request('recent', {});
    expect(recent.messages.map((m) => m.offset)).toEqual([6, 7, 8, 9, 10, 11, 12, 13, 14, 15]);
    expect(recent.messages.map((m) => m.message.text)).toEqual(
      Array.from({ length: 10 }, (_, i) => `m${i + 6}`),
    );
    const again = await connect('token-bob');
    b.channels.attach(again.conn);
    const rejoined = new Promise((resolve) =>
      b.channels.channel(roomChannel('general')).on('joined', resolve),
    );
    expect(position.offset).toBe(0);
    // Offset 0 of the epoch is older than the ten kept: not recovered, the page loads `recent`.
    expect(await rejoined).toMatchObject({ recovered: false, offset: 15 });
  });

  it('answers invalid input with an error and stays open', async () => {
    const { connect } = setup();
    const a = await connect('token-ada');
    await a.until('presence');
    const errors: Error[] = [];
    a.channels.on('error', (error) => errors.push(error));
    const invalid = async (data: unknown) => {
      const error = await a.channels
        .request('say', data as { id: string; text: string })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ChannelError);
      return error as ChannelError;
    };
    expect((await invalid({ id: 'x', text: '   ' })).code).toBe('invalid_data');
    const long = await invalid({ id: 'x', text: 'x'.repeat(LIMITS.maxTextLength + 1) });
    expect(long.issues?.[0]?.message).toBe(
      `a message has at most ${LIMITS.maxTextLength} characters`,
    );
    expect((await invalid({ text: 'no id' })).code).toBe('invalid_data');
    // Not an envelope: answered with not_envelope, reported as the client's error event.
    await a.conn.sendText('{not json');
    await a.conn.send(new Uint8Array([1, 2, 3]));
    await a.conn.sendText('{"v":1,"t":"dance"}');
    await expect
      .poll(() => errors.map((e) => (e as ChannelError).code))
      .toEqual(['not_envelope', 'not_envelope', 'bad_frame']);
    expect(a.conn.state).toBe('open');
    await a.join();
    await a.channels.request('say', { id: 'ok', text: 'still here' });
    expect((await a.publication()).data).toMatchObject({ text: 'still here' });
  });

  it('closes a flooding connection with 1008, the others keep chatting', async () => {
    const { connect, tick } = setup();
    const a = await connect('token-ada');
    const b = await connect('token-bob');
    await a.until('arrived');
    // The clock stands still: the burst is all a connection gets.
    for (let i = 0; i < LIMITS.rateBurst + 5; i++)
      a.channels.request('say', { id: `m${i}`, text: `m${i}` }).catch(() => undefined);
    await a.conn.whenClosed;
    expect(a.conn.closeCode).toBe(1008);
    expect(a.conn.closeReason).toBe('rate limit exceeded');
    expect((await b.until('departed')).data).toMatchObject({ user: ada });

    // Time refills the bucket of a connection that keeps to the rate.
    const c = await connect('token-ada');
    await c.join();
    for (let i = 0; i < LIMITS.rateBurst * 2; i++) {
      tick(1000 / LIMITS.ratePerSecond);
      await c.channels.request('say', { id: `s${i}`, text: `steady ${i}` });
      expect((await c.publication()).data).toMatchObject({ text: `steady ${i}` });
    }
    expect(c.conn.state).toBe('open');
  });

  it('announces a departure once the last connection of a user is gone', async () => {
    const { connect } = setup();
    const a = await connect('token-ada');
    const b1 = await connect('token-bob');
    const b2 = await connect('token-bob');
    await b2.until('presence');
    // Two tabs of Bob are one presence and one arrival.
    await a.until('arrived');
    let presence = await a.until('presence');
    presence = await a.until('presence');
    expect(presence.data.users).toEqual([ada, bob]);

    await b1.channels.send('bye', {});
    await b1.conn.whenClosed;
    expect(b1.conn.closeCode).toBe(1000);
    expect((await a.until('presence')).data).toEqual({ users: [ada, bob] });

    await b2.conn.close();
    expect((await a.until('departed')).data).toMatchObject({ user: bob });
    expect((await a.until('presence')).data).toEqual({ users: [ada] });
  });

  it('ignores messages that are not data', async () => {
    const { connect } = setup();
    const a = await connect('token-ada');
    await a.until('presence');
    expect(await a.conn.ping()).toBeGreaterThanOrEqual(0);
    // Nothing came back for the ping but its pong: the next message is the publication.
    await a.join();
    await a.channels.request('say', { id: 'p', text: 'after ping' });
    expect((await a.publication()).data).toMatchObject({ text: 'after ping' });
    expect(a.conn.state).toBe('open');
  });
});
