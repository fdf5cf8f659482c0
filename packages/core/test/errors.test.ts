import { describe, expect, it } from 'vitest';
import {
  BufferOverflowError,
  ConcurrentReceiveError,
  ConnectionClosedError,
  HandshakeError,
  HeartbeatTimeoutError,
  JsonParseError,
  MessageTooBigError,
  ReceiveTimeoutError,
  textMessage,
  UnexpectedMessageError,
  WebSocketError,
} from '../src/index.js';

describe('error classes', () => {
  it.each([
    ['WebSocketError', new WebSocketError('x')],
    ['ConnectionClosedError', new ConnectionClosedError()],
    ['ConcurrentReceiveError', new ConcurrentReceiveError()],
    ['ReceiveTimeoutError', new ReceiveTimeoutError(5)],
    ['UnexpectedMessageError', new UnexpectedMessageError('binary', textMessage('t'))],
    ['JsonParseError', new JsonParseError('{', { cause: new SyntaxError('bad') })],
    ['BufferOverflowError', new BufferOverflowError(10, 5)],
    ['HeartbeatTimeoutError', new HeartbeatTimeoutError(7)],
    ['MessageTooBigError', new MessageTooBigError(9, 8)],
    ['HandshakeError', new HandshakeError('refused', 403)],
  ] as [string, Error][])(
    '%s: named after its class, a WebSocketError and an Error',
    (name, error) => {
      expect(error.name).toBe(name);
      expect(error).toBeInstanceOf(WebSocketError);
      expect(error).toBeInstanceOf(Error);
      expect(error.message).not.toBe('');
    },
  );
  it('carry what they are about', () => {
    expect(new ConnectionClosedError().message).toBe('the connection is closed');
    expect(new ConnectionClosedError('m', 1001).code).toBe(1001);
    expect(new ReceiveTimeoutError(5).message).toBe('no message within 5 ms');
    expect(new BufferOverflowError(10, 5).message).toMatch(/10 bytes.*limit of 5/);
    expect(new MessageTooBigError(9, 8).message).toMatch(/9 bytes.*\(8\)/);
    expect(new HeartbeatTimeoutError(7).message).toMatch(/7 ms/);
    const cause = new Error('socket hang up');
    const handshake = new HandshakeError('refused', 403, { cause });
    expect([handshake.status, handshake.cause]).toEqual([403, cause]);
    expect(new HandshakeError('no status').status).toBeUndefined();
    const json = new JsonParseError('{', { cause: new SyntaxError('Unexpected end') });
    expect(json.text).toBe('{');
    expect(json.message).toMatch(/Unexpected end/);
  });
});
