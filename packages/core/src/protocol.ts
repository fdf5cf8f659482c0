// The types core's own logic tests, as module constants (internal: not exported from the
// package), as the close codes below: a bundle whose code reads only these leaves the
// `WSMsgType` table out, and a minifier shortens their names, never a `WSMsgType.X` lookup.
export const MSG_TEXT = 0x1;
export const MSG_BINARY = 0x2;
export const MSG_CLOSE = 0x8;
export const MSG_PING = 0x9;
export const MSG_PONG = 0xa;
export const MSG_CLOSING = 0x100;
export const MSG_CLOSED = 0x101;
export const MSG_ERROR = 0x102;

/**
 * Message types, after aiohttp's `WSMsgType`. Values below 0x100 are the RFC 6455 opcodes;
 * CLOSING, CLOSED and ERROR never travel on the wire, they describe the connection.
 */
export const WSMsgType = {
  CONTINUATION: 0x0,
  TEXT: MSG_TEXT,
  BINARY: MSG_BINARY,
  CLOSE: MSG_CLOSE,
  PING: MSG_PING,
  PONG: MSG_PONG,
  CLOSING: MSG_CLOSING,
  CLOSED: MSG_CLOSED,
  ERROR: MSG_ERROR,
} as const;
/** One of the {@link WSMsgType} values. */
export type WSMsgType = (typeof WSMsgType)[keyof typeof WSMsgType];

// The codes core's own logic uses, as module constants (internal: not exported from the
// package). Bundlers inline these where they would keep `WSCloseCode.X` lookups, so a browser
// bundle that never reads the table leaves it out.
export const OK = 1000;
export const PROTOCOL_ERROR = 1002;
export const NO_STATUS = 1005;
export const ABNORMAL_CLOSURE = 1006;
export const INVALID_TEXT = 1007;
export const POLICY_VIOLATION = 1008;
export const MESSAGE_TOO_BIG = 1009;
export const INTERNAL_ERROR = 1011;

/** Close codes of the IANA registry (RFC 6455 §7.4 and later additions). */
export const WSCloseCode = {
  OK,
  GOING_AWAY: 1001,
  PROTOCOL_ERROR,
  UNSUPPORTED_DATA: 1003,
  /** Reserved: never sent; a close frame without a body is reported as 1005. */
  NO_STATUS,
  /** Reserved: never sent; reported when the connection ended without a close frame. */
  ABNORMAL_CLOSURE,
  INVALID_TEXT,
  POLICY_VIOLATION,
  MESSAGE_TOO_BIG,
  MANDATORY_EXTENSION: 1010,
  INTERNAL_ERROR,
  SERVICE_RESTART: 1012,
  TRY_AGAIN_LATER: 1013,
  BAD_GATEWAY: 1014,
  /** Reserved: never sent; a TLS handshake failure. */
  TLS_HANDSHAKE: 1015,
} as const;
/** One of the {@link WSCloseCode} values. */
export type WSCloseCode = (typeof WSCloseCode)[keyof typeof WSCloseCode];

/** The longest close reason, in bytes of UTF-8: a control frame carries 125 bytes, 2 are the code. */
export const MAX_CLOSE_REASON_BYTES = 123;

/** True when `code` may be put in a close frame by an endpoint (1000–1003, 1007–1014, 3000–4999). */
export function isSendableCloseCode(code: number): boolean {
  if (!Number.isInteger(code)) return false;
  return (
    (code >= 1000 && code <= 1003) ||
    (code >= 1007 && code <= 1014) ||
    (code >= 3000 && code <= 4999)
  );
}

/** Bytes `text` takes in UTF-8, without allocating (lone surrogates count 3, as TextEncoder writes U+FFFD). */
export function utf8ByteLength(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    bytes += c < 0x80 ? 1 : c < 0x800 ? 2 : 3;
    // A high surrogate followed by a low one is one code point of 4 bytes: 3 counted, 1 more.
    if ((c & 0xfc00) === 0xd800 && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      bytes++;
      i++;
    }
  }
  return bytes;
}

/**
 * Throws a RangeError unless `code` and `reason` may be sent in a close frame.
 * `NO_STATUS` (1005) is accepted and means "a close frame with no body", so it takes no reason.
 */
export function assertSendableClose(code: number, reason: string): void {
  if (typeof reason !== 'string') throw new TypeError('close reason must be a string');
  if (code === NO_STATUS) {
    if (reason !== '')
      throw new RangeError('a close without a status code (1005) cannot carry a reason');
    return;
  }
  if (!isSendableCloseCode(code)) {
    throw new RangeError(
      `close code ${code} may not be sent: use 1000-1003, 1007-1014 or 3000-4999`,
    );
  }
  if (
    reason.length * 3 > MAX_CLOSE_REASON_BYTES &&
    utf8ByteLength(reason) > MAX_CLOSE_REASON_BYTES
  ) {
    throw new RangeError(
      `close reason is ${utf8ByteLength(reason)} bytes of UTF-8; at most ${MAX_CLOSE_REASON_BYTES} fit in a close frame`,
    );
  }
}

/** True when a peer's close frame with this code is valid; otherwise the answer is 1002. */
export function isValidReceivedCloseCode(code: number): boolean {
  return code === NO_STATUS || isSendableCloseCode(code);
}
