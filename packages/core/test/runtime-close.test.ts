/**
 * Closes that the runtime under a transport shapes itself: it fails a connection on its own
 * (ws: 1002/1007/1008/1009), it can put only some codes in a close frame (browsers), it answers
 * the peer's close frame without checking the code (browsers). Each ends the same way as when
 * core does the work itself.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  ConnectionClosedError,
  MessageTooBigError,
  ProtocolError,
  WebSocketError,
  type WSMessage,
  WSMsgType,
} from '../src/index.js';
import { createPair } from '../src/testing.js';
import { rejection, scripted, useFakeClock } from './helpers.js';

afterEach(() => {
  vi.useRealTimers();
});

/** Every message `receive()` gives until CLOSED, by type. */
async function drain(conn: { receive(): Promise<WSMessage> }): Promise<number[]> {
  const types: number[] = [];
  for (let i = 0; i < 10; i++) {
    const message = await conn.receive();
    types.push(message.type);
    if (message.type === WSMsgType.CLOSED) break;
  }
  return types;
}

/** ws: it fails the connection, sends the close frame, stops reading, reports 1006. */
const WS_LIKE = {
  forcedCloseReply: true,
  validatesCloseCodes: true,
  enforcesMaxMessageSize: true,
} as const;

describe('a runtime that fails the connection itself (error with a close code)', () => {
  it('ERROR then CLOSED, no CLOSE; closeCode is its code when the peer answer never came', async () => {
    const { conn, t } = scripted({}, WS_LIKE);
    const errors: Error[] = [];
    conn.on('error', (error) => errors.push(error));
    const error = new MessageTooBigError(2048, 1024);
    t.sink.error(error, 1009);
    expect(conn.state).toBe('closing');
    expect(t.calls).toEqual([]); // the runtime sent the close frame, not core
    expect(await rejection(conn.sendText('late'))).toBeInstanceOf(ConnectionClosedError);
    t.sink.closed(1006, '');
    expect(await conn.receive()).toEqual({ type: WSMsgType.ERROR, data: error, extra: '' });
    expect((await conn.receive()).type).toBe(WSMsgType.CLOSED);
    expect([conn.closeCode, conn.closeReason]).toEqual([1009, 'message too big']);
    expect(conn.exception()).toBe(error);
    expect(errors).toEqual([error]);
  });
  it('the same messages and closeCode as when core fails it over createPair', async () => {
    const { client, server } = createPair({ client: { maxMessageSize: 16 } });
    await server.sendBytes(new Uint8Array(17));
    await client.whenClosed;
    const byCore = await drain(client);

    const { conn, t } = scripted({}, WS_LIKE);
    t.sink.error(new MessageTooBigError(17, 16), 1009);
    t.sink.closed(1006, '');
    expect(await drain(conn)).toEqual(byCore);
    expect(byCore).toEqual([WSMsgType.ERROR, WSMsgType.CLOSED]);
    expect(conn.closeCode).toBe(client.closeCode);
  });
  it('a peer answer with another code changes nothing: closeCode is the failure, no CLOSE message', async () => {
    const { conn, t } = scripted({}, WS_LIKE);
    t.sink.error(new WebSocketError('invalid UTF-8'), 1007);
    t.sink.closed(1000, 'ok');
    expect(await drain(conn)).toEqual([WSMsgType.ERROR, WSMsgType.CLOSED]);
    expect([conn.closeCode, conn.closeReason]).toEqual([1007, 'invalid payload data']);
    expect(conn.exception()).toBeInstanceOf(ProtocolError);
    expect((conn.exception() as ProtocolError).code).toBe(1007);
  });
  it('a runtime that then never reports the end: terminated after closeTimeout, closeCode the failure', async () => {
    useFakeClock();
    const { conn, t } = scripted({ closeTimeout: 100 }, WS_LIKE);
    t.sink.error(new WebSocketError('protocol error'), 1002);
    await vi.advanceTimersByTimeAsync(100);
    expect(t.ops()).toEqual(['terminate']);
    expect([conn.state, conn.closeCode]).toEqual(['closed', 1002]);
  });
  it('after this end sent its close, the code changes nothing: closeCode is the peer answer', () => {
    const { conn, t } = scripted({}, WS_LIKE);
    void conn.close(4000);
    t.sink.error(new WebSocketError('late fault'), 1002);
    t.sink.closed(1006, '');
    expect(conn.closeCode).toBe(1006);
  });
  it('an error without a code leaves the close to the runtime, as before', async () => {
    const { conn, t } = scripted({}, WS_LIKE);
    t.sink.error(new Error('socket hang up'));
    expect(conn.state).toBe('open');
    t.sink.closed(1006, '');
    expect(await drain(conn)).toEqual([WSMsgType.ERROR, WSMsgType.CLOSED]);
    expect(conn.closeCode).toBe(1006);
  });
});

describe('a runtime that can send only 1000 and 3000–4999 (restrictedCloseCodes)', () => {
  const restricted = { restrictedCloseCodes: true } as const;

  it('the memory transport refuses other codes, as browsers do', () => {
    const { clientTransport } = createPair({ capabilities: restricted });
    expect(() => clientTransport.close(1009, '')).toThrow(RangeError);
  });
  it.each([1001, 1002, 1003, 1008, 1009, 1011, 1014])(
    'close(%d): a frame without a body goes, the peer sees 1005, closeCode stays the code',
    async (code) => {
      const { client, server, clientTransport } = createPair({ capabilities: restricted });
      await client.close(code, 'a reason that cannot go either');
      expect(clientTransport.sent.at(-1)).toEqual({ kind: 'close', code: undefined, reason: '' });
      expect([client.closeCode, client.closeReason]).toEqual([
        code,
        'a reason that cannot go either',
      ]);
      expect(server.closeCode).toBe(1005);
    },
  );
  it.each([1000, 3000, 4999])('close(%d) goes as it is, with its reason', async (code) => {
    const { client, server, clientTransport } = createPair({ capabilities: restricted });
    await client.close(code, 'bye');
    expect(clientTransport.sent.at(-1)).toEqual({ kind: 'close', code, reason: 'bye' });
    expect([client.closeCode, server.closeCode, server.closeReason]).toEqual([code, code, 'bye']);
  });
  it("core's own 1009: ERROR for the reader and closeCode 1009, though the wire carried no code", async () => {
    const { client, server, clientTransport } = createPair({
      client: { maxMessageSize: 16 },
      capabilities: { ...restricted, forcedCloseReply: true },
    });
    await server.sendText('x'.repeat(17));
    await client.whenClosed;
    expect(await drain(client)).toEqual([WSMsgType.ERROR, WSMsgType.CLOSED]);
    expect(client.exception()).toBeInstanceOf(MessageTooBigError);
    expect(clientTransport.sent.at(-1)).toEqual({ kind: 'close', code: undefined, reason: '' });
    expect(client.closeCode).toBe(1009);
    expect(server.closeCode).toBe(1005);
  });
  it('a peer that answered with its own code: that code is kept', () => {
    const { conn, t } = scripted({}, { ...restricted, forcedCloseReply: true });
    void conn.close(1001);
    expect(t.calls).toEqual([{ op: 'close', code: undefined, reason: '' }]);
    t.sink.closed(4000, 'crossed');
    expect([conn.closeCode, conn.closeReason]).toEqual([4000, 'crossed']);
  });
  it('the peer answer never came: 1006 after closeTimeout, as for any close', async () => {
    useFakeClock();
    const { conn } = scripted({ closeTimeout: 50 }, restricted);
    void conn.close(1001);
    await vi.advanceTimersByTimeAsync(50);
    expect(conn.closeCode).toBe(1006);
  });
  it('a failure code (1011) is kept when the peer answer never came', async () => {
    useFakeClock();
    const { conn } = scripted({ closeTimeout: 50 }, restricted);
    void conn.close(1011, 'broken');
    await vi.advanceTimersByTimeAsync(50);
    expect([conn.closeCode, conn.closeReason]).toEqual([1011, 'broken']);
  });
  it('the peer close answered by core: its code, whatever went on the wire', () => {
    const { conn, t } = scripted({}, restricted);
    t.sink.closeFrame(1001, 'going');
    expect(t.calls).toEqual([{ op: 'close', code: undefined, reason: '' }]);
    t.sink.closed(1001, 'going');
    expect([conn.closeCode, conn.closeReason]).toEqual([1001, 'going']);
  });
});

describe('a runtime that answers the peer close frame itself without checking the code', () => {
  const echoing = { forcedCloseReply: true } as const;

  it.each([0, 999, 1004, 1015, 2999, 5000])(
    'closed(%d): ERROR for the reader, closeCode 1002, no CLOSE',
    async (code) => {
      const { conn, t } = scripted({}, echoing);
      t.sink.closed(code, 'bad');
      const message = await conn.receive();
      expect(message.type).toBe(WSMsgType.ERROR);
      expect(message.data).toBeInstanceOf(ProtocolError);
      expect((message.data as Error).message).toMatch(`invalid close code ${String(code)}`);
      expect(conn.exception()).toBe(message.data);
      expect((await conn.receive()).type).toBe(WSMsgType.CLOSED);
      expect([conn.closeCode, conn.closeReason]).toEqual([1002, 'protocol error']);
      expect(t.calls).toEqual([]);
    },
  );
  it('also when the invalid code is the answer to our close', () => {
    const { conn, t } = scripted({}, echoing);
    void conn.close(1000);
    t.sink.closed(1004, '');
    expect(conn.closeCode).toBe(1002);
    expect(conn.exception()?.message).toMatch(/1004/);
  });
  it('end to end over createPair: the peer that sent 1004 is recorded as 1002', async () => {
    const { client, server, clientTransport } = createPair({ capabilities: echoing });
    clientTransport.close(1004, ''); // a misbehaving peer; the server runtime echoes it
    await server.whenClosed;
    expect(server.closeCode).toBe(1002);
    expect(server.exception()?.message).toMatch(/1004/);
    await client.whenClosed;
  });
  it('a runtime that validates codes itself is trusted', () => {
    const { conn, t } = scripted({}, { ...echoing, validatesCloseCodes: true });
    t.sink.closed(1004, '');
    expect(conn.closeCode).toBe(1004);
    expect(conn.exception()).toBeNull();
  });
  it('valid codes and 1006 are reported as they are', () => {
    for (const code of [1000, 1005, 1006, 1014, 3000, 4999]) {
      const { conn, t } = scripted({}, echoing);
      t.sink.closed(code, '');
      expect(conn.closeCode).toBe(code);
      expect(conn.exception()).toBeNull();
    }
  });
});
