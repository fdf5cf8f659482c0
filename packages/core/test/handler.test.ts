import { describe, expect, it, vi } from 'vitest';
import {
  canUpgrade,
  checkHandshake,
  decideUpgrade,
  defineHandler,
  offeredProtocols,
  runHandler,
  type WebSocketConnection,
  type WebSocketHandler,
  WSMsgType,
} from '../src/index.js';
import { createPair } from '../src/testing.js';
import { flush, stateOf } from './helpers.js';

const KEY = 'dGhlIHNhbXBsZSBub25jZQ=='; // RFC 6455 §1.3's example key

function upgradeRequest(headers: Record<string, string> = {}, init: RequestInit = {}): Request {
  return new Request('http://127.0.0.1/ws', {
    ...init,
    headers: {
      upgrade: 'websocket',
      connection: 'Upgrade',
      'sec-websocket-version': '13',
      'sec-websocket-key': KEY,
      ...headers,
    },
  });
}
const request = upgradeRequest();

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
    const done = runHandler(server, handler, request);
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
    void runHandler(server, { error: (_conn, error) => void errors.push(error) }, request);
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
      void runHandler(server, { ...hooks, error: (_c, e) => void errors.push(e) }, request);
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
    void runHandler(
      server,
      {
        open: () => {
          throw 'text';
        },
        error: (_c, e) => void errors.push(e),
      },
      request,
    );
    await client.whenClosed;
    expect(errors[0]).toBeInstanceOf(Error);
    expect(errors[0]?.message).toBe('text');
    expect(client.closeCode).toBe(1011);
  });
  it('a failing hook without an error hook still closes with 1011', async () => {
    const { client, server } = createPair();
    void runHandler(
      server,
      {
        open: () => {
          throw new Error('x');
        },
      },
      request,
    );
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
      void runHandler(
        server,
        {
          open: () => {
            throw new Error('x');
          },
          error,
        },
        request,
      );
      await client.whenClosed;
      expect(client.closeCode).toBe(1011);
    }
  });
  it('a failing close hook reaches the error hook; the connection is already closed', async () => {
    const { client, server } = createPair();
    const errors: Error[] = [];
    const done = runHandler(
      server,
      {
        close: () => {
          throw new Error('close hook failed');
        },
        error: (_c, e) => void errors.push(e),
      },
      request,
    );
    await client.close(1000);
    await done;
    expect(errors.map((e) => e.message)).toEqual(['close hook failed']);
    expect(server.closeCode).toBe(1000);
  });
  it('resolves when the connection is closed, with no hooks at all', async () => {
    const { client, server } = createPair();
    const done = runHandler(server, {}, request);
    expect(await stateOf(done)).toBe('pending');
    await client.close();
    expect(await stateOf(done)).toBe('fulfilled');
  });
});

describe('runHandler: session', () => {
  it('the session pulls with receive(); when it returns the connection is closed with 1000', async () => {
    const { client, server } = createPair();
    let seenRequest: Request | undefined;
    const handler = defineHandler({
      async session(conn, req) {
        seenRequest = req;
        const text = await conn.receiveText();
        await conn.sendText(text.toUpperCase());
      },
    });
    const done = runHandler(server, handler, request);
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
    void runHandler(
      server,
      {
        session: async () => {
          throw new Error('session failed');
        },
        error: (_c, e) => void errors.push(e),
      },
      request,
    );
    await client.whenClosed;
    expect(client.closeCode).toBe(1011);
    expect(errors.map((e) => e.message)).toEqual(['session failed']);
  });
  it('a session that throws synchronously: error hook, then 1011; runHandler resolves, never rejects', async () => {
    const { client, server } = createPair();
    const errors: Error[] = [];
    const done = runHandler(
      server,
      {
        session: (() => {
          throw new Error('sync failure');
        }) as unknown as WebSocketHandler['session'],
        error: (_c, e) => void errors.push(e),
      },
      request,
    );
    await expect(done).resolves.toBeUndefined();
    expect(client.closeCode).toBe(1011);
    expect(errors.map((e) => e.message)).toEqual(['sync failure']);
  });
  it('runHandler resolves once the connection is closed, also when the session closed it itself', async () => {
    const { client, server } = createPair();
    let settled = false;
    const done = runHandler(
      server,
      {
        async session(conn) {
          await conn.receive();
          await conn.close(4001, 'done');
        },
      },
      request,
    ).then(() => {
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
    void runHandler(
      server,
      {
        async session(conn) {
          for await (const message of conn) read.push(message.type);
        },
        error: (_c, e) => void errors.push(e),
      },
      request,
    );
    await client.sendText('too big');
    await server.whenClosed;
    expect(errors.map((e) => e.name)).toEqual(['MessageTooBigError']);
    expect(read).toEqual([WSMsgType.ERROR]); // the session sees it too, as an ERROR message
  });
  it('the close hook runs with a session too', async () => {
    const { client, server } = createPair();
    const closes: number[] = [];
    const done = runHandler(
      server,
      {
        session: async (conn) => {
          for await (const _ of conn) {
            // drain
          }
        },
        close: (_c, code) => void closes.push(code),
      },
      request,
    );
    await client.close(4001);
    await done;
    expect(closes).toEqual([4001]);
  });
  it('a session that returns after the peer close with autoclose off: the connection is still closed', async () => {
    const { client, server } = createPair({
      server: { autoclose: false },
      client: { closeTimeout: 60_000 },
    });
    const done = runHandler(
      server,
      {
        async session(conn) {
          await conn.receive(); // the CLOSE; the session leaves without answering
        },
      },
      request,
    );
    await client.close(4002);
    await done;
    expect(server.closed).toBe(true);
    expect(client.closeCode).toBe(1000); // the server's own answer, not a 1006 after 60 s
  });
  it('a session that closed the connection itself is left alone', async () => {
    const { client, server } = createPair();
    await Promise.all([
      runHandler(server, { session: (conn) => conn.close(4003, 'mine') }, request),
      client.whenClosed,
    ]);
    expect(client.closeCode).toBe(4003);
  });
});

describe('decideUpgrade', () => {
  it('without an upgrade hook only the headers are read: a view will do', async () => {
    const view = {
      method: 'GET',
      headers: { get: (name: string) => (name === 'sec-websocket-protocol' ? 'a, b' : null) },
    };
    const decision = await decideUpgrade({ options: { protocols: ['b'] } }, view);
    expect(decision).toEqual({ accept: true, protocol: 'b', context: undefined, headers: {} });
  });
  it('no upgrade hook: accept, no protocol, no context, no headers', async () => {
    expect(await decideUpgrade({}, request)).toEqual({
      accept: true,
      protocol: null,
      context: undefined,
      headers: {},
    });
  });
  it('a Response from the hook refuses with it (401, 403, …)', async () => {
    for (const status of [401, 403]) {
      const response = new Response('no', { status });
      const decision = await decideUpgrade({ upgrade: () => response }, request);
      expect(decision).toEqual({ accept: false, response });
      const asyncDecision = await decideUpgrade({ upgrade: async () => response }, request);
      expect(asyncDecision).toEqual({ accept: false, response });
    }
  });
  it('a hook that throws or rejects refuses with 500', async () => {
    for (const upgrade of [
      () => {
        throw new Error('x');
      },
      async () => {
        throw new Error('x');
      },
    ]) {
      const decision = await decideUpgrade({ upgrade }, request);
      expect(decision.accept).toBe(false);
      if (!decision.accept) expect(decision.response.status).toBe(500);
    }
  });
  it('the hook sees the request and sets context and headers', async () => {
    const decision = await decideUpgrade<{ user: string }>(
      {
        upgrade(req) {
          return { context: { user: new URL(req.url).pathname }, headers: { 'x-a': '1' } };
        },
      },
      request,
    );
    expect(decision).toEqual({
      accept: true,
      protocol: null,
      context: { user: '/ws' },
      headers: { 'x-a': '1' },
    });
  });
  it("picks the subprotocol by the server's order of preference among those offered", async () => {
    const handler = { options: { protocols: ['chat.v2', 'chat.v1'] } };
    const offer = (value: string) => upgradeRequest({ 'sec-websocket-protocol': value });
    expect(await decideUpgrade(handler, offer('chat.v1, chat.v2'))).toMatchObject({
      protocol: 'chat.v2',
    });
    expect(await decideUpgrade(handler, offer('chat.v1'))).toMatchObject({ protocol: 'chat.v1' });
    expect(await decideUpgrade(handler, offer('other'))).toMatchObject({
      accept: true,
      protocol: null,
    });
    expect(await decideUpgrade(handler, request)).toMatchObject({ accept: true, protocol: null });
  });
  it('the hook may choose an offered subprotocol; one not offered refuses with 500', async () => {
    const req = upgradeRequest({ 'sec-websocket-protocol': 'a, b' });
    const handler = { options: { protocols: ['a', 'b'] } };
    expect(
      await decideUpgrade({ ...handler, upgrade: () => ({ protocol: 'b' }) }, req),
    ).toMatchObject({
      accept: true,
      protocol: 'b',
    });
    const refused = await decideUpgrade({ ...handler, upgrade: () => ({ protocol: 'c' }) }, req);
    expect(refused.accept).toBe(false);
    if (!refused.accept) {
      expect(refused.response.status).toBe(500);
      expect(await refused.response.text()).toMatch(/c was not offered/);
    }
  });
});

describe('checkHandshake', () => {
  it('a valid upgrade: null', () => {
    expect(checkHandshake(request)).toBeNull();
    expect(
      checkHandshake(upgradeRequest({ upgrade: 'WebSocket', connection: 'keep-alive, Upgrade' })),
    ).toBeNull();
    expect(
      checkHandshake(upgradeRequest({ upgrade: 'WEBSOCKET', connection: 'UPGRADE' })),
    ).toBeNull();
  });
  it('reads only method and headers.get: a view of a runtime request will do', () => {
    const headers = new Map([
      ['upgrade', 'websocket'],
      ['connection', 'upgrade'],
      ['sec-websocket-version', '13'],
      ['sec-websocket-key', KEY],
    ]);
    const view = { method: 'GET', headers: { get: (name: string) => headers.get(name) ?? null } };
    expect(checkHandshake(view)).toBeNull();
    headers.set('sec-websocket-version', '8');
    expect(checkHandshake(view)?.status).toBe(426);
  });
  it('not GET: 405 with Allow: GET', () => {
    const response = checkHandshake(upgradeRequest({}, { method: 'POST', body: 'x' }));
    expect(response?.status).toBe(405);
    expect(response?.headers.get('allow')).toBe('GET');
  });
  it.each([
    ['no Upgrade header', { upgrade: '' }],
    ['Upgrade: h2c', { upgrade: 'h2c' }],
    ['no Connection header', { connection: '' }],
    ['Connection without the upgrade token', { connection: 'keep-alive' }],
    ['Connection: upgraded (not the token)', { connection: 'upgraded' }],
    ['Connection: upgradx (as long as the token)', { connection: 'upgradx' }],
    ['Upgrade: websockex (as long as the name)', { upgrade: 'websockex' }],
  ])('%s: 426 Upgrade Required naming websocket', (_name, headers) => {
    const response = checkHandshake(upgradeRequest(headers));
    expect(response?.status).toBe(426);
    expect(response?.headers.get('upgrade')).toBe('websocket');
  });
  it.each([
    ['missing', { 'sec-websocket-version': '' }],
    ['8', { 'sec-websocket-version': '8' }],
    ['14', { 'sec-websocket-version': '14' }],
  ])('Sec-WebSocket-Version %s: 426 with Sec-WebSocket-Version: 13', (_name, headers) => {
    const response = checkHandshake(upgradeRequest(headers));
    expect(response?.status).toBe(426);
    expect(response?.headers.get('sec-websocket-version')).toBe('13');
  });
  it.each([
    ['missing', ''],
    ['not base64', '!!!!!!!!!!!!!!!!!!!!!!=='],
    ['too short', 'dGhlIHNhbXBsZQ=='],
    ['too long', 'dGhlIHNhbXBsZSBub25jZSB4eHg='],
    ['without padding', 'dGhlIHNhbXBsZSBub25jZQ'],
  ])('Sec-WebSocket-Key %s: 400', (_name, key) => {
    expect(checkHandshake(upgradeRequest({ 'sec-websocket-key': key }))?.status).toBe(400);
  });
  it('no Sec-WebSocket-Key header at all: 400', () => {
    const req = upgradeRequest();
    req.headers.delete('sec-websocket-key');
    expect(checkHandshake(req)?.status).toBe(400);
  });
});

describe('canUpgrade', () => {
  it('a valid upgrade: ok, with the subprotocol that would be chosen', () => {
    const handler = { options: { protocols: ['x', 'y'] } };
    expect(canUpgrade(upgradeRequest({ 'sec-websocket-protocol': 'y, x' }), handler)).toEqual({
      ok: true,
      protocol: 'x',
    });
    expect(canUpgrade(upgradeRequest({ 'sec-websocket-protocol': 'z' }), handler)).toEqual({
      ok: true,
      protocol: null,
    });
    expect(canUpgrade(request)).toEqual({ ok: true, protocol: null });
  });
  it('plain HTTP or a bad handshake: not ok, without running any hook', () => {
    const upgrade = vi.fn();
    expect(canUpgrade(new Request('http://127.0.0.1/'), { upgrade })).toEqual({
      ok: false,
      protocol: null,
    });
    expect(canUpgrade(upgradeRequest({ 'sec-websocket-key': '' }), { upgrade })).toEqual({
      ok: false,
      protocol: null,
    });
    expect(upgrade).not.toHaveBeenCalled();
  });
});

describe('offeredProtocols', () => {
  it('splits Sec-WebSocket-Protocol on commas, trims, drops empties', () => {
    expect(offeredProtocols(upgradeRequest({ 'sec-websocket-protocol': ' a ,b,, c ' }))).toEqual([
      'a',
      'b',
      'c',
    ]);
    expect(offeredProtocols(request)).toEqual([]);
  });
});

describe('defineHandler', () => {
  it('returns the handler as it is (for type inference)', () => {
    const handler = { open: (_conn: WebSocketConnection<{ n: number }>) => undefined };
    expect(defineHandler(handler)).toBe(handler);
  });
});
