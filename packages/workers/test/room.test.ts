/**
 * What only a room has: hibernation safety, the heartbeat answered by the runtime while the
 * object sleeps, dead peers found by the room, bad input, and the limits of the attachment.
 */
import { APP_PING, APP_PONG, HEARTBEAT_PROTOCOL, type WebSocketConnection } from '@anyws/core';
import { connect } from '@anyws/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  clientFrame,
  openSilentClient,
  type RawClient,
  rawHandshake,
  rawRequest,
  readFrames,
  type ServerFrame,
  upgradeHeaders,
} from './helpers/raw.js';
import { startWorkerd, type Workerd } from './helpers/workerd.js';

type Conn = WebSocketConnection<unknown>;

let workerd: Workerd;
beforeAll(async () => {
  workerd = await startWorkerd();
});
afterAll(() => workerd?.dispose());

const text = (frame: ServerFrame | undefined) => frame?.payload.toString('utf8') ?? '';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function json(conn: Conn, timeout = 5000): Promise<Record<string, unknown>> {
  return JSON.parse(await conn.receiveText({ timeout })) as Record<string, unknown>;
}

async function ask(conn: Conn, command: string): Promise<Record<string, unknown>> {
  await conn.sendText(command);
  return json(conn);
}

/** Sends the application-level heartbeat ping every `ms` (at most 200); `stop()` says how many went. */
function keepPinging(client: RawClient, ms: number) {
  let sent = 0;
  const timer = setInterval(() => {
    if (sent >= 200) return;
    client.socket.write(clientFrame(1, Buffer.from(APP_PING)));
    sent++;
  }, ms);
  return {
    stop(): number {
      clearInterval(timer);
      return sent;
    },
  };
}

/** An observer of the room's report topic (the contract's `observe` route). */
async function observe(room: string) {
  const conn = await connect(`${workerd.ws}/room/${room}/observe`);
  expect(await conn.receiveText({ timeout: 5000 })).toBe('ready');
  const seen: Record<string, unknown>[] = [];
  return {
    conn,
    /** The next report matching `match`, reading reports for at most `timeout` ms. */
    async next(match: (report: Record<string, unknown>) => boolean, timeout = 5000) {
      const found = seen.find(match);
      if (found) return found;
      const deadline = Date.now() + timeout;
      while (Date.now() < deadline) {
        const report = await json(conn, Math.max(1, deadline - Date.now())).catch(() => null);
        if (!report) break;
        if (match(report)) return report;
        seen.push(report);
      }
      throw new Error(`no matching report within ${timeout} ms (saw ${JSON.stringify(seen)})`);
    },
    /** Reports seen so far (without waiting), for asserting what did not happen. */
    async drain(ms: number) {
      const deadline = Date.now() + ms;
      while (Date.now() < deadline) {
        const report = await json(conn, Math.max(1, deadline - Date.now())).catch(() => null);
        if (report) seen.push(report);
      }
      return seen;
    },
  };
}

describe('hibernation', () => {
  it('after the object is evicted, the next message reaches the hooks with context and topics intact', async () => {
    const room = `hibernate-${Date.now()}`;
    const ada = await connect(`${workerd.ws}/room/${room}/probe?user=ada`, { protocols: [] });
    const opened = await json(ada);
    expect(opened.topics).toEqual(['news']);
    // A subscription after the upgrade is no tag (tags are fixed at acceptWebSocket).
    expect((await ask(ada, 'subscribe later')).topics).toEqual(['news', 'later']);
    expect(await ask(ada, 'note remembered')).toEqual({ noted: 'remembered' });
    const bob = await connect(`${workerd.ws}/room/${room}/probe?user=bob`);
    await json(bob);
    // A client that keeps up the application-level heartbeat while the room is idle.
    const sleeper = await rawHandshake(`${workerd.ws}/room/${room}/probe?user=sleeper`);
    const heard = readFrames(sleeper, () => false, 60_000);
    const pinging = keepPinging(sleeper, 1000);

    // workerd evicts an object after 10 s without events; the clients stay connected, and
    // heartbeat pings the runtime answers are no events.
    let after: Record<string, unknown> = {};
    for (let attempt = 0; attempt < 3; attempt++) {
      await sleep(11_000);
      after = await ask(ada, 'whoami');
      if (after.instance !== opened.instance) break;
    }
    const pings = pinging.stop();
    expect(after.instance, 'a fresh instance of the object').not.toBe(opened.instance);
    await sleep(200);
    sleeper.socket.destroy();
    const answered = (await heard).map(text).filter((t) => t === APP_PONG);
    expect(pings).toBeGreaterThanOrEqual(10);
    expect(answered, 'every ping answered, asleep or not').toHaveLength(pings);
    expect(after.context).toEqual({ user: 'ada', note: 'remembered' });
    expect(after.topics).toEqual(['news', 'later']);
    expect(after.url).toBe(`ws://127.0.0.1:${workerd.port}/room/${room}/probe?user=ada`);

    // Publishing after the wake: by tag ('news') and by attachment ('later').
    expect(await ask(bob, 'publish news fresh news')).toEqual({ published: 1 });
    expect(await ada.receiveText({ timeout: 5000 })).toBe('fresh news');
    expect(await ask(bob, 'publish later later news')).toEqual({ published: 1 });
    expect(await ada.receiveText({ timeout: 5000 })).toBe('later news');
    // An unsubscribed tag no longer delivers.
    expect((await ask(ada, 'unsubscribe news')).topics).toEqual(['later']);
    expect(await ask(bob, 'publish news unheard')).toEqual({ published: 0 });
    await Promise.all([ada.close(), bob.close()]);
  }, 60_000);
});

describe('heartbeat', () => {
  it('the runtime answers heartbeat pings without waking the handlers; a silent peer is found and ended', async () => {
    const room = `heartbeat-${Date.now()}`;
    const base = `${workerd.ws}/room/${room}/hb-hooks`;
    const reports = await observe(room);
    // The application-level heartbeat as clients without ping frames (browsers) send it.
    // It offers the heartbeat token, as they do: the room says hello first.
    const pinger = await rawHandshake(`${base}?user=pinger`, 5000, HEARTBEAT_PROTOCOL);
    const opening = await readFrames(pinger, (f) => f.opcode === 1 && text(f) === 'ready');
    expect(opening.filter((f) => f.opcode === 1).map(text)).toEqual([APP_PING, 'ready']);
    // Ping frames: workerd answers them itself, unseen by the room, which pings it (core answers).
    const framer = await connect(`${base}?user=framer`, {
      heartbeat: { interval: 50, timeout: 1000 },
    });
    // No heartbeat of its own and no token offered: the room cannot ping it (no ping frames in
    // workerd, no agreement) and leaves it alone.
    const quiet = await connect(`${base}?user=quiet`);
    for (const conn of [framer, quiet])
      expect(await conn.receiveText({ timeout: 5000 })).toBe('ready');
    const silent = await openSilentClient(`${base}?user=silent`);

    // Pings every 50 ms until the end, read by one reader up to the answer to 'stats'.
    const heard = readFrames(pinger, (f) => f.opcode === 1 && text(f).startsWith('{'), 15_000);
    const pinging = keepPinging(pinger, 50);

    const error = await reports.next((r) => r.user === 'silent' && r.event === 'error');
    expect(error.error).toBe('HeartbeatTimeoutError');
    const closed = await reports.next((r) => r.user === 'silent' && r.event === 'close');
    expect(closed.code).toBe(1006);
    await sleep(500);
    const sent = pinging.stop();
    pinger.socket.write(clientFrame(1, Buffer.from('stats')));
    const frames = (await heard).map(text);

    const stats = JSON.parse(frames.at(-1) ?? '{}') as Record<string, unknown>;
    expect(sent).toBeGreaterThan(10);
    // Every ping was answered, by the runtime: webSocketMessage saw only 'stats'.
    expect(frames.filter((t) => t === APP_PONG)).toHaveLength(sent);
    expect(stats.delivered).toBe(1);
    expect(stats.autoResponseAge).not.toBeNull();
    expect(stats.autoResponseAge as number).toBeLessThan(2000);
    // The room never had to ping a peer whose pings the runtime answered.
    expect(frames.filter((t) => t === APP_PING)).toEqual([]);

    expect(framer.state).toBe('open');
    expect(quiet.state).toBe('open');
    // The live ones were never taken for dead.
    const others = (await reports.drain(300)).filter((r) => r.user !== 'silent');
    expect(others).toEqual([]);
    silent.close();
    pinger.socket.destroy();
    await Promise.all([framer.close(), quiet.close(), reports.conn.close()]);
  });
});

describe('bad input in a room', () => {
  it('an oversized message closes that connection with 1009; the room keeps serving the others', async () => {
    const room = `bad-${Date.now()}`;
    const small = await connect(`${workerd.ws}/room/${room}/small`);
    const probe = await connect(`${workerd.ws}/room/${room}/probe?user=big`);
    await json(probe);
    const echo = await connect(`${workerd.ws}/room/${room}/echo`);

    await small.sendBytes(new Uint8Array(2048));
    const closed = await small.receive({ timeout: 5000 });
    expect([closed.type, closed.data]).toEqual([0x8, 1009]);
    // Over core's default 4 MiB (workerd itself would take up to 32 MiB), on a hook route.
    await probe.sendText('x'.repeat(4 * 1024 * 1024 + 1));
    const tooBig = await probe.receive({ timeout: 5000 });
    expect([tooBig.type, tooBig.data]).toEqual([0x8, 1009]);

    await echo.sendText('still here');
    expect(await echo.receiveText({ timeout: 5000 })).toBe('still here');
    await echo.close();
  });

  it('invalid JSON in receiveJson is a typed error and the session goes on; other connections are served', async () => {
    const room = `json-${Date.now()}`;
    const session = await connect(`${workerd.ws}/room/${room}/json-session`);
    const echo = await connect(`${workerd.ws}/room/${room}/echo`);
    await session.sendText('{not json');
    expect(await session.receiveText({ timeout: 5000 })).toBe('error:JsonParseError');
    await session.sendText('{"ok":true}');
    expect(await session.receiveText({ timeout: 5000 })).toBe('ok:{"ok":true}');
    await echo.sendText('served');
    expect(await echo.receiveText({ timeout: 5000 })).toBe('served');
    await Promise.all([session.close(), echo.close()]);
  });
});

describe('the attachment and the opt-ins', () => {
  it('a context over the attachment limit is refused at upgrade with a clear error', async () => {
    const answer = await rawRequest(`${workerd.http}/room/limits/big-context`, upgradeHeaders());
    expect(answer.status).toBe(500);
    expect(answer.body).toMatch(/attachment/);
    expect(answer.body).toMatch(/16384 bytes/);
    expect(answer.body).toMatch(/ctx\.storage/);
  });

  it('a context that grows past the limit: saveContext throws AttachmentError, the connection stays', async () => {
    const conn = await connect(`${workerd.ws}/room/limits/probe?user=grower`);
    await json(conn);
    const refused = await ask(conn, 'big-note 20000');
    expect(refused.error).toBe('AttachmentError');
    expect(await ask(conn, 'note small')).toEqual({ noted: 'small' });
    expect((await ask(conn, 'whoami')).context).toEqual({ user: 'grower', note: 'small' });
    await conn.close();
  });

  it('a session handler needs the opt-in: refused with 500 in a room without allowSessions', async () => {
    const answer = await rawRequest(`${workerd.http}/strict/s/echo-pull`, upgradeHeaders());
    expect(answer.status).toBe(500);
    expect(answer.body).toMatch(/allowSessions/);
    const hooks = await connect(`${workerd.ws}/strict/s/echo`);
    await hooks.sendText('hooks are fine');
    expect(await hooks.receiveText({ timeout: 5000 })).toBe('hooks are fine');
    await hooks.close();
  });

  it('publish over RPC from the Worker reaches sleeping subscribers', async () => {
    const room = `rpc-${Date.now()}`;
    const a = await connect(`${workerd.ws}/room/${room}/probe?user=a`);
    await json(a);
    const response = await fetch(`${workerd.http}/publish/${room}/news?text=from%20rpc`);
    expect(await response.text()).toBe('1');
    expect(await a.receiveText({ timeout: 5000 })).toBe('from rpc');
    await a.close();
  });
});

describe('routing', () => {
  it('a room with its handler as a field', async () => {
    const conn = await connect(`${workerd.ws}/echo-room/field/anything`);
    await conn.sendText('hi');
    expect(await conn.receiveText({ timeout: 5000 })).toBe('field:hi');
    await conn.close();
  });

  it('routeToRoom refuses a bad handshake in the Worker; roomRouter answers 404 without a room', async () => {
    const headers = { ...upgradeHeaders(), 'sec-websocket-key': 'short' };
    expect((await rawRequest(`${workerd.http}/room/r/echo`, headers)).status).toBe(400);
    expect((await rawRequest(`${workerd.http}/router//echo`, upgradeHeaders())).status).toBe(404);
    const conn = await connect(`${workerd.ws}/router/r1/echo`);
    await conn.sendText('routed');
    expect(await conn.receiveText({ timeout: 5000 })).toBe('routed');
    await conn.close();
  });

  it('Hono: upgradeWebSocket serves a plain route, routes to a room, and lets plain HTTP through', async () => {
    const plain = await connect(`${workerd.ws}/hono/echo`);
    await plain.sendText('hono plain');
    expect(await plain.receiveText({ timeout: 5000 })).toBe('hono plain');
    const response = await fetch(`${workerd.http}/hono/echo`);
    expect(await response.text()).toBe('plain HTTP on a WebSocket route');

    const observer = await observe('hono-room');
    const roomed = await connect(`${workerd.ws}/hono/room/hono-room/close-watch`);
    await roomed.close(4005, 'via hono');
    const report = await observer.next((r) => r.route === 'close-watch');
    expect(report.code).toBe(4005);
    await Promise.all([plain.close(), observer.conn.close()]);
  });
});
