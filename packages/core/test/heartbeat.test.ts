import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  APP_PING,
  APP_PONG,
  ConnectionClosedError,
  HeartbeatTimeoutError,
  UnsupportedOptionError,
  type WSMessage,
  WSMsgType,
} from '../src/index.js';
import { createPair, type MemoryTransport } from '../src/testing.js';
import { flush, rejection, scripted, stateOf, useFakeClock } from './helpers.js';

afterEach(() => {
  vi.useRealTimers();
});

const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);

describe('ping() and pong() with protocol ping frames', () => {
  it('ping() resolves with the round trip in ms when the pong comes', async () => {
    useFakeClock();
    const { client, serverTransport } = createPair();
    serverTransport.pause();
    const rtt = client.ping();
    await vi.advanceTimersByTimeAsync(30);
    expect(await stateOf(rtt)).toBe('pending');
    serverTransport.resume();
    expect(await rtt).toBe(30);
  });
  it('sends a ping frame with the payload; the peer answers with the same payload', async () => {
    const { client, clientTransport, serverTransport } = createPair();
    await client.ping('hello');
    expect(clientTransport.sent).toEqual([{ kind: 'ping', data: utf8('hello') }]);
    expect(serverTransport.sent).toEqual([{ kind: 'pong', data: utf8('hello') }]);
    await client.ping(new Uint8Array([1, 2]));
    expect(serverTransport.sent[1]).toEqual({ kind: 'pong', data: new Uint8Array([1, 2]) });
  });
  it('with autoping on, PING and PONG never reach receive()', async () => {
    const { client, server } = createPair();
    await client.ping();
    await server.ping();
    expect(await stateOf(server.receive({ timeout: null }))).toBe('pending');
    expect(await stateOf(client.receive({ timeout: null }))).toBe('pending');
  });
  it('a payload over 125 bytes is a RangeError, nothing sent', async () => {
    const { client, clientTransport } = createPair();
    expect(await rejection(client.ping(new Uint8Array(126)))).toBeInstanceOf(RangeError);
    expect(await rejection(client.ping('é'.repeat(63)))).toBeInstanceOf(RangeError);
    expect(await rejection(client.pong(new Uint8Array(126)))).toBeInstanceOf(RangeError);
    expect(await rejection(client.pong('x'.repeat(126)))).toBeInstanceOf(RangeError);
    expect(clientTransport.sent).toEqual([]);
    await client.ping(new Uint8Array(125));
  });
  it('pending pings are rejected with ConnectionClosedError when the connection ends', async () => {
    const { client, serverTransport } = createPair();
    serverTransport.pause();
    const pending = client.ping();
    client.terminate();
    const error = (await rejection(pending)) as ConnectionClosedError;
    expect(error).toBeInstanceOf(ConnectionClosedError);
    expect(error.code).toBe(1006);
  });
  it('pong() sends an unsolicited pong with its payload', async () => {
    const { client, server, clientTransport } = createPair({ server: { autoping: false } });
    await client.pong('beat');
    expect(clientTransport.sent).toEqual([{ kind: 'pong', data: utf8('beat') }]);
    expect(await server.receive()).toEqual({ type: WSMsgType.PONG, data: utf8('beat'), extra: '' });
  });
  it('a runtime that answers pings itself (forcedAutoPong): core does not answer twice', () => {
    const { t } = scripted({}, { forcedAutoPong: true });
    t.sink.ping(new Uint8Array([1]));
    expect(t.calls).toEqual([]);
  });
  it('a transport without ping frames, heartbeat agreed: the hello, then the application-level pong', () => {
    const { t } = scripted({}, { pingFrames: false }, { appHeartbeat: true });
    expect(t.calls).toEqual([{ op: 'text', data: APP_PING, compress: false }]);
    t.sink.text(APP_PING);
    expect(t.calls.at(-1)).toEqual({ op: 'text', data: APP_PONG, compress: false });
  });
  it('not agreed: the ping text is application data, delivered and not answered', async () => {
    const { conn, t } = scripted({}, { pingFrames: false });
    t.sink.text(APP_PING);
    t.sink.text(APP_PONG);
    expect(t.calls).toEqual([]);
    expect(await conn.receiveText()).toBe(APP_PING);
    expect(await conn.receiveText()).toBe(APP_PONG);
  });
});

describe('autoping: false', () => {
  it('PING reaches receive() and is not answered; the application answers with pong()', async () => {
    const { client, server, serverTransport } = createPair({ server: { autoping: false } });
    const rtt = client.ping('x');
    const message = await server.receive();
    expect(message).toEqual({ type: WSMsgType.PING, data: utf8('x'), extra: '' });
    await flush();
    expect(serverTransport.sent).toEqual([]);
    expect(await stateOf(rtt)).toBe('pending');
    await server.pong(message.data as Uint8Array);
    expect(typeof (await rtt)).toBe('number');
  });
  it('PONG reaches receive() and still resolves the ping', async () => {
    const { client } = createPair({ client: { autoping: false } });
    const rtt = await client.ping('y');
    expect(rtt).toBeGreaterThanOrEqual(0);
    expect(await client.receive()).toEqual({ type: WSMsgType.PONG, data: utf8('y'), extra: '' });
  });
});

describe('application-level heartbeat (capabilities: { pingFrames: false })', () => {
  const noFrames = { capabilities: { pingFrames: false } };

  it('its wire form: two fixed text messages starting with a NUL byte', () => {
    expect(APP_PING).toBe('\u0000anyws:ping');
    expect(APP_PONG).toBe('\u0000anyws:pong');
  });
  it('the server says hello with a ping; the client answers it and takes the heartbeat as agreed', async () => {
    const { client, server, clientTransport, serverTransport } = createPair(noFrames);
    expect([client.appHeartbeat, server.appHeartbeat]).toEqual([false, true]);
    await flush();
    expect(serverTransport.sent).toEqual([{ kind: 'text', data: APP_PING }]);
    expect(clientTransport.sent).toEqual([{ kind: 'text', data: APP_PONG }]);
    expect(client.appHeartbeat).toBe(true);
  });
  it('ping() sends the application-level ping as text; the answer resolves it; neither reaches a reader', async () => {
    const { client, server, clientTransport, serverTransport } = createPair(noFrames);
    await flush(); // the hello
    const rtt = await client.ping();
    expect(rtt).toBeGreaterThanOrEqual(0);
    expect(clientTransport.sent.slice(1)).toEqual([{ kind: 'text', data: APP_PING }]);
    expect(serverTransport.sent.slice(1)).toEqual([{ kind: 'text', data: APP_PONG }]);
    expect(await stateOf(server.receive({ timeout: null }))).toBe('pending');
    expect(await stateOf(client.receive({ timeout: null }))).toBe('pending');
  });
  it('pong() sends the application-level pong', async () => {
    const { client, clientTransport } = createPair(noFrames);
    await flush(); // the hello
    await client.pong();
    expect(clientTransport.sent.slice(1)).toEqual([{ kind: 'text', data: APP_PONG }]);
  });
  it('no payload, and nothing before the agreement: UnsupportedOptionError, nothing sent', async () => {
    const { client, clientTransport } = createPair({ ...noFrames, appHeartbeat: false });
    const early = (await rejection(client.ping())) as UnsupportedOptionError;
    expect(early).toBeInstanceOf(UnsupportedOptionError);
    expect([early.option, early.runtime, early.capability]).toEqual([
      'ping()',
      'memory',
      'pingFrames',
    ]);
    expect(await rejection(client.pong())).toBeInstanceOf(UnsupportedOptionError);
    const agreed = createPair(noFrames);
    await flush();
    const withData = (await rejection(agreed.client.ping('x'))) as UnsupportedOptionError;
    expect(withData.option).toBe('ping(data)');
    expect(await rejection(agreed.client.pong('x'))).toBeInstanceOf(UnsupportedOptionError);
    expect(clientTransport.sent).toEqual([]);
    expect(agreed.clientTransport.sent).toEqual([{ kind: 'text', data: APP_PONG }]);
  });
  it('a ping before the hello waits for it, and goes with the agreement', async () => {
    const { client, clientTransport } = createPair(noFrames);
    const rtt = client.ping(); // the hello is still on its way
    expect(clientTransport.sent).toEqual([]);
    expect(await rtt).toBeGreaterThanOrEqual(0);
    expect(clientTransport.sent.map((f) => (f.kind === 'text' ? f.data : f.kind))).toEqual([
      APP_PING,
      APP_PONG,
    ]);
  });
  it('a ping({ timeout }) still waiting for the decision only rejects: a quiet server is not a dead one', async () => {
    useFakeClock();
    const { conn, t } = scripted({}, { pingFrames: false }, { side: 'client', appHeartbeat: true });
    const ping = rejection(conn.ping({ timeout: 50 }));
    await vi.advanceTimersByTimeAsync(50);
    expect(await ping).toBeInstanceOf(HeartbeatTimeoutError);
    expect([conn.state, conn.exception(), t.calls]).toEqual(['open', null, []]);
    // The hello comes later: nothing left over is sent for the ping that gave up.
    t.sink.text(APP_PING);
    expect(t.calls).toEqual([{ op: 'text', data: APP_PONG, compress: false }]);
  });
  it('the first message from the server decides: anything but the hello turns it off for good', async () => {
    const { conn, t } = scripted({}, { pingFrames: false }, { side: 'client', appHeartbeat: true });
    const ping = rejection(conn.ping());
    t.sink.text('welcome');
    const error = (await ping) as UnsupportedOptionError;
    expect(error).toBeInstanceOf(UnsupportedOptionError);
    expect(conn.appHeartbeat).toBe(false);
    t.sink.text(APP_PING);
    expect(await conn.receiveText()).toBe('welcome');
    expect(await conn.receiveText()).toBe(APP_PING);
    expect(t.calls).toEqual([]);
  });
  it('a client that offered the token against a server that is not anyws: no ping, no heartbeat, text is data', async () => {
    useFakeClock();
    // A server that did not agree sends no hello: the client never pings and never drops it.
    const { client, server, clientTransport } = createPair({
      ...noFrames,
      appHeartbeat: false,
      client: { heartbeat: { interval: 100, timeout: 50 } },
    });
    await vi.advanceTimersByTimeAsync(1000);
    expect(clientTransport.sent).toEqual([]);
    expect(client.state).toBe('open');
    await client.sendText(APP_PING);
    expect(await server.receiveText()).toBe(APP_PING);
  });
  it('with autoping off, they surface as PING and PONG without data', async () => {
    const { client, server } = createPair({
      ...noFrames,
      server: { autoping: false },
      client: { autoping: false },
    });
    // The hello surfaces as the client's first message.
    expect((await client.receive()).type).toBe(WSMsgType.PING);
    const rtt = client.ping();
    expect(await server.receive()).toEqual({
      type: WSMsgType.PING,
      data: new Uint8Array(0),
      extra: '',
    });
    await server.pong();
    await rtt;
    expect(await client.receive()).toEqual({
      type: WSMsgType.PONG,
      data: new Uint8Array(0),
      extra: '',
    });
  });
  it('a peer without ping frames: the application answer to its PING is the application-level pong', async () => {
    // This end has ping frames (say ws), the peer has not (say workerd): its ping comes as text,
    // and a protocol pong would never reach its application.
    const { conn, t } = scripted({ autoping: false }, { pingFrames: true }, { appHeartbeat: true });
    t.calls.length = 0; // the hello
    t.sink.text(APP_PING);
    const ping = await conn.receive();
    expect(ping.type).toBe(WSMsgType.PING);
    await conn.pong(ping.data as Uint8Array);
    expect(t.calls).toEqual([{ op: 'text', data: APP_PONG, compress: false }]);
    // A protocol ping later is answered with a protocol pong again.
    t.sink.ping(new Uint8Array([7]));
    await conn.pong((await conn.receive()).data as Uint8Array);
    expect(t.calls[1]).toEqual({ op: 'pong', data: new Uint8Array([7]) });
  });
  it('texts that only look alike are application data', async () => {
    const { client, server } = createPair(noFrames);
    const lookalikes = ['\u0000anyws:pinG', 'xanyws:ping', '\u0000anyws:ping ', '\u0000'];
    for (const text of lookalikes) await client.sendText(text);
    for (const text of lookalikes) expect(await server.receiveText()).toBe(text);
  });
});

describe('ping({ timeout })', () => {
  for (const [name, capabilities] of [
    ['protocol ping frames', {}],
    ['application-level', { pingFrames: false }],
  ] as const) {
    it(`${name}: a pong in time resolves it, and the connection stays open after the timeout`, async () => {
      useFakeClock();
      const { client } = createPair({ capabilities });
      await flush(); // the hello, where the heartbeat is application-level
      expect(await client.ping({ timeout: 50 })).toBeGreaterThanOrEqual(0);
      await vi.advanceTimersByTimeAsync(100);
      expect(client.state).toBe('open');
      expect(client.exception()).toBeNull();
    });
    it(`${name}: no pong in time, a dead peer: HeartbeatTimeoutError, ERROR for the reader, 1006`, async () => {
      useFakeClock();
      const { client, serverTransport } = createPair({ capabilities });
      const errors: Error[] = [];
      client.on('error', (error) => errors.push(error));
      await flush(); // the hello, where the heartbeat is application-level
      serverTransport.pause();
      const ping = client.ping({ timeout: 50 });
      const rejected = rejection(ping);
      await vi.advanceTimersByTimeAsync(49);
      expect(await stateOf(ping)).toBe('pending');
      await vi.advanceTimersByTimeAsync(1);
      const error = (await rejected) as HeartbeatTimeoutError;
      expect(error).toBeInstanceOf(HeartbeatTimeoutError);
      expect(error.timeout).toBe(50);
      expect(await client.receive()).toEqual({ type: WSMsgType.ERROR, data: error, extra: '' });
      expect((await client.receive()).type).toBe(WSMsgType.CLOSED);
      expect([client.closeCode, client.exception()]).toEqual([1006, error]);
      expect(errors).toEqual([error]);
    });
  }
  it('with a payload: ping(data, { timeout })', async () => {
    const { client, clientTransport } = createPair();
    await client.ping('hi', { timeout: 1000 });
    expect(clientTransport.sent).toEqual([{ kind: 'ping', data: utf8('hi') }]);
  });
  it('a bad timeout is a RangeError, nothing sent', async () => {
    const { client, clientTransport } = createPair();
    expect(await rejection(client.ping({ timeout: -1 }))).toBeInstanceOf(RangeError);
    expect(await rejection(client.ping(undefined, { timeout: 2 ** 31 }))).toBeInstanceOf(
      RangeError,
    );
    expect(clientTransport.sent).toEqual([]);
    await client.ping({ timeout: null });
  });
  it('during a close only the ping rejects; closeTimeout decides the end', async () => {
    useFakeClock();
    const { client, serverTransport } = createPair({ client: { closeTimeout: 200 } });
    serverTransport.pause();
    const ping = rejection(client.ping({ timeout: 50 }));
    const closing = client.close();
    await vi.advanceTimersByTimeAsync(50);
    expect(await ping).toBeInstanceOf(HeartbeatTimeoutError);
    expect(client.state).toBe('closing');
    expect(client.exception()).toBeNull();
    await vi.advanceTimersByTimeAsync(150);
    await closing;
    expect(client.closeCode).toBe(1006);
  });
  it('pongs still answer pings in order after one timed out with the connection closing', async () => {
    useFakeClock();
    const { client, serverTransport } = createPair();
    serverTransport.pause();
    const first = rejection(client.ping({ timeout: 10 }));
    const second = client.ping();
    void client.close();
    await vi.advanceTimersByTimeAsync(10);
    expect(await first).toBeInstanceOf(HeartbeatTimeoutError);
    serverTransport.resume();
    await client.whenClosed;
    // The server answered both pings before the close: the late pong of the first resolves nothing.
    expect(await stateOf(second)).toBe('fulfilled');
  });
});

describe('heartbeat', () => {
  for (const [name, capabilities] of [
    ['protocol ping frames', {}],
    ['application-level', { pingFrames: false }],
  ] as const) {
    describe(name, () => {
      it('pings after `interval` of silence, and the live peer keeps the connection open', async () => {
        useFakeClock();
        const { client, clientTransport } = createPair({
          capabilities,
          client: { heartbeat: 100 },
        });
        await vi.advanceTimersByTimeAsync(99);
        expect(pings(clientTransport.sent)).toEqual([]);
        await vi.advanceTimersByTimeAsync(1);
        expect(pings(clientTransport.sent)).toHaveLength(1);
        expect(pings(clientTransport.sent)[0]).toEqual(
          name === 'application-level'
            ? { kind: 'text', data: APP_PING }
            : { kind: 'ping', data: new Uint8Array(0) },
        );
        await vi.advanceTimersByTimeAsync(1000);
        expect(client.state).toBe('open');
        // A pong comes at once, so a ping leaves every `interval`: at 100, 200, … 1100 ms.
        expect(pings(clientTransport.sent)).toHaveLength(11);
      });
      it('a dead peer: ERROR with HeartbeatTimeoutError, then CLOSED with 1006, at interval + timeout', async () => {
        useFakeClock();
        const { client, clientTransport } = createPair({
          capabilities,
          client: { heartbeat: { interval: 100, timeout: 40 } },
        });
        const errors: Error[] = [];
        client.on('error', (error) => errors.push(error));
        clientTransport.peer.pause(); // the server reads nothing and answers nothing
        await vi.advanceTimersByTimeAsync(139);
        expect(client.state).toBe('open');
        await vi.advanceTimersByTimeAsync(1);
        expect(client.state).toBe('closed');
        const message = (await client.receive()) as WSMessage & { data: HeartbeatTimeoutError };
        expect(message.type).toBe(WSMsgType.ERROR);
        expect(message.data).toBeInstanceOf(HeartbeatTimeoutError);
        expect(message.data.timeout).toBe(40);
        expect((await client.receive()).type).toBe(WSMsgType.CLOSED);
        expect(client.closeCode).toBe(1006);
        expect(client.exception()).toBe(message.data);
        expect(errors).toEqual([message.data]);
      });
    });
  }

  it('any traffic from the peer proves it alive and defers the ping', async () => {
    useFakeClock();
    const { client, server, clientTransport } = createPair({ client: { heartbeat: 100 } });
    for (let i = 0; i < 5; i++) {
      await vi.advanceTimersByTimeAsync(60);
      await server.sendText(`tick ${String(i)}`);
    }
    expect(clientTransport.sent).toEqual([]);
    expect(client.state).toBe('open');
  });
  it("the peer's own pings prove it alive too", async () => {
    useFakeClock();
    const { conn, t } = scripted({ heartbeat: 100 });
    for (let i = 0; i < 5; i++) {
      await vi.advanceTimersByTimeAsync(60);
      t.sink.ping(new Uint8Array(0));
    }
    expect(t.ops()).toEqual(['pong', 'pong', 'pong', 'pong', 'pong']);
    expect(conn.state).toBe('open');
  });
  it('traffic after the ping, before its timeout, also proves the peer alive', async () => {
    useFakeClock();
    const { conn, t } = scripted({ heartbeat: { interval: 100, timeout: 50 } });
    await vi.advanceTimersByTimeAsync(100);
    expect(t.ops()).toEqual(['ping']);
    await vi.advanceTimersByTimeAsync(20);
    t.sink.binary(new Uint8Array(1)); // no pong, but data
    await vi.advanceTimersByTimeAsync(30);
    expect(conn.state).toBe('open');
    await vi.advanceTimersByTimeAsync(70); // the next ping comes `interval` after that data
    expect(t.ops()).toEqual(['ping', 'ping']);
  });
  it('stops once the connection closes: no ping after close', async () => {
    useFakeClock();
    const { client, clientTransport } = createPair({ client: { heartbeat: 50 } });
    await client.close();
    const sent = clientTransport.sent.length;
    await vi.advanceTimersByTimeAsync(500);
    expect(clientTransport.sent.length).toBe(sent);
    expect(vi.getTimerCount()).toBe(0);
  });
  it('stops when the peer starts the close', async () => {
    useFakeClock();
    const { conn, t } = scripted({ heartbeat: 50, autoclose: false });
    t.sink.closeFrame(1000, '');
    await vi.advanceTimersByTimeAsync(500);
    expect(t.ops()).toEqual([]);
    expect(conn.state).toBe('closing');
  });
  it("a heartbeat's pong does not resolve the application's ping", async () => {
    useFakeClock();
    const { conn, t } = scripted({ heartbeat: { interval: 100, timeout: 100 } });
    await vi.advanceTimersByTimeAsync(100); // the heartbeat pings
    await vi.advanceTimersByTimeAsync(10);
    const rtt = conn.ping('mine');
    await vi.advanceTimersByTimeAsync(10);
    t.sink.pong(new Uint8Array(0)); // the heartbeat's answer
    expect(await stateOf(rtt)).toBe('pending');
    await vi.advanceTimersByTimeAsync(5);
    t.sink.pong(utf8('mine'));
    expect(await rtt).toBe(15);
  });
  it('while reading is paused (a slow local reader), the silence is ours: the peer is not declared dead', async () => {
    useFakeClock();
    const { client, server } = createPair({
      server: { heartbeat: { interval: 100, timeout: 50 }, receiveHighWaterMark: 10 },
    });
    await client.sendText('x'.repeat(11)); // over the mark: the server stops reading
    await vi.advanceTimersByTimeAsync(1000);
    expect(server.state).toBe('open');
    expect(server.exception()).toBeNull();
    expect(await server.receiveText()).toBe('x'.repeat(11));
    // Reading again, the heartbeat works as before: a dead peer is still found.
    client.terminate();
    await flush();
    expect(server.closeCode).toBe(1006);
  });
  it('a dead peer is still found after reading resumed', async () => {
    useFakeClock();
    const { client, server, serverTransport } = createPair({
      server: { heartbeat: { interval: 100, timeout: 50 }, receiveHighWaterMark: 10 },
    });
    await client.sendText('x'.repeat(11));
    await vi.advanceTimersByTimeAsync(300);
    await server.receiveText(); // resumes reading
    serverTransport.pause(); // now the peer stops answering, as far as the server can tell
    await vi.advanceTimersByTimeAsync(400);
    expect(server.state).toBe('closed');
    expect(server.exception()).toBeInstanceOf(HeartbeatTimeoutError);
  });
});

/** The pings among the frames an end sent (not its answer to the server's hello). */
function pings(sent: MemoryTransport['sent']): MemoryTransport['sent'] {
  return sent.filter((f) => f.kind === 'ping' || (f.kind === 'text' && f.data === APP_PING));
}
