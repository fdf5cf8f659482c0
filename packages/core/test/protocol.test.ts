import { describe, expect, it } from 'vitest';
import {
  assertSendableClose,
  isSendableCloseCode,
  isValidReceivedCloseCode,
  MAX_CLOSE_REASON_BYTES,
  utf8ByteLength,
  WSCloseCode,
  WSMsgType,
} from '../src/index.js';

describe('WSMsgType', () => {
  it('uses the RFC 6455 opcodes and keeps non-wire flags out of the opcode range', () => {
    expect(WSMsgType).toEqual({
      CONTINUATION: 0x0,
      TEXT: 0x1,
      BINARY: 0x2,
      CLOSE: 0x8,
      PING: 0x9,
      PONG: 0xa,
      CLOSING: 0x100,
      CLOSED: 0x101,
      ERROR: 0x102,
    });
  });
});

describe('WSCloseCode', () => {
  it('holds the whole registry 1000-1015', () => {
    expect(WSCloseCode).toEqual({
      OK: 1000,
      GOING_AWAY: 1001,
      PROTOCOL_ERROR: 1002,
      UNSUPPORTED_DATA: 1003,
      NO_STATUS: 1005,
      ABNORMAL_CLOSURE: 1006,
      INVALID_TEXT: 1007,
      POLICY_VIOLATION: 1008,
      MESSAGE_TOO_BIG: 1009,
      MANDATORY_EXTENSION: 1010,
      INTERNAL_ERROR: 1011,
      SERVICE_RESTART: 1012,
      TRY_AGAIN_LATER: 1013,
      BAD_GATEWAY: 1014,
      TLS_HANDSHAKE: 1015,
    });
  });
});

const SENDABLE = [
  1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999,
];
const NOT_SENDABLE = [
  -1,
  0,
  999,
  1004,
  1005,
  1006,
  1015,
  1016,
  2000,
  2999,
  5000,
  65535,
  1000.5,
  Number.NaN,
  Infinity,
];

describe('isSendableCloseCode', () => {
  it.each(SENDABLE)('%d may be sent', (code) => {
    expect(isSendableCloseCode(code)).toBe(true);
  });
  it.each(NOT_SENDABLE)('%d may not be sent', (code) => {
    expect(isSendableCloseCode(code)).toBe(false);
  });
});

describe('isValidReceivedCloseCode', () => {
  it('accepts what may be sent, and 1005 (a close frame without a body)', () => {
    for (const code of SENDABLE) expect(isValidReceivedCloseCode(code)).toBe(true);
    expect(isValidReceivedCloseCode(1005)).toBe(true);
  });
  it('refuses the reserved and unassigned codes', () => {
    for (const code of [0, 999, 1004, 1006, 1015, 1016, 2999, 5000]) {
      expect(isValidReceivedCloseCode(code)).toBe(false);
    }
  });
});

describe('utf8ByteLength', () => {
  it.each([
    ['', 0],
    ['a', 1],
    ['é', 2],
    ['✓', 3],
    ['🎉', 4],
    ['héllo ✓ 🎉', 1 + 2 + 3 + 1 + 3 + 1 + 4],
    ['\ud800', 3], // a lone high surrogate at the end
    ['\ud800x', 4], // a lone high surrogate before a non-surrogate
    ['\udc00', 3], // a lone low surrogate
  ])('%j takes %d bytes, as TextEncoder writes it', (text, bytes) => {
    expect(utf8ByteLength(text)).toBe(bytes);
    expect(new TextEncoder().encode(text).byteLength).toBe(bytes);
  });
});

describe('assertSendableClose', () => {
  it('accepts every sendable code with an empty or short reason', () => {
    for (const code of SENDABLE) expect(() => assertSendableClose(code, 'ok')).not.toThrow();
  });
  it('throws a RangeError naming the allowed ranges for an unsendable code', () => {
    for (const code of [0, 999, 1004, 1006, 1015, 2999, 5000, 1000.5]) {
      expect(() => assertSendableClose(code, '')).toThrow(RangeError);
    }
    expect(() => assertSendableClose(1004, '')).toThrow(/1000-1003, 1007-1014 or 3000-4999/);
  });
  it(`allows a reason of exactly ${MAX_CLOSE_REASON_BYTES} bytes of UTF-8 and no more`, () => {
    expect(MAX_CLOSE_REASON_BYTES).toBe(123);
    expect(() => assertSendableClose(1000, 'x'.repeat(123))).not.toThrow();
    expect(() => assertSendableClose(1000, 'x'.repeat(124))).toThrow(RangeError);
    expect(() => assertSendableClose(1000, `${'é'.repeat(61)}x`)).not.toThrow(); // 123 bytes
    expect(() => assertSendableClose(1000, 'é'.repeat(62))).toThrow(/124 bytes/);
    // Short in UTF-16 units, long in bytes: 31 emoji are 62 units and 124 bytes.
    expect(() => assertSendableClose(1000, '🎉'.repeat(31))).toThrow(RangeError);
  });
  it('takes 1005 as "no body": no reason allowed', () => {
    expect(() => assertSendableClose(1005, '')).not.toThrow();
    expect(() => assertSendableClose(1005, 'why')).toThrow(/1005/);
  });
  it('throws a TypeError for a reason that is not a string', () => {
    expect(() => assertSendableClose(1000, 42 as unknown as string)).toThrow(TypeError);
  });
});
