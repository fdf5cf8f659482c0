import type { WSMessage } from './message.js';

/** Base class of every error anyws raises on purpose: `instanceof WebSocketError` tells them apart. */
export class WebSocketError extends Error {
  override name = 'WebSocketError';
}

/** A send, ping or receive on a connection that is closing or closed. */
export class ConnectionClosedError extends WebSocketError {
  override name = 'ConnectionClosedError';
  constructor(
    message = 'the connection is closed',
    readonly code?: number,
  ) {
    super(message);
  }
}

/** `receive()` while another `receive()` is still waiting: one reader at a time. */
export class ConcurrentReceiveError extends WebSocketError {
  override name = 'ConcurrentReceiveError';
  constructor() {
    super('another receive() is already waiting on this connection: one reader at a time');
  }
}

/** `receive({ timeout })` ran out of time. The connection stays open. */
export class ReceiveTimeoutError extends WebSocketError {
  override name = 'ReceiveTimeoutError';
  constructor(readonly timeout: number) {
    super(`no message within ${String(timeout)} ms`);
  }
}

/**
 * `receiveText`, `receiveBytes` or `receiveJson` got a message of another type.
 * The message is consumed and kept in `received`, so nothing is lost; the connection stays open.
 */
export class UnexpectedMessageError extends WebSocketError {
  override name = 'UnexpectedMessageError';
  constructor(
    readonly expected: string,
    readonly received: WSMessage,
  ) {
    super(`expected a ${expected} message, received type 0x${received.type.toString(16)}`);
  }
}

/** `receiveJson` got a payload that does not parse. The connection stays open. */
export class JsonParseError extends WebSocketError {
  override name = 'JsonParseError';
  constructor(
    readonly text: string,
    options: { cause: unknown },
  ) {
    super(`message is not valid JSON: ${String(options.cause)}`, options);
  }
}

/** A send would take the outgoing buffer past `maxBufferedAmount` (policy `'reject'`). */
export class BufferOverflowError extends WebSocketError {
  override name = 'BufferOverflowError';
  constructor(
    readonly bufferedAmount: number,
    readonly limit: number,
  ) {
    super(
      `outgoing buffer would hold ${String(bufferedAmount)} bytes, over the limit of ${String(limit)}`,
    );
  }
}

/** No pong within the heartbeat's timeout: the peer is taken for dead and the connection ends (1006). */
export class HeartbeatTimeoutError extends WebSocketError {
  override name = 'HeartbeatTimeoutError';
  constructor(readonly timeout: number) {
    super(`no pong within ${String(timeout)} ms: the peer is not answering`);
  }
}

/** A message over `maxMessageSize` arrived; the connection closes with 1009. */
export class MessageTooBigError extends WebSocketError {
  override name = 'MessageTooBigError';
  constructor(
    readonly size: number,
    readonly limit: number,
  ) {
    super(`message of ${String(size)} bytes is over maxMessageSize (${String(limit)})`);
  }
}

/** The opening handshake failed; `status` is the HTTP status where the runtime reports it. */
export class HandshakeError extends WebSocketError {
  override name = 'HandshakeError';
  constructor(
    message: string,
    readonly status?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
