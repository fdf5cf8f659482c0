// The chat handlers over core's in-memory pair: protocol, presence, errors and the rate limit,
// without a socket. The same handlers run on the real runtimes in the e2e tests.
import { LocalTopics, runHandler, type WebSocketConnection, WSMsgType } from '@anyws/core';
import { createPair } from '@anyws/core/testing';
import { describe, expect, it } from 'vitest';
import { type ChatContext, createChatHandler } from '../src/chat.js';
import { type ChatUser, LIMITS, type ServerMessage } from '../src/protocol.js';

const ada: ChatUser = { id: 'u-ada', name: 'Ada' };
const bob: ChatUser = { id: 'u-bob', name: 'Bob' };
const tokens = new Map([
  ['token-ada', ada],
  ['token-bob', bob],
]);

function setup() {
  let clock = 1_000_000;
  const handler = createChatHandler({
    verifyToken: async (token) => tokens.get(token) ?? null,
    now: () => clock,
  });
  const topics = new LocalTopics();
  const join = async (token: string, room = 'general') => {
    const request = new Request(`http://127.0.0.1/ws/chat/${room}?token=${token}`);
    const decision = await handler.upgrade!(request);
    if (decision instanceof Response || !decision?.context) throw new Error('refused');
    const { client, server } = createPair({ topics, server: handler.options });
    (server as WebSocketConnection<ChatContext>).context = decision.context;
    void runHandler(server as WebSocketConnection<ChatContext>, handler);
    return client;
  };
  return { handler, join, tick: (ms: number) => (clock += ms) };
}

const next = (conn: WebSocketConnection): Promise<ServerMessage> =>
  conn.receiveJson<ServerMessage>({ timeout: 2000 });

/** Reads until a message of `type` comes (bounded). */
async function until<T extends ServerMessage['type']>(
  conn: WebSocketConnection,
  type: T,
): Promise<Extract<ServerMessage, { type: T }>> {
  for (let i = 0; i < 20; i++) {
    const message = await next(conn);
    if (message.type === type) return message as Extract<ServerMessage, { type: T }>;
  }
  throw new Error(`no ${type} message`);
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
  it('greets, announces joins and keeps the presence list', async () => {
    const { join } = setup();
    const a = await join('token-ada');
    expect(await next(a)).toMatchObject({ type: 'system', room: 'general' });
    expect(await next(a)).toEqual({ type: 'presence', room: 'general', users: [ada] });

    const b = await join('token-bob');
    expect(await next(b)).toMatchObject({ type: 'system' });
    expect(await next(b)).toEqual({ type: 'presence', room: 'general', users: [ada, bob] });
    expect(await next(a)).toMatchObject({ type: 'join', user: bob });
    expect(await next(a)).toEqual({ type: 'presence', room: 'general', users: [ada, bob] });
  });

  it('sends a message to everyone in the room, and only that room', async () => {
    const { join } = setup();
    const a = await join('token-ada');
    const b = await join('token-bob');
    const elsewhere = await join('token-bob', 'random');
    await until(elsewhere, 'presence');
    await until(a, 'join');
    await a.sendJson({ type: 'message', text: '  hello <b>there</b>  ' });
    const got = await until(b, 'message');
    expect(got).toMatchObject({
      type: 'message',
      room: 'general',
      user: ada,
      text: 'hello <b>there</b>',
    });
    expect(await until(a, 'message')).toEqual(got);
    await elsewhere.sendJson({ type: 'message', text: 'ping' });
    expect(await until(elsewhere, 'message')).toMatchObject({ room: 'random', text: 'ping' });
    await a.sendJson({ type: 'message', text: 'second' });
    expect(await until(b, 'message')).toMatchObject({ text: 'second' });
  });

  it('answers bad input with an error and stays open', async () => {
    const { join } = setup();
    const a = await join('token-ada');
    await until(a, 'presence');
    const cases: [string | Uint8Array, string][] = [
      ['{not json', 'invalid_json'],
      ['[1,2]', 'invalid_message'],
      ['"text"', 'invalid_message'],
      ['{"type":"dance"}', 'unknown_type'],
      ['{"text":"no type"}', 'unknown_type'],
      ['{"type":"message"}', 'invalid_message'],
      ['{"type":"message","text":"   "}', 'empty'],
      [JSON.stringify({ type: 'message', text: 'x'.repeat(LIMITS.maxTextLength + 1) }), 'too_long'],
      [new Uint8Array([1, 2, 3]), 'invalid_message'],
    ];
    for (const [input, code] of cases) {
      await a.send(input);
      expect(await next(a)).toMatchObject({ type: 'error', code });
    }
    expect(a.state).toBe('open');
    await a.sendJson({ type: 'message', text: 'still here' });
    expect(await until(a, 'message')).toMatchObject({ text: 'still here' });
  });

  it('closes a flooding connection with 1008, the others keep chatting', async () => {
    const { join, tick } = setup();
    const a = await join('token-ada');
    const b = await join('token-bob');
    await until(a, 'join');
    // The clock stands still: the burst is all a connection gets.
    for (let i = 0; i < LIMITS.rateBurst + 5; i++)
      a.sendJson({ type: 'message', text: `m${i}` }).catch(() => undefined);
    await a.whenClosed;
    expect(a.closeCode).toBe(1008);
    expect(a.closeReason).toBe('rate limit exceeded');
    expect(await until(b, 'leave')).toMatchObject({ user: ada });

    // Time refills the bucket of a connection that keeps to the rate.
    const c = await join('token-ada');
    await until(c, 'presence');
    for (let i = 0; i < LIMITS.rateBurst * 2; i++) {
      tick(1000 / LIMITS.ratePerSecond);
      await c.sendJson({ type: 'message', text: `steady ${i}` });
      expect(await until(c, 'message')).toMatchObject({ text: `steady ${i}` });
    }
    expect(c.state).toBe('open');
  });

  it('announces a leave once the last connection of a user is gone', async () => {
    const { join } = setup();
    const a = await join('token-ada');
    const b1 = await join('token-bob');
    const b2 = await join('token-bob');
    await until(b2, 'presence');
    // Two tabs of Bob are one presence and one join.
    let presence = await until(a, 'presence');
    presence = await until(a, 'presence');
    presence = await until(a, 'presence');
    expect(presence.users).toEqual([ada, bob]);

    await b1.sendJson({ type: 'leave' });
    await b1.whenClosed;
    expect(b1.closeCode).toBe(1000);
    expect(await next(a)).toEqual({ type: 'presence', room: 'general', users: [ada, bob] });

    await b2.close();
    expect(await next(a)).toMatchObject({ type: 'leave', user: bob });
    expect(await next(a)).toEqual({ type: 'presence', room: 'general', users: [ada] });
  });

  it('ignores messages that are not data', async () => {
    const { join } = setup();
    const a = await join('token-ada');
    await until(a, 'presence');
    expect(await a.ping()).toBeGreaterThanOrEqual(0);
    await a.sendJson({ type: 'message', text: 'after ping' });
    const message = await a.receive({ timeout: 2000 });
    expect(message.type).toBe(WSMsgType.TEXT);
  });
});
