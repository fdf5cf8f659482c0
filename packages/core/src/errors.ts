import type { WSMessage } from './message.js';

/** Base class of every error anyws raises on purpose: `instanceof WebSocketError` tells them apart. */
export class WebSocketError extends Error {
  /** The class name, so that errors tell their kind after serialisation too. */
  override name = 'WebSocketError';
}

/** A send, ping or receive on a connection that is closing or closed. */
export class ConnectionClosedError extends WebSocketError {
  /** `'ConnectionClosedError'`. */
  override name = 'ConnectionClosedError';
  constructor(
    message = 'the connection is closed',
    /** The connection's close code, once it is closed. */
    readonly code?: number,
  ) {
    super(message);
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
  constructor(
    /** The timeout that ran out, in ms. */
    readonly timeout: number,
  ) {
    super(`no message within ${timeout} ms`);
  }
}

/**
 * `receiveText`, `receiveBytes` or `receiveJson` got a message of another type.
 * The message is consumed and kept in `received`, so nothing is lost; the connection stays open.
 */
export class UnexpectedMessageError extends WebSocketError {
  /** `'UnexpectedMessageError'`. */
  override name = 'UnexpectedMessageError';
  constructor(
    /** What the caller asked for: `'text'`, `'binary'` or `'text or binary'`. */
    readonly expected: string,
    /** The message that came instead; it is consumed. */
    readonly received: WSMessage,
  ) {
    super(`expected a ${expected} message, received type 0x${received.type.toString(16)}`);
  }
}

/** `receiveJson` got a payload that does not parse. The connection stays open. */
export class JsonParseError extends WebSocketError {
  /** `'JsonParseError'`. */
  override name = 'JsonParseError';
  constructor(
    /** The text that did not parse ('' when a binary payload was not even UTF-8). */
    readonly text: string,
    options: { cause: unknown },
  ) {
    super(`message is not valid JSON: ${String(options.cause)}`, options);
  }
}

/**
 * A send would take the outgoing buffer past `maxBufferedAmount`. The send is refused under
 * both policies; with `'close'` the connection also closes with 1008.
 */
export class BufferOverflowError extends WebSocketError {
  /** `'BufferOverflowError'`. */
  override name = 'BufferOverflowError';
  constructor(
    /** The bytes the buffer would have held with this send. */
    readonly bufferedAmount: number,
    /** `maxBufferedAmount`. */
    readonly limit: number,
  ) {
    super(`outgoing buffer would hold ${bufferedAmount} bytes, over the limit of ${limit}`);
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
  constructor(
    /** `receiveHighWaterMark`. */
    readonly limit: number,
  ) {
    super(
      `unread messages passed receiveHighWaterMark (${limit} bytes) on a runtime that cannot stop reading`,
    );
  }
}

/** No pong within the heartbeat's timeout: the peer is taken for dead and the connection ends (1006). */
export class HeartbeatTimeoutError extends WebSocketError {
  /** `'HeartbeatTimeoutError'`. */
  override name = 'HeartbeatTimeoutError';
  constructor(
    /** The pong timeout that ran out, in ms. */
    readonly timeout: number,
  ) {
    super(`no pong within ${timeout} ms: the peer is not answering`);
  }
}

/** A message over `maxMessageSize` arrived; the connection closes with 1009. */
export class MessageTooBigError extends WebSocketError {
  /** `'MessageTooBigError'`. */
  override name = 'MessageTooBigError';
  constructor(
    /** The message's size in bytes. */
    readonly size: number,
    /** `maxMessageSize`. */
    readonly limit: number,
  ) {
    super(`message of ${size} bytes is over maxMessageSize (${limit})`);
  }
}

/** The opening handshake failed; `status` is the HTTP status where the runtime reports it. */
export class HandshakeError extends WebSocketError {
  /** `'HandshakeError'`. */
  override name = 'HandshakeError';
  constructor(
    message: string,
    /** The HTTP status of the refusal, where the runtime reports it (browsers do not). */
    readonly status?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
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
  constructor(
    /** The close code the connection is failed with. */
    readonly code: number,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * An option (or a call's argument) this runtime cannot honour: refused when the handler is
 * served or the client connects (or when the call is made), never accepted and then ignored.
 */
export class UnsupportedOptionError extends WebSocketError {
  /** `'UnsupportedOptionError'`. */
  override name = 'UnsupportedOptionError';
  constructor(
    /** The option, as written (`'autoclose'`, `'maxBufferedAmount'`, `'ping(data)'` …). */
    readonly option: string,
    /** The runtime that cannot honour it (`'workerd'`, `'deno'`, `'browser'` …). */
    readonly runtime: string,
    /** The transport capability it lacks (a `TransportCapabilities` key), or what it has instead. */
    readonly capability: string,
    why: string,
  ) {
    super(`${option} is not supported on ${runtime}: ${why}`);
  }
}
