import { UnsupportedOptionError } from './errors.js';
import type { JsonParser } from './message.js';
import type { TransportCapabilities } from './transport.js';

/** Keepalive: a ping every `interval` ms of silence; no pong within `timeout` ms ends the connection. */
export interface HeartbeatOptions {
  /** Milliseconds of silence before a ping is sent. */
  interval: number;
  /** Milliseconds to wait for the pong. Default: half of `interval`, as aiohttp. */
  timeout?: number;
}

/** What happens when a send would take the outgoing buffer past `maxBufferedAmount`. */
export type SlowConsumerPolicy =
  /** Close the connection with 1008 (POLICY_VIOLATION) and reject the send. The default. */
  | 'close'
  /** Reject that send with a `BufferOverflowError`; the connection stays open. */
  | 'reject';

/**
 * Options of a connection, on every runtime and both sides. Every default is in
 * {@link DEFAULT_OPTIONS}; an option left out takes it.
 */
export interface ConnectionOptions {
  /** Subprotocols: offered by a client, accepted in this order of preference by a server. */
  protocols?: readonly string[];
  /** Answer pings with pongs by itself and keep PING/PONG out of `receive()`. Default true. */
  autoping?: boolean;
  /** Answer the peer's close frame by itself. Default true. With false, `receive()` returns the CLOSE message and the application calls `close()`. */
  autoclose?: boolean;
  /** Keepalive with dead-peer detection; a number is the interval. Default off. */
  heartbeat?: number | HeartbeatOptions | null;
  /** Default timeout of `receive()`, in ms. Default none. */
  receiveTimeout?: number | null;
  /** How long `close()` waits for the peer's close frame before it terminates, in ms. Default 10,000. */
  closeTimeout?: number;
  /** Largest message accepted, in bytes; a larger one closes the connection with 1009. Default 4 MiB. */
  maxMessageSize?: number;
  /** Ask for permessage-deflate (where the runtime offers it). Default false. */
  compress?: boolean;
  /** Sends resolve once the outgoing buffer is at or below this many bytes. Default 64 KiB. */
  highWaterMark?: number;
  /** Bound on bytes buffered for sending; past it `slowConsumer` applies. Default 16 MiB. */
  maxBufferedAmount?: number;
  /** Policy at `maxBufferedAmount`. Default `'close'` (1008). */
  slowConsumer?: SlowConsumerPolicy;
  /**
   * Bytes of received messages held for a reader before the runtime is asked to stop reading
   * (and at most one message per 64 bytes of it, 1,024 at least: a queued message costs more
   * than its payload). Where the runtime cannot stop reading (Deno, workerd, browsers), passing
   * it closes the connection with 1008 (`ReceiveOverflowError`). Default 1 MiB.
   */
  receiveHighWaterMark?: number;
}

/** Options with every default filled in. */
export interface ResolvedOptions {
  /** See {@link ConnectionOptions.protocols}. */
  readonly protocols: readonly string[];
  /** See {@link ConnectionOptions.autoping}. */
  readonly autoping: boolean;
  /** See {@link ConnectionOptions.autoclose}. */
  readonly autoclose: boolean;
  /** See {@link ConnectionOptions.heartbeat}. */
  readonly heartbeat: Required<HeartbeatOptions> | null;
  /** See {@link ConnectionOptions.receiveTimeout}. */
  readonly receiveTimeout: number | null;
  /** See {@link ConnectionOptions.closeTimeout}. */
  readonly closeTimeout: number;
  /** See {@link ConnectionOptions.maxMessageSize}. */
  readonly maxMessageSize: number;
  /** See {@link ConnectionOptions.compress}. */
  readonly compress: boolean;
  /** See {@link ConnectionOptions.highWaterMark}. */
  readonly highWaterMark: number;
  /** See {@link ConnectionOptions.maxBufferedAmount}. */
  readonly maxBufferedAmount: number;
  /** See {@link ConnectionOptions.slowConsumer}. */
  readonly slowConsumer: SlowConsumerPolicy;
  /** See {@link ConnectionOptions.receiveHighWaterMark}. */
  readonly receiveHighWaterMark: number;
}

/** The defaults, in one place. */
export const DEFAULT_OPTIONS: ResolvedOptions = Object.freeze({
  protocols: [],
  autoping: true,
  autoclose: true,
  heartbeat: null,
  receiveTimeout: null,
  closeTimeout: 10_000,
  maxMessageSize: 4 * 1024 * 1024,
  compress: false,
  highWaterMark: 64 * 1024,
  maxBufferedAmount: 16 * 1024 * 1024,
  slowConsumer: 'close',
  receiveHighWaterMark: 1024 * 1024,
});

/** Checks a positive number (zero too with `allowZero`) of `unit`: a RangeError otherwise. */
export function positive(name: string, value: number, unit: string, allowZero: boolean): number {
  if (typeof value !== 'number' || !(value > 0 || (allowZero && value === 0))) {
    throw new RangeError(`${name} must be a positive number of ${unit}, got ${String(value)}`);
  }
  return value;
}

/** Checks a size in bytes: positive (or zero), Infinity for no limit. */
function bytes(name: string, value: number, allowZero = false): number {
  return positive(name, value, 'bytes', allowZero);
}

/** The longest delay a timer holds: `setTimeout` fires at once (after 1 ms) for a longer one. */
const MAX_DELAY = 2 ** 31 - 1;

/** Checks a duration in ms that goes to a timer: positive (or zero), finite, at most 2^31-1. */
export function checkDelay(name: string, value: number, allowZero = false): number {
  positive(name, value, 'ms', allowZero);
  if (value > MAX_DELAY) {
    throw new RangeError(
      `${name} must be at most ${String(MAX_DELAY)} ms (the longest timer), got ${String(value)}`,
    );
  }
  return value;
}

/**
 * The objects `resolveOptions` made. A handler's options are resolved once, at its first
 * upgrade, and every connection of it shares that object: given one back, `resolveOptions`
 * returns it as it is instead of a copy per connection (a copy is about 300 B of an idle
 * connection's heap).
 */
const resolved = new WeakSet<object>();

/**
 * Fills in defaults and checks every value: a bad option is a RangeError or TypeError at once.
 * The result is frozen; passed in again, it is returned unchanged.
 */
export function resolveOptions(options: ConnectionOptions | ResolvedOptions = {}): ResolvedOptions {
  if (resolved.has(options)) return options as ResolvedOptions;
  const d = DEFAULT_OPTIONS;
  let heartbeat: Required<HeartbeatOptions> | null = null;
  if (options.heartbeat != null) {
    const hb =
      typeof options.heartbeat === 'number' ? { interval: options.heartbeat } : options.heartbeat;
    const interval = checkDelay('heartbeat.interval', hb.interval);
    heartbeat = { interval, timeout: checkDelay('heartbeat.timeout', hb.timeout ?? interval / 2) };
  }
  const protocols = options.protocols ?? d.protocols;
  if (!Array.isArray(protocols) || protocols.some((p) => typeof p !== 'string' || p === '')) {
    throw new TypeError('protocols must be an array of non-empty strings');
  }
  const slowConsumer = options.slowConsumer ?? d.slowConsumer;
  if (slowConsumer !== 'close' && slowConsumer !== 'reject') {
    throw new TypeError(`slowConsumer must be 'close' or 'reject', got ${String(slowConsumer)}`);
  }
  const result: ResolvedOptions = Object.freeze({
    protocols,
    autoping: options.autoping ?? d.autoping,
    autoclose: options.autoclose ?? d.autoclose,
    heartbeat,
    receiveTimeout:
      options.receiveTimeout == null ? null : checkDelay('receiveTimeout', options.receiveTimeout),
    closeTimeout: checkDelay('closeTimeout', options.closeTimeout ?? d.closeTimeout, true),
    maxMessageSize: bytes('maxMessageSize', options.maxMessageSize ?? d.maxMessageSize),
    compress: options.compress ?? d.compress,
    highWaterMark: bytes('highWaterMark', options.highWaterMark ?? d.highWaterMark, true),
    maxBufferedAmount: bytes('maxBufferedAmount', options.maxBufferedAmount ?? d.maxBufferedAmount),
    slowConsumer,
    receiveHighWaterMark: bytes(
      'receiveHighWaterMark',
      options.receiveHighWaterMark ?? d.receiveHighWaterMark,
    ),
  });
  resolved.add(result);
  return result;
}

/** Options of `sendJson`. */
export interface SendJsonOptions extends SendOptions {
  /** Turns the value into text. Default `JSON.stringify`. */
  stringify?: (value: unknown) => string | undefined;
}
/** Options of `receiveJson`. */
export interface ReceiveJsonOptions extends ReceiveOptions {
  /** Parses the text. Default `JSON.parse`. */
  parse?: JsonParser;
}
/** Options of a send. */
export interface SendOptions {
  /** Compress this message (true), never (false), or as the connection does (left out). */
  compress?: boolean;
}
/** Options of `ping()`. */
export interface PingOptions {
  /**
   * Milliseconds to wait for the pong; none (or `null`) waits until the connection ends. No pong
   * in time means a dead peer: `HeartbeatTimeoutError`, and the connection is dropped (1006).
   */
  timeout?: number | null;
}
/** Options of a receive. */
export interface ReceiveOptions {
  /** Milliseconds to wait; overrides `receiveTimeout`. `null` waits without limit. */
  timeout?: number | null;
}

/**
 * Refuses the options a runtime cannot honour, with an `UnsupportedOptionError` naming the
 * option, the runtime and the capability it lacks. Adapters call it when a handler is served
 * or a client connects, so that nothing is accepted and then ignored:
 *
 * - `autoclose: false` where the runtime answers the peer's close frame itself
 *   (`forcedCloseReply`: ws, Deno, browsers): the answer cannot be held back.
 * - a `maxBufferedAmount` or `slowConsumer` other than the default where sends cannot push
 *   back (`backpressure`: workerd reports no buffered amount, so no bound can be kept).
 * - `compress: true` where the runtime has no permessage-deflate (`deflate: false`: Deno).
 *   `compress: false` asks for nothing, so it holds everywhere, though a browser (or workerd,
 *   answering a client that offers it) may negotiate compression by itself.
 *
 * Not refused, with reasons: `receiveHighWaterMark` without `pauseReading` (the mark is then a
 * limit: passing it fails the connection with 1008), `autoping: false` (core holds back the
 * pongs it would send; a runtime that answers protocol pings itself does so unseen), `heartbeat`
 * without ping frames (it runs where the peer agreed to the application-level heartbeat, see
 * `HEARTBEAT_PROTOCOL`), `highWaterMark` without backpressure (there is no buffer: every send
 * resolves at once, which is what the mark asks). A ping payload without ping frames is refused
 * by `ping(data)` itself.
 */
export function assertSupported(
  options: ResolvedOptions,
  capabilities: TransportCapabilities,
  runtime: string,
): void {
  const d = DEFAULT_OPTIONS;
  if (!options.autoclose && capabilities.forcedCloseReply) {
    throw new UnsupportedOptionError(
      'autoclose: false',
      runtime,
      'forcedCloseReply',
      "the runtime answers the peer's close frame itself, so the answer cannot be held back",
    );
  }
  if (options.compress && capabilities.deflate === false) {
    throw new UnsupportedOptionError(
      'compress: true',
      runtime,
      'deflate',
      'the runtime has no permessage-deflate',
    );
  }
  if (!capabilities.backpressure) {
    if (options.maxBufferedAmount !== d.maxBufferedAmount) {
      throw new UnsupportedOptionError(
        'maxBufferedAmount',
        runtime,
        'backpressure',
        'the runtime reports no buffered amount, so no bound on it can be kept',
      );
    }
    if (options.slowConsumer !== d.slowConsumer) {
      throw new UnsupportedOptionError(
        'slowConsumer',
        runtime,
        'backpressure',
        'the runtime reports no buffered amount, so the bound this policy applies at is never reached',
      );
    }
  }
}
