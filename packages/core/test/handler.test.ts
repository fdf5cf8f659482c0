import { describe, expect, it } from 'vitest';
import {
  defineHandler,
  runHandler,
  type WebSocketConnection,
  type WebSocketHandler,
  WSMsgType,
} from '../src/index.js';
import { createPair } from '../src/testing.js';
import { flush, stateOf } from './helpers.js';

const request = new Request('http://127.0.0.1/ws');

describe('runHandler: hooks', () => {
  it('open once, message for each message, close with code and reason; `this` is the handler', async () => {
    const { client, server } = createPair();
    const events: unknown[] = [];
    const handler: WebSocketHandler = {
      open(conn) {
        events.push(['open', conn === server, this === handler]);
      },
      message(conn, message) {
        events.push(['message', conn === server, message.data]);
      },
      close(conn, code, reason) {
        events.push(['close', conn === server, code, reason]);
      },
    };
    const done = runHandler(server, handler);
    await client.sendText('a');
    await client.sendBytes(new Uint8Array([1]));
    await flush();
    await client.close(4000, 'bye');
    await done;
    expect(events).toEqual([
      ['open', true, true],
      ['message', true, 'a'],
      ['message', true, new Uint8Array([1])],
      ['close', true, 4000, 'bye'],
    ]);
  });
  it('the error hook gets connection faults', async () => {
    const { client, server } = createPair({ server: { maxMessageSize: 1 } });
    const errors: Error[] = [];
    void runHandler(server, { error: (_conn, error) => void errors.push(error) });
    await client.sendText('too big');
    await server.whenClosed;
    expect(errors.map((e) => e.name)).toEqual(['MessageTooBigError']);
  });
  it.each([
    [
      'open throws',
      {
        open: () => {
          throw new Error('boom');
        },
      },
    ],
    [
      'open rejects',
      {
        open: async () => {
          throw new Error('boom');
        },
      },
    ],
    [
      'message throws',
      {
        message: () => {
          throw new Error('boom');
        },
      },
    ],
    [
      'message rejects',
      {
        message: async () => {
          throw new Error('boom');
        },
      },
    ],
  ] as [string, WebSocketHandler][])(
    '%s: the error hook gets it and the connection closes with 1011',
    async (_name, hooks) => {
      const { client, server } = createPair();
      const errors: Error[] = [];
      void runHandler(server, { ...hooks, error: (_c, e) => void errors.push(e) });
      await client.sendText('trigger');
      expect(await client.receive()).toEqual({
        type: WSMsgType.CLOSE,
        data: 1011,
        extra: 'internal error',
      });
      await client.whenClosed;
      expect(errors.map((e) => e.message)).toEqual(['boom']);
      expect(server.closeCode).toBe(1011);
    },
  );
  it('a thrown non-Error reaches the error hook as an Error', async () => {
    const { client, server } = createPair();
    const errors: Error[] = [];
    void runHandler(server, {
      open: () => {
        throw 'text';
      },
      error: (_c, e) => void errors.push(e),
    });
    await client.whenClosed;
    expect(errors[0]).toBeInstanceOf(Error);
    expect(errors[0]?.message).toBe('text');
    expect(client.closeCode).toBe(1011);
  });
  it('a failing hook without an error hook still closes with 1011', async () => {
    const { client, server } = createPair();
    void runHandler(server, {
      open: () => {
        throw new Error('x');
      },
    });
    await client.whenClosed;
    expect(client.closeCode).toBe(1011);
  });
  it('an error hook that throws or rejects is contained', async () => {
    for (const error of [
      () => {
        throw new Error('error hook failed');
      },
      async () => {
        throw new Error('error hook rejected');
      },
    ]) {
      const { client, server } = createPair();
      void runHandler(server, {
        open: () => {
          throw new Error('x');
        },
        error,
      });
      await client.whenClosed;
      expect(client.closeCode).toBe(1011);
    }
  });
  it('a failing close hook reaches the error hook; the connection is already closed', async () => {
    const { client, server } = createPair();
    const errors: Error[] = [];
    const done = runHandler(server, {
      close: () => {
        throw new Error('close hook failed');
      },
      error: (_c, e) => void errors.push(e),
    });
    await client.close(1000);
    await done;
    expect(errors.map((e) => e.message)).toEqual(['close hook failed']);
    expect(server.closeCode).toBe(1000);
  });
  it('resolves when the connection is closed, with no hooks at all', async () => {
    const { client, server } = createPair();
    const done = runHandler(server, {});
    expect(await stateOf(done)).toBe('pending');
    await client.close();
    expect(await stateOf(done)).toBe('fulfilled');
  });
});

describe('conn.request', () => {
  it('a builder is called on the first read only, then the same Request is kept', () => {
    let built = 0;
    const { server } = createPair({
      request: () => {
        built++;
        return request;
      },
    });
    expect(built).toBe(0);
    expect(server.request).toBe(request);
    expect(server.request).toBe(request);
    expect(built).toBe(1);
    // A client connection has no upgrade request: reading it is a clear error, not undefined.
    expect(() => createPair().client.request).toThrow(/no upgrade request/);
  });
});

describe('runHandler: session', () => {
  it('the session pulls with receive(); when it returns the connection is closed with 1000', async () => {
    const { client, server } = createPair({ request });
    let seenRequest: Request | undefined;
    const handler = defineHandler({
      async session(conn) {
        seenRequest = conn.request;
        const text = await conn.receiveText();
        await conn.sendText(text.toUpperCase());
      },
    });
    const done = runHandler(server, handler);
    await client.sendText('hi');
    expect(await client.receiveText()).toBe('HI');
    expect(await client.receive()).toMatchObject({ type: WSMsgType.CLOSE, data: 1000 });
    await done;
    expect(seenRequest).toBe(request);
    expect(server.closed).toBe(true);
  });
  it('a session that throws: error hook, then 1011', async () => {
    const { client, server } = createPair();
    const errors: Error[] = [];
    void runHandler(server, {
      session: async () => {
        throw new Error('session failed');
      },
      error: (_c, e) => void errors.push(e),
    });
    await client.whenClosed;
    expect(client.closeCode).toBe(1011);
    expect(errors.map((e) => e.message)).toEqual(['session failed']);
  });
  it('a session that throws synchronously: error hook, then 1011; runHandler resolves, never rejects', async () => {
    const { client, server } = createPair();
    const errors: Error[] = [];
    const done = runHandler(server, {
      session: (() => {
        throw new Error('sync failure');
      }) as unknown as WebSocketHandler['session'],
      error: (_c, e) => void errors.push(e),
    });
    await expect(done).resolves.toBeUndefined();
    expect(client.closeCode).toBe(1011);
    expect(errors.map((e) => e.message)).toEqual(['sync failure']);
  });
  it('runHandler resolves once the connection is closed, also when the session closed it itself', async () => {
    const { client, server } = createPair();
    let settled = false;
    const done = runHandler(server, {
      async session(conn) {
        await conn.receive();
        await conn.close(4001, 'done');
      },
    }).then(() => {
      settled = true;
    });
    await flush();
    expect(settled).toBe(false);
    await client.sendText('go');
    await done;
    expect(server.closed).toBe(true);
    expect(server.closeCode).toBe(4001);
  });
  it('the error hook gets connection faults with a session too', async () => {
    const { client, server } = createPair({ server: { maxMessageSize: 1 } });
    const errors: Error[] = [];
    const read: number[] = [];
    void runHandler(server, {
      async session(conn) {
        for await (const message of conn) read.push(message.type);
      },
      error: (_c, e) => void errors.push(e),
    });
    await client.sendText('too big');
    await server.whenClosed;
    expect(errors.map((e) => e.name)).toEqual(['MessageTooBigError']);
    expect(read).toEqual([WSMsgType.ERROR]); // the session sees it too, as an ERROR message
  });
  it('the close hook runs with a session too', async () => {
    const { client, server } = createPair();
    const closes: number[] = [];
    const done = runHandler(server, {
      session: async (conn) => {
        for await (const _ of conn) {
          // drain
        }
      },
      close: (_c, code) => void closes.push(code),
    });
    await client.close(4001);
    await done;
    expect(closes).toEqual([4001]);
  });
  it('a session that returns after the peer close with autoclose off: the connection is still closed', async () => {
    const { client, server } = createPair({
      server: { autoclose: false },
      client: { closeTimeout: 60_000 },
    });
    const done = runHandler(server, {
      async session(conn) {
        await conn.receive(); // the CLOSE; the session leaves without answering
      },
    });
    await client.close(4002);
    await done;
    expect(server.closed).toBe(true);
    expect(client.closeCode).toBe(1000); // the server's own answer, not a 1006 after 60 s
  });
  it('a session that closed the connection itself is left alone', async () => {
    const { client, server } = createPair();
    await Promise.all([
      runHandler(server, { session: (conn) => conn.close(4003, 'mine') }),
      client.whenClosed,
    ]);
    expect(client.closeCode).toBe(4003);
  });
});

describe('defineHandler', () => {
  it('returns the handler as it is (for type inference)', () => {
    const handler = { open: (_conn: WebSocketConnection<{ n: number }>) => undefined };
    expect(defineHandler(handler)).toBe(handler);
  });
});
