import {
  MSG_BINARY,
  MSG_CLOSE,
  MSG_CLOSED,
  MSG_CLOSING,
  MSG_ERROR,
  MSG_TEXT,
  type WSMsgType,
} from './protocol.js';

const decoder = new TextDecoder('utf-8', { fatal: true });

/** Parses a JSON payload: a string as it is, bytes as UTF-8. */
export type JsonParser = (text: string) => unknown;

interface MessageBase {
  /** For CLOSE: the close reason. Empty for every other type. */
  readonly extra: string;
}
/** A text message. */
export interface TextMessage extends MessageBase {
  /** `WSMsgType.TEXT`. */
  readonly type: typeof WSMsgType.TEXT;
  /** The text. */
  readonly data: string;
  /** Parses `data` as JSON. */
  json<T = unknown>(parse?: JsonParser): T;
}
/** A binary message. */
export interface BinaryMessage extends MessageBase {
  /** `WSMsgType.BINARY`. */
  readonly type: typeof WSMsgType.BINARY;
  /** The bytes. */
  readonly data: Uint8Array;
  /** Decodes `data` as UTF-8 and parses it as JSON. */
  json<T = unknown>(parse?: JsonParser): T;
}
/** A ping or pong, seen only with `autoping: false`. */
export interface ControlMessage extends MessageBase {
  /** `WSMsgType.PING` or `WSMsgType.PONG`. */
  readonly type: typeof WSMsgType.PING | typeof WSMsgType.PONG;
  /** The payload (empty for the application-level heartbeat). */
  readonly data: Uint8Array;
}
/** The peer's close frame: `data` is its code (1005 when it had none), `extra` its reason. */
export interface CloseMessage extends MessageBase {
  /** `WSMsgType.CLOSE`. */
  readonly type: typeof WSMsgType.CLOSE;
  /** The peer's close code. */
  readonly data: number;
}
/** The connection is closing (CLOSING) or closed (CLOSED). */
export interface StateMessage extends MessageBase {
  /** `WSMsgType.CLOSING` or `WSMsgType.CLOSED`. */
  readonly type: typeof WSMsgType.CLOSING | typeof WSMsgType.CLOSED;
  /** Always null. */
  readonly data: null;
}
/** Something went wrong; the connection is ending. */
export interface ErrorMessage extends MessageBase {
  /** `WSMsgType.ERROR`. */
  readonly type: typeof WSMsgType.ERROR;
  /** What went wrong (also `conn.exception()` when it was the first fault). */
  readonly data: Error;
}
/** What `receive()` returns: a union discriminated on `type`. */
export type WSMessage =
  | TextMessage
  | BinaryMessage
  | ControlMessage
  | CloseMessage
  | StateMessage
  | ErrorMessage;
/** The messages that carry application data. */
export type DataMessage = TextMessage | BinaryMessage;

function parseText<T>(this: TextMessage, parse: JsonParser = JSON.parse): T {
  return parse(this.data) as T;
}
function parseBinary<T>(this: BinaryMessage, parse: JsonParser = JSON.parse): T {
  return parse(decoder.decode(this.data)) as T;
}

/** Builds a TEXT message. */
export function textMessage(data: string): TextMessage {
  return { type: MSG_TEXT, data, extra: '', json: parseText };
}
/** Builds a BINARY message. */
export function binaryMessage(data: Uint8Array): BinaryMessage {
  return { type: MSG_BINARY, data, extra: '', json: parseBinary };
}
/** Builds a PING or PONG message. */
export function controlMessage(
  type: typeof WSMsgType.PING | typeof WSMsgType.PONG,
  data: Uint8Array,
): ControlMessage {
  return { type, data, extra: '' };
}
/** Builds a CLOSE message. */
export function closeMessage(code: number, reason: string): CloseMessage {
  return { type: MSG_CLOSE, data: code, extra: reason };
}
/** Builds an ERROR message. */
export function errorMessage(error: Error): ErrorMessage {
  return { type: MSG_ERROR, data: error, extra: '' };
}
/** The one CLOSING message. */
export const CLOSING_MESSAGE: StateMessage = Object.freeze({
  type: MSG_CLOSING,
  data: null,
  extra: '',
});
/** The one CLOSED message. */
export const CLOSED_MESSAGE: StateMessage = Object.freeze({
  type: MSG_CLOSED,
  data: null,
  extra: '',
});

/**
 * `value` as JSON text, as `sendJson` sends it: a TypeError when it does not serialise (a
 * `stringify` that throws, or a value such as undefined or a function that gives no text).
 */
export function jsonText(
  value: unknown,
  stringify: (value: unknown) => string | undefined = JSON.stringify,
): string {
  let text: unknown;
  try {
    text = stringify(value);
  } catch (error) {
    throw new TypeError(`sendJson(): value does not serialise: ${String(error)}`, { cause: error });
  }
  if (typeof text !== 'string') {
    throw new TypeError(`sendJson(): ${describe(value)} does not serialise to JSON text`);
  }
  return text;
}

/** What a value is, for error messages: its class name, or its type. */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'object') return value.constructor?.name ?? 'object';
  return typeof value;
}

/** Decodes UTF-8 strictly: throws a TypeError on invalid input. */
export function decodeUtf8(bytes: Uint8Array): string {
  return decoder.decode(bytes);
}

/** Views any binary payload users may pass as a Uint8Array, without copying. */
export function toBytes(data: unknown): Uint8Array | undefined {
  if (data instanceof Uint8Array) return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data))
    return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return undefined;
}
