import { describe, expect, it } from 'vitest';
import { MessageTooBigError, WSMsgType } from '../src/index.js';
import { createPair } from '../src/testing.js';
import { scripted } from './helpers.js';

describe('maxMessageSize', () => {
  it('a message of exactly the limit is accepted, text and binary', async () => {
    const { client, server } = createPair({ server: { maxMessageSize: 16 } });
    await client.sendText('x'.repeat(16));
    await client.sendBytes(new Uint8Array(16));
    expect(await server.receiveText()).toBe('x'.repeat(16));
    expect((await server.receiveBytes()).byteLength).toBe(16);
  });
  it('a larger binary message: ERROR with MessageTooBigError for the reader, and a 1009 close', async () => {
    const { client, server, serverTransport } = createPair({ server: { maxMessageSize: 16 } });
    const errors: Error[] = [];
    server.on('error', (error) => errors.push(error));
    await client.sendBytes(new Uint8Array(17));
    await server.whenClosed;
    const message = await server.receive();
    expect(message.type).toBe(WSMsgType.ERROR);
    const error = message.data as MessageTooBigError;
    expect(error).toBeInstanceOf(MessageTooBigError);
    expect([error.size, error.limit]).toEqual([17, 16]);
    expect(errors).toEqual([error]);
    expect(server.exception()).toBe(error);
    expect(serverTransport.sent.at(-1)).toEqual({
      kind: 'close',
      code: 1009,
      reason: 'message too big',
    });
    expect(server.closeCode).toBe(1009); // the peer's echo
    expect(await client.receive()).toEqual({
      type: WSMsgType.CLOSE,
      data: 1009,
      extra: 'message too big',
    });
    expect(client.closeCode).toBe(1009);
    // The message itself never reaches the reader.
    expect((await server.receive()).type).toBe(WSMsgType.CLOSED);
  });
  it('text is measured in bytes of UTF-8, not in UTF-16 units', async () => {
    const { client, server } = createPair({ server: { maxMessageSize: 12 } });
    await client.sendText('éééé'); // 8 bytes: fine
    expect(await server.receiveText()).toBe('éééé');
    await client.sendText('✓✓✓✓✓'); // 5 units, 15 bytes: too big
    await server.whenClosed;
    const error = (await server.receive()).data as MessageTooBigError;
    expect(error).toBeInstanceOf(MessageTooBigError);
    expect(error.size).toBe(15);
    expect(server.closeCode).toBe(1009);
  });
  it('a long text over the limit in UTF-16 units alone is refused too', async () => {
    const { client, server } = createPair({ server: { maxMessageSize: 10 } });
    await client.sendText('x'.repeat(11));
    await server.whenClosed;
    expect(((await server.receive()).data as MessageTooBigError).size).toBe(11);
  });
  it('default 4 MiB', async () => {
    const { client, server } = createPair();
    await client.sendBytes(new Uint8Array(4 * 1024 * 1024));
    expect((await server.receiveBytes()).byteLength).toBe(4 * 1024 * 1024);
    await client.sendBytes(new Uint8Array(4 * 1024 * 1024 + 1));
    await server.whenClosed;
    expect(server.closeCode).toBe(1009);
  });
  it('a runtime that enforces the limit itself is trusted: core does not check again', async () => {
    const { conn, t } = scripted({ maxMessageSize: 4 }, { enforcesMaxMessageSize: true });
    t.sink.binary(new Uint8Array(100));
    expect((await conn.receiveBytes()).byteLength).toBe(100);
    expect(t.calls).toEqual([]);
  });
  it('a too-big message during the peer-started close (autoclose off) still answers 1009', () => {
    const { conn, t } = scripted({ maxMessageSize: 4, autoclose: false });
    t.sink.closeFrame(1000, '');
    t.sink.binary(new Uint8Array(5));
    expect(t.calls).toEqual([{ op: 'close', code: 1009, reason: 'message too big' }]);
    expect(conn.exception()).toBeInstanceOf(MessageTooBigError);
  });
  it('after this end sent its close, a too-big message is an ERROR but no second close frame', () => {
    const { conn, t } = scripted({ maxMessageSize: 4 });
    void conn.close(1000);
    t.sink.text('toolong');
    expect(t.ops()).toEqual(['close']);
    expect(conn.exception()).toBeInstanceOf(MessageTooBigError);
  });
});
