import { afterEach, describe, expect, it, vi } from 'vitest';
import { ConnectionClosedError, ProtocolError, WSCloseCode, WSMsgType } from '../src/index.js';
import { createPair } from '../src/testing.js';
import { flush, rejection, scripted, stateOf, useFakeClock } from './helpers.js';

afterEach(() => {
  vi.useRealTimers();
});

describe('closing handshake', () => {
  it('close(code, reason) from the client: both ends closed, each with the other one code', async () => {
    const { client, server, clientTransport, serverTransport } = createPair();
    const closing = client.close(4001, 'bye ✓');
    expect(client.state).toBe('closing');
    await closing;
    expect([client.state, client.closed, server.state]).toEqual(['closed', true, 'closed']);
    expect(server.closeCode).toBe(4001);
    expect(server.closeReason).toBe('bye ✓');
    // The server echoes the code (RFC 6455 §5.5.1) and the reason, as ws does: an answer
    // carries the reason on every runtime that lets core answer.
    expect(client.closeCode).toBe(4001);
    expect(client.closeReason).toBe('bye ✓');
    expect(clientTransport.sent.at(-1)).toEqual({ kind: 'close', code: 4001, reason: 'bye ✓' });
    expect(serverTransport.sent.at(-1)).toEqual({ kind: 'close', code: 4001, reason: 'bye ✓' });
  });
  it('close() defaults to 1000 with no reason', async () => {
    const { client, server, clientTransport } = createPair();
    await client.close();
    expect(clientTransport.sent.at(-1)).toEqual({ kind: 'close', code: 1000, reason: '' });
    expect(server.closeCode).toBe(1000);
  });
  it('the peer reader gets CLOSE once with code and reason, then CLOSED', async () => {
    const { client, server } = createPair();
    await server.close(4002, 'server says bye');
    expect(await client.receive()).toEqual({
      type: WSMsgType.CLOSE,
      data: 4002,
      extra: 'server says bye',
    });
    expect((await client.receive()).type).toBe(WSMsgType.CLOSED);
    expect(client.closeCode).toBe(4002);
    expect(client.closeReason).toBe('server says bye');
  });
  it('a second close() returns the same pending promise and sends nothing more', async () => {
    const { client, clientTransport } = createPair();
    const first = client.close(4000);
    const second = client.close(4001, 'other');
    expect(second).toBe(first);
    await first;
    expect(clientTransport.sent.filter((f) => f.kind === 'close')).toHaveLength(1);
    expect(await client.close()).toBeUndefined();
  });
  it('whenClosed resolves once closed, however it came about', async () => {
    const { client, server } = createPair();
    expect(await stateOf(client.whenClosed)).toBe('pending');
    await server.close();
    expect(await stateOf(client.whenClosed)).toBe('fulfilled');
    expect(await stateOf(server.whenClosed)).toBe('fulfilled');
  });

  it('an invalid code or reason from the application: RangeError at once, nothing sent, still open', async () => {
    const { client, clientTransport } = createPair();
    for (const code of [0, 999, 1004, 1006, 1015, 1016, 2999, 5000, 1000.5]) {
      expect(() => client.close(code)).toThrow(RangeError);
    }
    expect(() => client.close(1000, 'x'.repeat(124))).toThrow(RangeError);
    expect(() => client.close(1005, 'reason')).toThrow(RangeError);
    expect(clientTransport.sent).toEqual([]);
    expect(client.state).toBe('open');
    await client.close(1000, 'x'.repeat(123));
    expect(client.closed).toBe(true);
  });

  describe('NO_STATUS (1005)', () => {
    it('close(NO_STATUS) sends a close frame without a body; both ends see 1005', async () => {
      const { client, server, clientTransport, serverTransport } = createPair();
      await client.close(WSCloseCode.NO_STATUS);
      expect(clientTransport.sent.at(-1)).toEqual({ kind: 'close', code: undefined, reason: '' });
      expect(server.closeCode).toBe(1005);
      expect(server.closeReason).toBe('');
      // The answer to a body-less close frame is a body-less close frame.
      expect(serverTransport.sent.at(-1)).toEqual({ kind: 'close', code: undefined, reason: '' });
      expect(client.closeCode).toBe(1005);
    });
    it('the reader sees CLOSE with 1005', async () => {
      const { client, server } = createPair();
      await client.close(1005);
      expect(await server.receive()).toEqual({ type: WSMsgType.CLOSE, data: 1005, extra: '' });
    });
  });

  describe('autoclose: false', () => {
    it('the peer close is returned by receive(); the state stays closing until the application answers', async () => {
      const { client, server } = createPair({ client: { autoclose: false } });
      void server.close(4003, 'manual');
      expect(await client.receive()).toEqual({
        type: WSMsgType.CLOSE,
        data: 4003,
        extra: 'manual',
      });
      expect(client.state).toBe('closing');
      expect(server.state).toBe('closing');
      // Nothing more will come: receive() says CLOSING rather than wait.
      expect((await client.receive()).type).toBe(WSMsgType.CLOSING);
      expect(await rejection(client.sendText('late'))).toBeInstanceOf(ConnectionClosedError);
      await client.close(4004, 'answer');
      expect(client.state).toBe('closed');
      expect(client.closeCode).toBe(4003);
      await server.whenClosed;
      expect(server.closeCode).toBe(4004);
      expect(server.closeReason).toBe('answer');
    });
  });

  describe('closeTimeout', () => {
    it('a peer that never answers is terminated after closeTimeout: 1006', async () => {
      useFakeClock();
      const { client, clientTransport } = createPair({ client: { closeTimeout: 200 } });
      clientTransport.peer.pause(); // the server never reads the close frame
      const closing = client.close(1000);
      await vi.advanceTimersByTimeAsync(199);
      expect(client.state).toBe('closing');
      await vi.advanceTimersByTimeAsync(1);
      await closing;
      expect(client.state).toBe('closed');
      expect(client.closeCode).toBe(1006);
      expect(client.closeReason).toBe('');
    });
    it('default 10 s', async () => {
      useFakeClock();
      const { client, clientTransport } = createPair();
      clientTransport.peer.pause();
      void client.close();
      await vi.advanceTimersByTimeAsync(9_999);
      expect(client.state).toBe('closing');
      await vi.advanceTimersByTimeAsync(1);
      expect(client.closeCode).toBe(1006);
    });
    it('closeTimeout 0 terminates at the next timer turn', async () => {
      useFakeClock();
      const { client, clientTransport } = createPair({ client: { closeTimeout: 0 } });
      clientTransport.peer.pause();
      void client.close();
      await vi.advanceTimersByTimeAsync(0);
      expect(client.closeCode).toBe(1006);
    });
    it('a reader waiting during the close gets CLOSED at the timeout', async () => {
      useFakeClock();
      const { client, clientTransport } = createPair({ client: { closeTimeout: 100 } });
      clientTransport.peer.pause();
      void client.close();
      const waiting = client.receive();
      expect(await stateOf(waiting)).toBe('pending');
      await vi.advanceTimersByTimeAsync(100);
      expect((await waiting).type).toBe(WSMsgType.CLOSED);
    });
    it('the peer close frame came but the runtime never reported the end: closeCode is still the peer one', async () => {
      useFakeClock();
      const { conn, t } = scripted({ closeTimeout: 100 });
      const closing = conn.close(4000, 'bye');
      t.sink.closeFrame(4000, 'peer reason');
      await vi.advanceTimersByTimeAsync(100);
      await closing;
      expect(t.ops()).toEqual(['close', 'terminate']);
      expect(conn.closeCode).toBe(4000);
      expect(conn.closeReason).toBe('peer reason');
    });
    it('a transport that closes synchronously ends the connection without a timer', async () => {
      useFakeClock();
      const { conn, t } = scripted({ closeTimeout: 100 });
      t.closeSynchronously = true;
      await conn.close(4000);
      expect(conn.closeCode).toBe(4000);
      expect(vi.getTimerCount()).toBe(0);
    });
  });

  describe('terminate()', () => {
    it('drops the connection at once: 1006 on both ends, no close frame', async () => {
      const { client, server, clientTransport } = createPair();
      client.terminate();
      expect(client.state).toBe('closed');
      expect(client.closeCode).toBe(1006);
      expect(clientTransport.sent).toEqual([]);
      await server.whenClosed;
      expect(server.closeCode).toBe(1006);
      // Without a close frame the reader sees no CLOSE, only CLOSED.
      expect((await server.receive()).type).toBe(WSMsgType.CLOSED);
    });
    it('during a close: ends it at once with 1006', async () => {
      const { client, clientTransport } = createPair();
      clientTransport.peer.pause();
      const closing = client.close();
      client.terminate();
      await closing;
      expect(client.closeCode).toBe(1006);
    });
    it('twice, or after the close, does nothing', async () => {
      const { conn, t } = scripted();
      t.sink.closed(1000, '');
      conn.terminate();
      expect(t.ops()).toEqual([]);
      expect(conn.closeCode).toBe(1000);
    });
  });

  describe('an invalid close code from the peer', () => {
    it.each([0, 999, 1004, 1006, 1015, 1016, 2999, 5000])(
      '%d: ERROR for the reader, the answer is 1002, closeCode 1002',
      async (code) => {
        const { conn, t } = scripted();
        t.sink.closeFrame(code, 'bad');
        expect(t.calls).toEqual([{ op: 'close', code: 1002, reason: 'protocol error' }]);
        const message = await conn.receive();
        expect(message.type).toBe(WSMsgType.ERROR);
        expect(message.data).toBeInstanceOf(ProtocolError);
        expect((message.data as ProtocolError).code).toBe(1002);
        expect((message.data as Error).message).toMatch(String(code));
        expect(conn.exception()).toBe(message.data);
        t.sink.closed(code, 'bad');
        expect(conn.closeCode).toBe(1002);
        expect(conn.closeReason).toBe('protocol error');
      },
    );
    it('end to end over createPair: the peer that sent 1004 sees 1002', async () => {
      const { client, server, clientTransport } = createPair();
      // The memory transport sends whatever it is given: this is a misbehaving peer.
      clientTransport.close(1004, '');
      await server.whenClosed;
      expect(server.closeCode).toBe(1002);
      expect(server.exception()?.message).toMatch(/1004/);
      expect(clientTransport.peer.sent.at(-1)).toEqual({
        kind: 'close',
        code: 1002,
        reason: 'protocol error',
      });
      // Its transport had sent the close itself, so the client connection just sees the 1002 answer.
      await client.whenClosed;
      expect(client.closeCode).toBe(1002);
    });
    it('a transport that validates close codes itself is trusted', () => {
      const { conn, t } = scripted({}, { validatesCloseCodes: true });
      t.sink.closeFrame(1000, '');
      expect(t.calls).toEqual([{ op: 'close', code: 1000, reason: '' }]);
      expect(conn.exception()).toBeNull();
    });
    it('after this end sent its close, no second close frame is sent', () => {
      const { conn, t } = scripted();
      void conn.close(1000);
      t.sink.closeFrame(999, '');
      expect(t.ops()).toEqual(['close']);
      t.sink.closed(999, '');
      expect(conn.closeCode).toBe(1002);
    });
  });

  describe('a runtime that answers close frames itself (forcedCloseReply)', () => {
    it('reports only closed(): the reader still sees CLOSE once, closeCode is the peer one', async () => {
      const { conn, t } = scripted({}, { forcedCloseReply: true });
      t.sink.closed(4005, 'went away');
      expect(t.calls).toEqual([]);
      expect(await conn.receive()).toEqual({
        type: WSMsgType.CLOSE,
        data: 4005,
        extra: 'went away',
      });
      expect((await conn.receive()).type).toBe(WSMsgType.CLOSED);
      expect(conn.closeCode).toBe(4005);
    });
    it('closed(1006) without a close frame: no CLOSE, closeCode 1006', async () => {
      const { conn, t } = scripted();
      t.sink.closed(1006, '');
      expect((await conn.receive()).type).toBe(WSMsgType.CLOSED);
      expect(conn.closeCode).toBe(1006);
    });
    it('after our close, closed() carries the peer code', () => {
      const { conn, t } = scripted();
      void conn.close(4000);
      t.sink.closed(4001, 'echo');
      expect(conn.closeCode).toBe(4001);
      expect(conn.closeReason).toBe('echo');
    });
  });

  it('ping and pong after the end are ignored too, even with autoping off', async () => {
    const { conn, t } = scripted({ autoping: false });
    t.sink.closed(1006, '');
    t.sink.ping(new Uint8Array([1]));
    t.sink.pong(new Uint8Array([2]));
    expect((await conn.receive()).type).toBe(WSMsgType.CLOSED);
    expect(t.calls).toEqual([]);
  });
  it('events after the end are ignored', async () => {
    const { conn, t } = scripted();
    t.sink.closed(1000, '');
    t.sink.text('late');
    t.sink.binary(new Uint8Array(1));
    t.sink.closeFrame(1000, '');
    t.sink.error(new Error('late'));
    t.sink.closed(1001, '');
    expect((await conn.receive()).type).toBe(WSMsgType.CLOSE);
    expect((await conn.receive()).type).toBe(WSMsgType.CLOSED);
    expect(conn.closeCode).toBe(1000);
    expect(conn.exception()).toBeNull();
    expect(t.calls).toEqual([]);
  });
  it('a second close frame from the peer is ignored', async () => {
    const { conn, t } = scripted({ autoclose: false });
    t.sink.closeFrame(4000, 'a');
    t.sink.closeFrame(4001, 'b');
    expect(await conn.receive()).toMatchObject({ data: 4000 });
    expect((await conn.receive()).type).toBe(WSMsgType.CLOSING);
  });
  it('no data is sent once the close frame is out (the ping answer included)', async () => {
    const { conn, t } = scripted({}, { pingFrames: false });
    void conn.close(1000);
    t.sink.text('\u0000anyws:ping'); // the peer pinged before it saw our close frame
    t.sink.ping(new Uint8Array(0));
    await flush();
    expect(t.ops()).toEqual(['close']);
  });
});

describe('state transitions', () => {
  it('open → closing (close sent) → closed (answer)', async () => {
    const { conn, t } = scripted();
    const states = [conn.state];
    void conn.close();
    states.push(conn.state);
    t.sink.closeFrame(1000, '');
    t.sink.closed(1000, '');
    states.push(conn.state);
    expect(states).toEqual(['open', 'closing', 'closed']);
  });
  it('open → closing (peer close, autoclose off) → closed', async () => {
    const { conn, t } = scripted({ autoclose: false });
    t.sink.closeFrame(1000, '');
    expect(conn.state).toBe('closing');
    expect(t.calls).toEqual([]);
    void conn.close();
    expect(t.calls).toEqual([{ op: 'close', code: 1000, reason: '' }]);
    t.sink.closed(1000, '');
    expect(conn.state).toBe('closed');
  });
  it('open → closed (terminate)', () => {
    const { conn } = scripted();
    conn.terminate();
    expect(conn.state).toBe('closed');
  });
  it('open → closed (transport gone)', () => {
    const { conn, t } = scripted();
    t.sink.closed(1006, '');
    expect(conn.state).toBe('closed');
    expect(conn.closed).toBe(true);
  });
});

describe('exception()', () => {
  it('is null on a clean close', async () => {
    const { client, server } = createPair();
    await client.close();
    expect(client.exception()).toBeNull();
    expect(server.exception()).toBeNull();
  });
  it('keeps the first error: a transport error, then ERROR for the reader', async () => {
    const { conn, t } = scripted();
    const first = new Error('first');
    t.sink.error(first);
    t.sink.error(new Error('second'));
    expect(conn.exception()).toBe(first);
    expect((await conn.receive()).data).toBe(first);
    expect(conn.state).toBe('open'); // closed() follows from the transport
  });
});
