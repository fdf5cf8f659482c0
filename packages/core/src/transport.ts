import { utf8ByteLength } from './protocol.js';

/**
 * What an adapter implements: a thin translation of one runtime's socket. Every semantic
 * (timeouts, close rules, heartbeat, limits, queueing) lives in the connection, once.
 */

/** What the runtime under a transport does by itself; core adds the rest or a test skips the case. */
export interface TransportCapabilities {
  /** It sends protocol ping frames and reports pongs. Without it core uses the application-level heartbeat. */
  readonly pingFrames: boolean;
  /** It answers protocol pings by itself and this cannot be turned off (so `autoping: false` cannot hold pongs back). */
  readonly forcedAutoPong: boolean;
  /** It answers the peer's close frame by itself (so `autoclose: false` cannot hold the answer back). */
  readonly forcedCloseReply: boolean;
  /** It closes with 1002 on an invalid close code from the peer; otherwise core does. */
  readonly validatesCloseCodes: boolean;
  /** It refuses messages over `maxMessageSize` with 1009 before buffering them; otherwise core checks. */
  readonly enforcesMaxMessageSize: boolean;
  /** `bufferedAmount` is real and `drain` is reported: sends can push back. */
  readonly backpressure: boolean;
  /** It can stop and resume reading from the network (`pause`/`resume`). */
  readonly pauseReading: boolean;
  /**
   * It can put only 1000 and 3000–4999 in a close frame (browsers). Core then closes with any
   * other code (its own 1002, 1008, 1009, 1011, or the application's) by a frame without a body
   * and keeps that code as `closeCode` where the peer's answer can only echo the missing body (1005).
   * Optional: left out means false.
   */
  readonly restrictedCloseCodes?: boolean;
  /**
   * It can negotiate permessage-deflate when `compress` asks for it. Optional: left out means
   * true. False (Deno, whose WebSocket has no permessage-deflate) makes `compress: true` an
   * option the runtime cannot honour.
   */
  readonly deflate?: boolean;
}

/** The events a transport reports to its connection. */
export interface TransportSink {
  /** A text message arrived, whole. */
  text(data: string): void;
  /** A binary message arrived, whole. */
  binary(data: Uint8Array): void;
  /** A protocol ping arrived (whether or not the runtime already answered it). */
  ping(data: Uint8Array): void;
  /** A protocol pong arrived. */
  pong(data: Uint8Array): void;
  /**
   * The peer's close frame arrived and the runtime has not answered it
   * (only transports without `forcedCloseReply`). Core answers with `close()`.
   */
  closeFrame(code: number, reason: string): void;
  /** The connection is gone. `code`/`reason` are the peer's close frame, or 1006 when none came. */
  closed(code: number, reason: string): void;
  /**
   * The runtime reported an error; `closed` follows. With `code`, the runtime failed the
   * connection itself and sent a close frame with that code (ws: 1002, 1007, 1008, 1009): core
   * records it as it records its own failures (ERROR for the reader, no CLOSE), and `closeCode`
   * is `code` when `closed` then reports no close frame from the peer (1006), as a runtime
   * that stops reading after failing a connection never sees the answer.
   */
  error(error: Error, code?: number): void;
  /** `bufferedAmount` went down (at the latest when it reaches 0). */
  drain(): void;
}

/** A socket of one runtime, as core sees it. */
export interface Transport {
  /** What the runtime does by itself; declared truthfully, core fills the gaps. */
  readonly capabilities: TransportCapabilities;
  /**
   * The runtime's name (`'node'`, `'deno'`, `'workerd'`, `'browser'` …), for errors that name
   * what a runtime cannot do. Optional: left out, errors say "this runtime".
   */
  readonly runtime?: string;
  /** The URL the connection was opened with (client) or requested at (server). */
  readonly url: string;
  /** The negotiated subprotocol, or '' for none. */
  readonly protocol: string;
  /** The negotiated extensions, as in `Sec-WebSocket-Extensions`; '' for none. */
  readonly extensions: string;
  /** Bytes handed to the transport and not yet written to the network (0 without backpressure). */
  readonly bufferedAmount: number;
  /** Starts delivering events to `sink`. Called once, by the connection. */
  start(sink: TransportSink): void;
  /** Sends a TEXT message; `compress` undefined means as the connection negotiated. */
  sendText(data: string, compress: boolean | undefined): void;
  /** Sends a BINARY message; the bytes may be a view into a larger buffer. */
  sendBytes(data: Uint8Array, compress: boolean | undefined): void;
  /** Sends a message that was encoded once for many sockets (topics). Optional. */
  sendPrepared?(message: PreparedMessage): void;
  /** Only with `capabilities.pingFrames`. */
  ping?(data: Uint8Array): void;
  /** Only with `capabilities.pingFrames`. */
  pong?(data: Uint8Array): void;
  /** Sends a close frame; `code` undefined sends one with no body (1005). */
  close(code: number | undefined, reason: string): void;
  /**
   * Drops the connection without a closing handshake, and reports nothing more. Where the
   * runtime cannot drop a socket (Deno, workerd, browsers), it sends a close frame without a
   * body instead (the peer sees 1005, the one code for this on every such runtime) and forgets
   * the socket.
   */
  terminate(): void;
  /** Stops reading from the network (only with `capabilities.pauseReading`). */
  pause?(): void;
  /** Reads again after `pause()`. */
  resume?(): void;
}

/**
 * A message to be sent to many connections, encoded at most once per runtime encoder:
 * a transport keeps its own wire form in the cache under a key it owns.
 */
export class PreparedMessage {
  #cache: Map<object, unknown> | undefined;
  #size = -1;
  constructor(
    /** The payload. */
    readonly data: string | Uint8Array,
    /** True for BINARY, false for TEXT. */
    readonly binary: boolean,
    /** Compress it (where the runtime can), or not; undefined: as each connection does. */
    readonly compress: boolean | undefined,
  ) {}
  /**
   * The value cached under `key`, made by `make(this, key)` on first use. `make` gets what it
   * needs as arguments so that callers pass one function for all messages, not a closure each.
   */
  cached<K extends object, T>(key: K, make: (message: PreparedMessage, key: K) => T): T {
    // A publish asks once per subscriber, nearly always for the same key: no map lookup then.
    if (this.#lastKey === key) return this.#lastValue as T;
    this.#cache ??= new Map();
    let value: T;
    if (this.#cache.has(key)) value = this.#cache.get(key) as T;
    else {
      value = make(this, key);
      this.#cache.set(key, value);
    }
    this.#lastKey = key;
    this.#lastValue = value;
    return value;
  }
  #lastKey: object | undefined;
  #lastValue: unknown;
  /** Bytes on the wire before framing (text as UTF-8), computed once for all subscribers. */
  get size(): number {
    if (this.#size < 0) {
      this.#size = typeof this.data === 'string' ? utf8ByteLength(this.data) : this.data.byteLength;
    }
    return this.#size;
  }
}
