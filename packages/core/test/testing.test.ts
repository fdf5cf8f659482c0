import { describe, expect, it } from 'vitest';
import { defineHandler, runHandler, WSMsgType } from '../src/index.js';
import { createPair, MemoryTransport } from '../src/testing.js';
import { flush, stateOf } from './helpers.js';

describe('createPair and MemoryTransport', () => {
  it('records every frame each end sent, in order', async () => {
    const { client, server, clientTransport, serverTransport } = createPair();
    await client.sendText('t');
    await client.sendBytes(new Uint8Array([1]));
    await client.ping('p');
    await client.close(4000, 'r');
    expect(clientTransport.sent).toEqual([
      { kind: 'text', data: 't' },
      { kind: 'binary', data: new Uint8Array([1]) },
      { kind: 'ping', data: new TextEncoder().encode('p') },
      { kind: 'close', code: 4000, reason: 'r' },
    ]);
    expect(serverTransport.sent.map((f) => f.kind)).toEqual(['pong', 'close']);
    expect(server.closed).toBe(true);
  });
  it('copies sent bytes: changing the buffer after the send changes nothing on the wire', async () => {
    const { client, server } = createPair();
    const bytes = new Uint8Array([1, 2, 3]);
    await client.sendBytes(bytes);
    bytes[0] = 9;
    expect(await server.receiveBytes()).toEqual(new Uint8Array([1, 2, 3]));
  });
  it('a paused end reads nothing until resumed; nothing is lost', async () => {
    const { client, server, serverTransport } = createPair();
    serverTransport.pause();
    await client.sendText('held');
    const reading = server.receive({ timeout: null });
    expect(await stateOf(reading)).toBe('pending');
    expect(client.bufferedAmount).toBe(4);
    serverTransport.resume();
    expect((await reading).data).toBe('held');
    await flush();
    expect(client.bufferedAmount).toBe(0);
  });
  it('capabilities reach both transports; the others keep the defaults', () => {
    const { clientTransport, serverTransport } = createPair({
      capabilities: { pingFrames: false },
    });
    expect(clientTransport.capabilities.pingFrames).toBe(false);
    expect(serverTransport.capabilities).toEqual({
      pingFrames: false,
      forcedAutoPong: false,
      forcedCloseReply: false,
      validatesCloseCodes: false,
      enforcesMaxMessageSize: false,
      backpressure: true,
      pauseReading: true,
    });
    expect(new MemoryTransport('ws://x', '', {}).extensions).toBe('');
  });
  it('forcedAutoPong: the transport answers pings itself, even with autoping off', async () => {
    const { client, server, clientTransport } = createPair({
      capabilities: { forcedAutoPong: true },
      client: { autoping: false },
    });
    const rtt = await server.ping('x');
    expect(rtt).toBeGreaterThanOrEqual(0);
    expect(clientTransport.sent).toEqual([{ kind: 'pong', data: new TextEncoder().encode('x') }]);
    // The application still sees the PING, but its answer was not needed.
    expect((await client.receive()).type).toBe(WSMsgType.PING);
  });
  it('forcedCloseReply: the transport answers the close itself; the reader still sees CLOSE once', async () => {
    const { client, server, clientTransport } = createPair({
      capabilities: { forcedCloseReply: true },
      client: { autoclose: false },
    });
    await server.close(4001, 'bye');
    expect(clientTransport.sent).toEqual([{ kind: 'close', code: 4001, reason: '' }]);
    expect(client.state).toBe('closed');
    expect(await client.receive()).toEqual({ type: WSMsgType.CLOSE, data: 4001, extra: 'bye' });
    expect((await client.receive()).type).toBe(WSMsgType.CLOSED);
    expect([client.closeCode, server.closeCode]).toEqual([4001, 4001]);
  });
  it('forcedCloseReply, both ends closing at once: each sends one close frame', async () => {
    const { client, server, clientTransport, serverTransport } = createPair({
      capabilities: { forcedCloseReply: true },
    });
    await Promise.all([client.close(4000), server.close(4001)]);
    expect(clientTransport.sent).toEqual([{ kind: 'close', code: 4000, reason: '' }]);
    expect(serverTransport.sent).toEqual([{ kind: 'close', code: 4001, reason: '' }]);
    expect([client.closeCode, server.closeCode]).toEqual([4001, 4000]);
  });
  it('after terminate() nothing more is sent or delivered, and a second terminate() does nothing', async () => {
    const { client, server, clientTransport, serverTransport } = createPair();
    clientTransport.terminate();
    clientTransport.terminate();
    clientTransport.sendText('lost');
    serverTransport.sendText('lost too');
    await flush();
    expect(clientTransport.sent).toEqual([]);
    expect(serverTransport.sent).toEqual([{ kind: 'text', data: 'lost too' }]);
    expect(server.closeCode).toBe(1006);
    expect(client.state).toBe('open'); // its transport was driven behind its back
  });
  it('a transport that was never started delivers nothing', async () => {
    const a = new MemoryTransport('ws://x', '', {});
    const b = new MemoryTransport('ws://x', '', {});
    a.peer = b;
    b.peer = a;
    a.sendText('queued');
    b.resume();
    await flush();
    expect(a.bufferedAmount).toBe(6);
  });
});

describe('the README example', () => {
  it('runs as written', async () => {
    const session = defineHandler({
      async session(conn) {
        const hello = await conn.receiveJson<{ name: string }>({ timeout: 5_000 });
        await conn.sendJson({ welcome: hello.name });
        for await (const message of conn) {
          if (message.type === WSMsgType.TEXT) await conn.sendText(message.data);
        }
      },
    });
    const { client, server, clientTransport } = createPair({ server: session.options });
    void runHandler(server, session);
    await client.sendJson({ name: 'ada' });
    expect(await client.receiveJson()).toEqual({ welcome: 'ada' });
    clientTransport.pause();
    await client.sendText('echo me');
    await flush();
    expect(server.bufferedAmount).toBe(7);
    clientTransport.resume();
    expect(await client.receiveText()).toBe('echo me');
    await client.close(4000, 'bye');
    expect([server.closeCode, server.closeReason]).toEqual([4000, 'bye']);
  });
});
