import type { WSMessage } from './message.js';

// Fields set by a constructor are `declare`d and assigned there: a parameter property would
// also emit a field definition per class, bytes in every page that bundles core.

/** Base class of every error anyws raises on purpose: `instanceof WebSocketError` tells them apart. */
export class WebSocketError extends Error {
  /** The class name, so that errors tell their kind after serialisation too. */
  override name = 'WebSocketError';
}

/** A send, ping or receive on a connection that is closing or closed. */
export class ConnectionClosedError extends WebSocketError {
  /** `'ConnectionClosedError'`. */
  override name = 'ConnectionClosedError';
  /** The connection's close code, once it is closed. */
  declare readonly code?: number;
  constructor(message = 'the connection is closed', code?: number) {
    super(message);
    this.code = code;
  }
}

/** `receive()` while another `receive()` is still waiting: one reader at a time. */
export class ConcurrentReceiveError extends WebSocketError {
  /** `'ConcurrentReceiveError'`. */
  override name = 'ConcurrentReceiveError';
  constructor() {
    super('another receive() is already waiting on this connection: one reader at a time');
  }
}

/** `receive({ timeout })` ran out of time. The connection stays open. */
export class ReceiveTimeoutError extends WebSocketError {
  /** `'ReceiveTimeoutError'`. */
  override name = 'ReceiveTimeoutError';
  /** The timeout that ran out, in ms. */
  declare readonly timeout: number;
  constructor(timeout: number) {
    super(`no message within ${timeout} ms`);
    this.timeout = timeout;
  }
}

/**
 * `receiveText`, `receiveBytes` or `receiveJson` got a message of another type.
 * The message is consumed and kept in `received`, so nothing is lost; the connection stays open.
 */
export class UnexpectedMessageError extends WebSocketError {
  /** `'UnexpectedMessageError'`. */
  override name = 'UnexpectedMessageError';
  /** What the caller asked for: `'text'`, `'binary'` or `'text or binary'`. */
  declare readonly expected: string;
  /** The message that came instead; it is consumed. */
  declare readonly received: WSMessage;
  constructor(expected: string, received: WSMessage) {
    super(`expected a ${expected} message, received type 0x${received.type.toString(16)}`);
    this.expected = expected;
    this.received = received;
  }
}

/** `receiveJson` got a payload that does not parse. The connection stays open. */
export class JsonParseError extends WebSocketError {
  /** `'JsonParseError'`. */
  override name = 'JsonParseError';
  /** The text that did not parse ('' when a binary payload was not even UTF-8). */
  declare readonly text: string;
  constructor(text: string, options: { cause: unknown }) {
    super(`message is not valid JSON: ${String(options.cause)}`, options);
    this.text = text;
  }
}

/**
 * A send would take the outgoing buffer past `maxBufferedAmount`. The send is refused under
 * both policies; with `'close'` the connection also closes with 1008.
 */
export class BufferOverflowError extends WebSocketError {
  /** `'BufferOverflowError'`. */
  override name = 'BufferOverflowError';
  /** The bytes the buffer would have held with this send. */
  declare readonly bufferedAmount: number;
  /** `maxBufferedAmount`. */
  declare readonly limit: number;
  constructor(bufferedAmount: number, limit: number) {
    super(`outgoing buffer would hold ${bufferedAmount} bytes, over the limit of ${limit}`);
    this.bufferedAmount = bufferedAmount;
    this.limit = limit;
  }
}

/**
 * Messages arrived faster than the application read them, on a runtime that cannot stop reading
 * (Deno, workerd, browsers: no `pauseReading`): past `receiveHighWaterMark` bytes (or one
 * message per 64 bytes of it, 1,024 at least) of unread messages the connection closes with
 * 1008, as nothing else would bound the queue. Where the runtime can pause, reading pauses instead.
 */
export class ReceiveOverflowError extends WebSocketError {
  /** `'ReceiveOverflowError'`. */
  override name = 'ReceiveOverflowError';
  /** `receiveHighWaterMark`. */
  declare readonly limit: number;
  constructor(limit: number) {
    super(
      `unread messages passed receiveHighWaterMark (${limit} bytes) on a runtime that cannot stop reading`,
    );
    this.limit = limit;
  }
}

/** No pong within the heartbeat's timeout: the peer is taken for dead and the connection ends (1006). */
export class HeartbeatTimeoutError extends WebSocketError {
  /** `'HeartbeatTimeoutError'`. */
  override name = 'HeartbeatTimeoutError';
  /** The pong timeout that ran out, in ms. */
  declare readonly timeout: number;
  constructor(timeout: number) {
    super(`no pong within ${timeout} ms: the peer is not answering`);
    this.timeout = timeout;
  }
}

/** A message over `maxMessageSize` arrived; the connection closes with 1009. */
export class MessageTooBigError extends WebSocketError {
  /** `'MessageTooBigError'`. */
  override name = 'MessageTooBigError';
  /** The message's size in bytes. */
  declare readonly size: number;
  /** `maxMessageSize`. */
  declare readonly limit: number;
  constructor(size: number, limit: number) {
    super(`message of ${size} bytes is over maxMessageSize (${limit})`);
    this.size = size;
    this.limit = limit;
  }
}

/** The opening handshake failed; `status` is the HTTP status where the runtime reports it. */
export class HandshakeError extends WebSocketError {
  /** `'HandshakeError'`. */
  override name = 'HandshakeError';
  /** The HTTP status of the refusal, where the runtime reports it (browsers do not). */
  declare readonly status?: number;
  constructor(message: string, status?: number, options?: { cause?: unknown }) {
    super(message, options);
    this.status = status;
  }
}

/**
 * The peer broke the protocol (an invalid close code, a malformed frame, text that is not
 * UTF-8, too many fragments): the connection is failed with `code` (1002, 1007 or 1008). The
 * same class on every runtime, whether the runtime or core found the fault.
 */
export class ProtocolError extends WebSocketError {
  /** `'ProtocolError'`. */
  override name = 'ProtocolError';
  /** The close code the connection is failed with. */
  declare readonly code: number;
  constructor(code: number, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/**
 * An option (or a call's argument) this runtime cannot honour: refused when the handler is
 * served or the client connects (or when the call is made), never accepted and then ignored.
 */
export class UnsupportedOptionError extends WebSocketError {
  /** `'UnsupportedOptionError'`. */
  override name = 'UnsupportedOptionError';
  /** The option, as written (`'autoclose'`, `'maxBufferedAmount'`, `'ping(data)'` …). */
  declare readonly option: string;
  /** The runtime that cannot honour it (`'workerd'`, `'deno'`, `'browser'` …). */
  declare readonly runtime: string;
  /** The transport capability it lacks (a `TransportCapabilities` key), or what it has instead. */
  declare readonly capability: string;
  constructor(option: string, runtime: string, capability: string, why: string) {
    super(`${option} is not supported on ${runtime}: ${why}`);
    this.option = option;
    this.runtime = runtime;
    this.capability = capability;
  }
}
