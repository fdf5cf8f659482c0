/**
 * Typed messages and requests over channels: validation on receive with a real Standard Schema
 * validator (valibot), typed error replies that leave the connection open, raw messages left
 * alone, requests with correlation ids and timeouts, many in flight, in both directions.
 */
import { afterEach, describe, expect, expectTypeOf, it, vi } from 'vitest';
import {
  type AnyMessage,
  ChannelError,
  DEFAULT_REQUEST_TIMEOUT,
  defineMessages,
  RequestTimeoutError,
} from '../../src/channels/index.js';
import { WSMsgType } from '../../src/index.js';
import { useFakeClock } from '../helpers.js';
import {
  connectTo,
  type Messages,
  makeServer,
  messages,
  refusal,
  type ServerOptions,
  until,
} from './setup.js';

afterEach(() => {
  vi.useRealTimers();
});

/** A server, one client, and what the server's hooks and the client's error listener saw. */
function setup(options: ServerOptions = {}) {
  const received: AnyMessage<Messages>[] = [];
  const raw: unknown[] = [];
  const server = makeServer({ message: (_peer, m) => received.push(m), ...options });
  const link = connectTo(server, {
    requests: {
      whoami: () => ({ name: 'client-side' }),
      add: ({ a, b }) => a + b,
    },
  });
  const errors: Error[] = [];
  link.client.on('error', (e) => errors.push(e));
  return { server, ...link, received, raw, errors };
}

describe('typed messages', () => {
  it('a valid message reaches the server typed; an invalid one gets invalid_data and the connection stays open', async () => {
    const { client, received, errors, conn } = setup();
    await client.send('chat', { text: 'hi' });
    await client.send('chat', { text: 42 } as never);
    await client.send('typing', true);
    await until(() => received.length === 2 && errors.length === 1);
    expect(received).toEqual([
      { kind: 'chat', data: { text: 'hi' } },
      { kind: 'typing', data: true },
    ]);
    const error = errors[0] as ChannelError;
    expect(error).toBeInstanceOf(ChannelError);
    expect([error.code, error.issues?.[0]?.path]).toEqual(['invalid_data', ['text']]);
    expect(error.issues?.[0]?.message).toMatch(/string/i);
    expect(conn.state).toBe('open');
  });

  it('an unknown kind, a broken envelope and another version get typed errors, the connection open', async () => {
    const { conn, errors } = setup();
    await conn.sendText('{"v":1,"t":"msg","kind":"nope","data":1}');
    await conn.sendText('{"v":1,"t":"req","id":9,"kind":"nope","data":1}');
    await conn.sendText('{"v":1,"t":"msg"');
    await conn.sendText('{"v":7,"t":"msg","kind":"chat"}');
    await until(() => errors.length === 4);
    // The request's error answers its id (9), which this client never used: nobody waits for it.
    expect(errors.map((e) => (e as ChannelError).code)).toEqual([
      'unknown_kind',
      'unknown_kind',
      'bad_frame',
      'unsupported_version',
    ]);
    expect(conn.state).toBe('open');
  });

  it('a message that is not an envelope: not_envelope without a raw hook; unchanged with one', async () => {
    const plain = setup();
    await plain.conn.sendText('hello');
    await until(() => plain.errors.length === 1);
    expect((plain.errors[0] as ChannelError).code).toBe('not_envelope');
    const raw: unknown[] = [];
    const hooked = setup({ raw: (_peer, message) => raw.push(message) });
    await hooked.conn.sendText('hello');
    await hooked.conn.sendBytes(new Uint8Array([1, 2]));
    await until(() => raw.length === 2);
    expect(raw).toEqual([
      expect.objectContaining({ type: WSMsgType.TEXT, data: 'hello' }),
      expect.objectContaining({ type: WSMsgType.BINARY, data: new Uint8Array([1, 2]) }),
    ]);
    expect(hooked.errors).toEqual([]);
  });

  it('the client hands raw messages to its raw listeners, or reports them as not_envelope', async () => {
    const { client, serverConn, errors } = setup();
    await serverConn.sendText('plain');
    await until(() => errors.length === 1);
    expect((errors[0] as ChannelError).code).toBe('not_envelope');
    const raw: unknown[] = [];
    client.on('raw', (m) => raw.push(m));
    await serverConn.sendText('{"not":"an envelope"}');
    await until(() => raw.length === 1);
    expect(raw[0]).toEqual(expect.objectContaining({ data: '{"not":"an envelope"}' }));
  });

  it('the server validates too: a typed message from the server to the client', async () => {
    const { client, peer } = setup();
    const got: unknown[] = [];
    client.onMessage((m) => got.push(m));
    await peer.send('chat', { text: 'from server' });
    await until(() => got.length === 1);
    expect(got).toEqual([{ kind: 'chat', data: { text: 'from server' } }]);
  });

  it('infers the data and reply types from the one definition', () => {
    const { client, peer } = setup();
    expectTypeOf(client.request<'add'>)
      .parameter(1)
      .toEqualTypeOf<{ a: number; b: number }>();
    // Made only for their types: the test's connection has no such handlers.
    const [add, when, who] = [
      client.request('add', { a: 1, b: 2 }),
      client.request('when', null),
      peer.request('whoami', null),
    ];
    for (const p of [add, when, who]) p.catch(() => undefined);
    expectTypeOf(add).resolves.toEqualTypeOf<number>();
    expectTypeOf(when).resolves.toEqualTypeOf<Date>();
    expectTypeOf(who).resolves.toEqualTypeOf<{ name: string }>();
    // @ts-expect-error: chat is not a request kind (no reply schema)
    void client.request('chat', { text: 'x' }).catch(() => undefined);
    // @ts-expect-error: wrong data type
    void client.send('typing', 'yes').catch(() => undefined);
    client.channel('c').on('publication', (p) => {
      if (p.kind === 'chat') expectTypeOf(p.data).toEqualTypeOf<{ text: string }>();
    });
  });

  it('defineMessages refuses what is not a Standard Schema', () => {
    expect(() => defineMessages({ x: { data: {} as never } })).toThrow(TypeError);
  });
});

describe('requests', () => {
  it('client to server: resolves with the validated (transformed) reply', async () => {
    const { client } = setup({
      requests: {
        add: ({ a, b }) => a + b,
        when: () => '2026-12-06T10:00:00.000Z',
      },
    });
    expect(await client.request('add', { a: 2, b: 3 })).toBe(5);
    const when = await client.request('when', null);
    expect(when).toBeInstanceOf(Date);
    expect(when.toISOString()).toBe('2026-12-06T10:00:00.000Z');
  });

  it('server to client, on the peer', async () => {
    const { peer } = setup();
    expect(await peer.request('whoami', null)).toEqual({ name: 'client-side' });
    expect(await peer.request('add', { a: 40, b: 2 })).toBe(42);
    expect((await refusal(peer.request('when', null))).code).toBe('no_handler');
  });

  it('many in flight, answered out of order, each to its own caller', async () => {
    const waiting: (() => void)[] = [];
    const { client } = setup({
      requests: {
        add: ({ a, b }) => new Promise<number>((resolve) => waiting.push(() => resolve(a + b))),
      },
    });
    const calls = Array.from({ length: 100 }, (_, i) => client.request('add', { a: i, b: 1000 }));
    await until(() => waiting.length === 100);
    expect(client.inFlight).toBe(100);
    for (const answer of waiting.reverse()) answer();
    expect(await Promise.all(calls)).toEqual(Array.from({ length: 100 }, (_, i) => i + 1000));
    expect(client.inFlight).toBe(0);
  });

  it('times out with RequestTimeoutError (fake clock); a late reply is dropped; the connection stays open', async () => {
    useFakeClock();
    let answer: (() => void) | undefined;
    const { client, conn, errors } = setup({
      requests: {
        hang: () => new Promise<null>((resolve) => (answer = () => resolve(null))),
        add: ({ a, b }) => a + b,
      },
    });
    const pending = client.request('hang', null, { timeout: 1000 });
    const outcome = pending.then(
      () => 'resolved',
      (e: unknown) => e,
    );
    await until(() => answer !== undefined);
    vi.advanceTimersByTime(999);
    expect(client.inFlight).toBe(1);
    vi.advanceTimersByTime(1);
    const error = (await outcome) as RequestTimeoutError;
    expect(error).toBeInstanceOf(RequestTimeoutError);
    expect([error.code, error.kind, error.timeout]).toEqual(['timeout', 'hang', 1000]);
    answer?.();
    expect(await client.request('add', { a: 1, b: 1 })).toBe(2);
    expect(errors).toEqual([]);
    expect(conn.state).toBe('open');
  });

  it('the default timeout is 10 s; null waits without limit', async () => {
    useFakeClock();
    const { client } = setup({ requests: { hang: () => new Promise<null>(() => undefined) } });
    const bounded = refusal(client.request('hang', null));
    const unbounded = client.request('hang', null, { timeout: null });
    vi.advanceTimersByTime(DEFAULT_REQUEST_TIMEOUT);
    expect((await bounded).code).toBe('timeout');
    vi.advanceTimersByTime(10 * DEFAULT_REQUEST_TIMEOUT);
    expect(client.inFlight).toBe(1);
    void unbounded.catch(() => undefined);
    await expect(client.request('hang', null, { timeout: -1 })).rejects.toThrow(RangeError);
  });

  it('invalid request data gets invalid_data; a handler that throws gets handler_error or its own code', async () => {
    const faults: Error[] = [];
    const { client, conn } = setup({
      requests: {
        add: ({ a }) => {
          if (a === 1) throw new Error('secret internals');
          if (a === 2) throw new ChannelError('forbidden', 'not for you');
          return 0;
        },
      },
      error: (_peer, e) => faults.push(e),
    });
    const invalid = await refusal(client.request('add', { a: 'x', b: 1 } as never));
    expect([invalid.code, invalid.issues?.[0]?.path]).toEqual(['invalid_data', ['a']]);
    const failed = await refusal(client.request('add', { a: 1, b: 1 }));
    expect([failed.code, failed.message]).toEqual(['handler_error', "the handler of 'add' failed"]);
    expect(faults.map((e) => e.message)).toEqual(['secret internals']);
    const refused = await refusal(client.request('add', { a: 2, b: 1 }));
    expect([refused.code, refused.message]).toEqual(['forbidden', 'not for you']);
    expect((await refusal(client.request('whoami', null))).code).toBe('no_handler');
    expect(conn.state).toBe('open');
  });

  it('data that does not serialise: a TypeError for the sender; a reply that does not: handler_error', async () => {
    const faults: Error[] = [];
    const { client, server, conn } = setup({
      requests: { add: () => 10n as never },
      error: (_peer, e) => faults.push(e),
    });
    await expect(client.send('typing', 1n as never)).rejects.toThrow(TypeError);
    await expect(client.request('add', { a: 1n, b: 1 } as never)).rejects.toThrow(TypeError);
    expect(client.inFlight).toBe(0);
    expect((await refusal(client.request('add', { a: 1, b: 2 }))).code).toBe('handler_error');
    expect(faults.map((e) => e.name)).toEqual(['TypeError']);
    // A server publish that does not serialise is refused before the history keeps it.
    await expect(server.publish('room', 'chat', { text: 1n } as never)).rejects.toThrow(TypeError);
    await expect(server.publish('', 'chat', { text: 'x' })).rejects.toThrow(TypeError);
    expect(await server.publish('room', 'chat', { text: 'x' })).toEqual({ epoch: 'e1', offset: 1 });
    expect(conn.state).toBe('open');
  });

  it('a validator that throws: invalid_data for the sender, the fault to the error hook', async () => {
    const faults: Error[] = [];
    const throwing = {
      '~standard': {
        version: 1 as const,
        vendor: 'test',
        validate: (): never => {
          throw new Error('validator bug');
        },
      },
    };
    const defs = { ...messages, add: { data: throwing, reply: messages.add.reply } };
    const broken = makeServer({
      messages: defs as never,
      requests: { add: () => 0 },
      error: (_peer, e) => faults.push(e),
    });
    const { client, conn } = connectTo(broken);
    const error = await refusal(client.request('add', { a: 1, b: 2 }));
    expect([error.code, error.issues]).toEqual([
      'invalid_data',
      [{ message: 'the validator failed' }],
    ]);
    expect(faults.map((e) => e.message)).toEqual(['validator bug']);
    expect(conn.state).toBe('open');
  });

  it('an invalid reply rejects the request with invalid_data', async () => {
    const { client } = setup({ requests: { add: () => 'three' as never } });
    const error = await refusal(client.request('add', { a: 1, b: 2 }));
    expect(error.code).toBe('invalid_data');
  });

  it('requests in flight reject with disconnected when the connection ends', async () => {
    const { client, conn } = setup({
      requests: { hang: () => new Promise<null>(() => undefined) },
    });
    const pending = refusal(client.request('hang', null));
    await until(() => client.inFlight === 1);
    conn.terminate();
    expect((await pending).code).toBe('disconnected');
    expect((await refusal(client.request('hang', null))).code).toBe('disconnected');
  });
});
