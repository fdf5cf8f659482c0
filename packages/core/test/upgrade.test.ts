import { describe, expect, it, vi } from 'vitest';
import {
  acceptUpgrade,
  canUpgrade,
  checkHandshake,
  chooseSubprotocol,
  HEARTBEAT_PROTOCOL,
  offeredProtocols,
  type UpgradeContext,
  type UpgradeDecision,
  type WebSocketHandler,
} from '../src/index.js';
import { MemoryTransport } from '../src/testing.js';

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
const ctx: UpgradeContext = {
  runtime: 'memory',
  capabilities: new MemoryTransport('', '', {}).capabilities,
};

async function statusOf(decision: Promise<UpgradeDecision<unknown>>): Promise<number> {
  const d = await decision;
  return d.accept ? 101 : d.response.status;
}
const offer = (value: string) => upgradeRequest({ 'sec-websocket-protocol': value });

describe('acceptUpgrade', () => {
  it('no hook: accept with resolved options, no protocol, no context, no headers', async () => {
    const decision = await acceptUpgrade(request, {}, ctx);
    expect(decision).toMatchObject({
      accept: true,
      protocol: null,
      context: undefined,
      headers: {},
      heartbeat: false,
      request: undefined,
    });
    if (decision.accept) expect(decision.options.maxMessageSize).toBeGreaterThan(0);
  });
  it('without an upgrade hook only the headers are read: a view will do', async () => {
    const headers = new Map([
      ['upgrade', 'websocket'],
      ['connection', 'upgrade'],
      ['sec-websocket-version', '13'],
      ['sec-websocket-key', KEY],
      ['sec-websocket-protocol', 'a,b'],
    ]);
    const view = { method: 'GET', headers: { get: (name: string) => headers.get(name) ?? null } };
    const decision = await acceptUpgrade(view, { options: { protocols: ['b'] } }, ctx);
    expect(decision).toMatchObject({ accept: true, protocol: 'b' });
  });
  it('with a hook and a view, the Request is built once by ctx.toRequest and handed back', async () => {
    const view = { method: 'GET', headers: request.headers };
    const toRequest = vi.fn(() => request);
    let seen: Request | undefined;
    const decision = await acceptUpgrade(
      view,
      {
        upgrade(req) {
          seen = req;
        },
      },
      { ...ctx, toRequest },
    );
    expect(toRequest).toHaveBeenCalledTimes(1);
    expect(seen).toBe(request);
    expect(decision).toMatchObject({ accept: true, request });
  });
  it('a bad handshake is answered before anything else runs', async () => {
    const upgrade = vi.fn();
    const bad = upgradeRequest({ 'sec-websocket-key': 'short' });
    expect(await statusOf(acceptUpgrade(bad, { upgrade }, ctx))).toBe(400);
    expect(upgrade).not.toHaveBeenCalled();
  });
  it('bad handler options: 500 naming the fault, before the hook runs', async () => {
    const upgrade = vi.fn();
    const decision = await acceptUpgrade(
      request,
      { options: { maxMessageSize: -1 }, upgrade },
      ctx,
    );
    expect(decision.accept).toBe(false);
    if (!decision.accept) {
      expect(decision.response.status).toBe(500);
      expect(await decision.response.text()).toMatch(/bad handler options: RangeError/);
    }
    expect(upgrade).not.toHaveBeenCalled();
  });
  it('an option the runtime cannot honour: 500 naming it, before the hook runs', async () => {
    const upgrade = vi.fn();
    const decision = await acceptUpgrade(
      request,
      { options: { autoclose: false }, upgrade },
      {
        runtime: 'test',
        capabilities: new MemoryTransport('', '', { forcedCloseReply: true }).capabilities,
      },
    );
    expect(decision.accept).toBe(false);
    if (!decision.accept) {
      expect(decision.response.status).toBe(500);
      expect(await decision.response.text()).toMatch(/UnsupportedOptionError.*autoclose/);
    }
    expect(upgrade).not.toHaveBeenCalled();
  });
  it('allowedOrigins: another origin 403 before the hook; no Origin passes; case is ignored', async () => {
    const upgrade = vi.fn();
    const handler: WebSocketHandler = { allowedOrigins: ['https://app.example'], upgrade };
    expect(
      await statusOf(
        acceptUpgrade(upgradeRequest({ origin: 'https://evil.example' }), handler, ctx),
      ),
    ).toBe(403);
    expect(upgrade).not.toHaveBeenCalled();
    expect(
      await statusOf(
        acceptUpgrade(upgradeRequest({ origin: 'https://APP.example' }), handler, ctx),
      ),
    ).toBe(101);
    expect(await statusOf(acceptUpgrade(request, handler, ctx))).toBe(101);
    const byFunction: WebSocketHandler = { allowedOrigins: (o) => o.endsWith('.example') };
    expect(
      await statusOf(
        acceptUpgrade(upgradeRequest({ origin: 'https://a.example' }), byFunction, ctx),
      ),
    ).toBe(101);
    expect(await statusOf(acceptUpgrade(upgradeRequest({ origin: 'null' }), byFunction, ctx))).toBe(
      403,
    );
  });
  it('at maxConnections: 503 with Retry-After, before the hook; under it: accepted', async () => {
    const upgrade = vi.fn();
    const full = await acceptUpgrade(
      request,
      { upgrade },
      { ...ctx, connections: 3, maxConnections: 3 },
    );
    expect(full.accept).toBe(false);
    if (!full.accept) {
      expect(full.response.status).toBe(503);
      expect(full.response.headers.get('retry-after')).toBe('1');
    }
    expect(upgrade).not.toHaveBeenCalled();
    expect(
      await statusOf(acceptUpgrade(request, {}, { ...ctx, connections: 2, maxConnections: 3 })),
    ).toBe(101);
  });
  it('a Response from the hook refuses with it (401, 403, …)', async () => {
    for (const status of [401, 403]) {
      const response = new Response('no', { status });
      expect(await acceptUpgrade(request, { upgrade: () => response }, ctx)).toEqual({
        accept: false,
        response,
      });
      expect(await acceptUpgrade(request, { upgrade: async () => response }, ctx)).toEqual({
        accept: false,
        response,
      });
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
      expect(await statusOf(acceptUpgrade(request, { upgrade }, ctx))).toBe(500);
    }
  });
  it('the hook sees the request and sets context and headers', async () => {
    const decision = await acceptUpgrade<{ user: string }>(
      request,
      {
        upgrade(req) {
          return { context: { user: new URL(req.url).pathname }, headers: { 'x-a': '1' } };
        },
      },
      ctx,
    );
    expect(decision).toMatchObject({
      accept: true,
      protocol: null,
      context: { user: '/ws' },
      headers: { 'x-a': '1' },
    });
  });
  it("picks the subprotocol by the server's order of preference, with or without spaces", async () => {
    const handler = { options: { protocols: ['chat.v2', 'chat.v1'] } };
    expect(await acceptUpgrade(offer('chat.v1, chat.v2'), handler, ctx)).toMatchObject({
      protocol: 'chat.v2',
    });
    expect(await acceptUpgrade(offer('chat.v1,chat.v2'), handler, ctx)).toMatchObject({
      protocol: 'chat.v2',
    });
    expect(await acceptUpgrade(offer('chat.v1'), handler, ctx)).toMatchObject({
      protocol: 'chat.v1',
    });
    expect(await acceptUpgrade(request, handler, ctx)).toMatchObject({
      accept: true,
      protocol: null,
    });
  });
  it('an offer nothing matches: 400 saying why, unless allowNoProtocol', async () => {
    const handler = { options: { protocols: ['chat.v2'] } };
    const refused = await acceptUpgrade(offer('other'), handler, ctx);
    expect(refused.accept).toBe(false);
    if (!refused.accept) {
      expect(refused.response.status).toBe(400);
      expect(await refused.response.text()).toMatch(/other.*chat\.v2/);
    }
    // A handler without protocols refuses any offer too.
    expect(await statusOf(acceptUpgrade(offer('x'), {}, ctx))).toBe(400);
    expect(
      await acceptUpgrade(offer('other'), { ...handler, allowNoProtocol: true }, ctx),
    ).toMatchObject({ accept: true, protocol: null });
  });
  it('the heartbeat token matches nothing, sets heartbeat, and is answered when nothing else is', async () => {
    // A browser fails an opening answered without any of its offers: the token is selected.
    expect(await acceptUpgrade(offer(HEARTBEAT_PROTOCOL), {}, ctx)).toMatchObject({
      accept: true,
      protocol: HEARTBEAT_PROTOCOL,
      heartbeat: true,
    });
    expect(
      await acceptUpgrade(offer(`other, ${HEARTBEAT_PROTOCOL}`), { allowNoProtocol: true }, ctx),
    ).toMatchObject({ accept: true, protocol: HEARTBEAT_PROTOCOL, heartbeat: true });
    const handler = { options: { protocols: ['chat', HEARTBEAT_PROTOCOL] } };
    expect(await acceptUpgrade(offer(`chat, ${HEARTBEAT_PROTOCOL}`), handler, ctx)).toMatchObject({
      protocol: 'chat',
      heartbeat: true,
    });
    expect(await statusOf(acceptUpgrade(offer(`x,${HEARTBEAT_PROTOCOL}`), {}, ctx))).toBe(400);
    expect(chooseSubprotocol([HEARTBEAT_PROTOCOL], [HEARTBEAT_PROTOCOL], undefined, false)).toEqual(
      {
        protocol: HEARTBEAT_PROTOCOL,
        heartbeat: true,
        refusal: null,
      },
    );
  });
  it('the hook may choose an offered subprotocol; one not offered refuses with 500', async () => {
    const req = offer('a, b');
    const handler = { options: { protocols: ['a', 'b'] } };
    expect(
      await acceptUpgrade(req, { ...handler, upgrade: () => ({ protocol: 'b' }) }, ctx),
    ).toMatchObject({ accept: true, protocol: 'b' });
    const refused = await acceptUpgrade(
      req,
      { ...handler, upgrade: () => ({ protocol: 'c' }) },
      ctx,
    );
    expect(refused.accept).toBe(false);
    if (!refused.accept) {
      expect(refused.response.status).toBe(500);
      expect(await refused.response.text()).toMatch(/c, which was not offered/);
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
      ok: false,
      protocol: null,
    });
    expect(
      canUpgrade(upgradeRequest({ 'sec-websocket-protocol': 'z' }), {
        ...handler,
        allowNoProtocol: true,
      }),
    ).toEqual({ ok: true, protocol: null });
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
