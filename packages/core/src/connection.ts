import {
  admit,
  type DrainWaiter,
  mustWait,
  NO_BACKPRESSURE,
  releaseDrained,
} from './backpressure.js';
import {
  acceptableCloseCode,
  type CloseEnd,
  failureReason,
  invalidCloseError,
  isFailureCode,
  wireClose,
} from './close.js';
import { negotiatedProtocol } from './connect.js';
import {
  ConnectionClosedError,
  HeartbeatTimeoutError,
  JsonParseError,
  MessageTooBigError,
  ProtocolError,
  ReceiveOverflowError,
  UnexpectedMessageError,
  UnsupportedOptionError,
  WebSocketError,
} from './errors.js';
import {
  APP_PING,
  APP_PONG,
  appControl,
  Heartbeat,
  type HeartbeatHost,
  IS_APP_PING,
  NOT_CONTROL,
  now,
  type PendingPing,
} from './heartbeat.js';
import { nextConnectionId } from './ids.js';
import {
  type BinaryMessage,
  binaryMessage,
  CLOSED_MESSAGE,
  CLOSING_MESSAGE,
  type ControlMessage,
  closeMessage,
  controlMessage,
  type DataMessage,
  decodeUtf8,
  describe,
  errorMessage,
  jsonText,
  type TextMessage,
  textMessage,
  toBytes,
  type WSMessage,
} from './message.js';
import {
  type ConnectionOptions,
  checkDelay,
  type PingOptions,
  type ReceiveJsonOptions,
  type ReceiveOptions,
  type ResolvedOptions,
  resolveOptions,
  type SendJsonOptions,
  type SendOptions,
} from './options.js';
import {
  ABNORMAL_CLOSURE,
  assertSendableClose,
  MESSAGE_TOO_BIG,
  MSG_BINARY,
  MSG_CLOSED,
  MSG_CLOSING,
  MSG_PING,
  MSG_PONG,
  MSG_TEXT,
  NO_STATUS,
  OK,
  POLICY_VIOLATION,
  PROTOCOL_ERROR,
  utf8ByteLength,
} from './protocol.js';
import { type LoopItem, MessageIterator, Receiver, setReceiverHost } from './reader.js';
import type { PublishOptions, TopicBus } from './topics.js';
import type { PreparedMessage, Transport, TransportSink } from './transport.js';

export type { LoopItem } from './reader.js';

/** Where a connection is in its life. */
export type ConnectionState = 'connecting' | 'open' | 'closing' | 'closed';
/** Which end of the connection this object is. */
export type Side = 'client' | 'server';

/** Everything an adapter hands over to build a connection. */
export interface ConnectionInit<C> {
  /** The runtime's socket, not yet started: the connection calls `start` once. */
  transport: Transport;
  /** Which end this is. */
  side: Side;
  /** Options; every one left out takes its default from `DEFAULT_OPTIONS`. */
  options?: ConnectionOptions | undefined;
  /** Per-connection context, as chosen by the server's `upgrade` hook. */
  context?: C;
  /** Where `subscribe`/`publish` go; servers provide one. */
  topics?: TopicBus | undefined;
  /**
   * The upgrade request (server side), or a function that builds it: `conn.request` calls it
   * on its first read only, so a connection whose session never reads it costs no `Request`.
   * It must stay valid after the upgrade (an adapter whose runtime consumes the request
   * passes a copy or a builder).
   */
  request?: Request | (() => Request) | RequestSource | undefined;
  /**
   * The application-level heartbeat (see `HEARTBEAT_PROTOCOL`). On a server: the client
   * offered the token, so the server sends the hello and answers application pings. On a
   * client: it offered the token, and takes the heartbeat as agreed once the server's first
   * application ping or pong comes. Default false: text is only ever data.
   */
  appHeartbeat?: boolean | undefined;
  /**
   * The connection was opened earlier and is being rebuilt (a Durable Object woke up): nothing
   * of its opening is repeated, so no hello goes out again.
   */
  resumed?: boolean | undefined;
  /**
   * Called once when the connection is closed, after the 'close' listeners: lets an adapter
   * keep its set of open connections with one function for all of them, where a
   * `whenClosed.then` would cost a closure and a promise reaction per connection.
   */
  onClosed?: ((conn: WebSocketConnection<C>) => void) | undefined;
}

/**
 * What builds a connection's upgrade request on first read, as an object: an adapter whose
 * per-connection state already holds what the request is made of passes that, and the
 * connection costs no closure for it.
 */
export interface RequestSource {
  /** The request; called once, on the first read of `conn.request`. */
  request(): Request;
}

/** Push-style listeners. */
export interface ConnectionEvents {
  /** A message arrived. With at least one listener, messages go here and not to `receive()`. */
  message: (message: DataMessage | ControlMessage) => void;
  /** The connection is closed; `code`/`reason` as in `closeCode`/`closeReason`. */
  close: (code: number, reason: string) => void;
  /** An error ended or is ending the connection. */
  error: (error: Error) => void;
}

/**
 * What `mux` needs of a connection beyond its public API. Package-internal: not exported
 * from the package's entry points.
 */
export interface ReaderHooks {
  /**
   * Makes `deliver` the connection's one reader: it is called once, synchronously, with the
   * message `receive()` would have returned (at once when one is ready). Returns a function
   * that withdraws the reader if it was not called yet. Throws `ConcurrentReceiveError`
   * while another reader waits.
   */
  listen(conn: WebSocketConnection<unknown>, deliver: (message: WSMessage) => void): () => void;
  /** Puts a message that was delivered but not used back at the head of the queue. */
  unshift(conn: WebSocketConnection<unknown>, message: WSMessage): void;
}
// Assigned by the class's static block, the one place with access to its private fields.
export let readerHooks: ReaderHooks;
/** What every connection's heartbeat asks of it (assigned by the static block). */
let heartbeatHost: HeartbeatHost<WebSocketConnection<unknown>>;
/**
 * The `whenClosed` promise's executor, shared by every connection: it keeps its resolve on the
 * connection `closing` (a promise's executor runs synchronously inside `new Promise`).
 */
let holdResolveClosed: (resolve: () => void) => void;
let closing: WebSocketConnection<unknown> | null = null;
/** The class of connections' sinks (assigned by the static block). */
let Sink: new (conn: WebSocketConnection<unknown>) => TransportSink;

const RESOLVED: Promise<void> = Promise.resolve();
const EMPTY = new Uint8Array(0);
const textEncoder = new TextEncoder();

/** The application-level heartbeat: not offered; offered by this client and not yet agreed; agreed. */
const APP_HB_OFF = 0;
const APP_HB_OFFERED = 1;
const APP_HB_AGREED = 2;

/**
 * What a connection keeps once it starts to close or fails. `NOT_ENDING` (frozen, shared)
 * stands for it until then.
 */
interface Ending {
  /** `closeCode` once closed. */
  code: number | null;
  /** `closeReason` once closed. */
  reason: string | null;
  /** The error that ended (or is ending) the connection. */
  exception: Error | null;
  /** The peer's close frame, once it came. */
  peerClose: CloseEnd | null;
  /** True once this end has sent its close frame. */
  closeSent: boolean;
  /** This end dropped the connection without the peer's say (terminate, close timeout): 1006. */
  dropped: boolean;
  /** This end failed the connection with this code and reason: they are what it reports. */
  failure: CloseEnd | null;
  /** This end's close where the runtime could send its frame only without a body (the peer's echo then says 1005). */
  standIn: CloseEnd | null;
  /** Drops the connection when the peer does not answer the close in `closeTimeout`. */
  timer: ReturnType<typeof setTimeout> | undefined;
}

function newEnding(): Ending {
  return {
    code: null,
    reason: null,
    exception: null,
    peerClose: null,
    closeSent: false,
    dropped: false,
    failure: null,
    standIn: null,
    timer: undefined,
  };
}

const NOT_ENDING: Ending = Object.freeze(newEnding());

/**
 * The one connection object users hold, on every runtime and both sides.
 *
 * Pull style: `await conn.receive()`, or `for await (const msg of conn)`.
 * Push style: `conn.on('message', fn)`. Sends return promises; awaiting them is backpressure.
 *
 * The connection owns the protocol's state and the closing handshake; it composes the
 * receiver (reader.ts: queue, one reader, iteration), the heartbeat (heartbeat.ts), send
 * admission (backpressure.ts) and the close rules (close.ts).
 */
export class WebSocketConnection<C = unknown> implements AsyncIterable<LoopItem> {
  /** Which end this is. */
  readonly side: Side;
  /** The options in force, defaults filled in. */
  readonly options: ResolvedOptions;
  /** Per-connection context from the server's `upgrade` hook (undefined on clients unless set). */
  context: C;

  readonly #transport: Transport;
  readonly #topics: TopicBus | undefined;
  #state: ConnectionState = 'open';
  /** The receiving half; made by the first message or read that needs it. */
  #rx: Receiver | null = null;
  /** The upgrade request, or its builder until first read. */
  #request: Request | (() => Request) | RequestSource | undefined;
  /**
   * How the connection is ending: the shared `NOT_ENDING` until the first close or error
   * concerns it, then its own (`#ending()`), so an open connection carries none of these
   * fields.
   */
  #end: Ending = NOT_ENDING;
  // Made when first asked for: a connection nobody awaits the end of costs no promise.
  #closedPromise: Promise<void> | null = null;
  #resolveClosed: (() => void) | null = null;
  // Typed without C: a parameter of type C here would make the class invariant in C.
  readonly #closedHook: ((conn: WebSocketConnection<unknown>) => void) | undefined;
  // Made by the first ping or the first send that waits for a drain.
  #pings: PendingPing[] | null = null;
  #drainWaiters: DrainWaiter[] | null = null;
  /** The heartbeat, with `options.heartbeat` only. */
  #hb: Heartbeat<WebSocketConnection<unknown>> | null = null;
  /** Where the application-level heartbeat stands (APP_HB_*). */
  #appHb = APP_HB_OFF;
  /** The peer's last ping was the application-level one: it understands only that kind of pong. */
  #peerPingsInText = false;
  // Made by the first `on()`, and each set by the first listener of its event: most
  // connections never have a push listener, most hooks handlers listen to one or two events.
  #listeners: { [K in keyof ConnectionEvents]: Set<ConnectionEvents[K]> | null } | null = null;

  static {
    readerHooks = {
      listen: (conn, deliver) => conn.#receiver().listen(deliver),
      unshift: (conn, message) => conn.#receiver().unshift(message),
    };
    setReceiverHost({
      options: (conn) => (conn as WebSocketConnection<unknown>).options,
      transport: (conn) => (conn as WebSocketConnection<unknown>).#transport,
      end: (conn) => (conn as WebSocketConnection<unknown>).#readerEnd(),
      resumed: (conn) => (conn as WebSocketConnection<unknown>).#hb?.alive(),
    });
    heartbeatHost = {
      isOpen: (conn) => conn.#state === 'open',
      readingPaused: (conn) => conn.#rx?.paused === true,
      sendPing(conn, entry) {
        conn.#pings ??= [];
        conn.#pings.push(entry);
        conn.#sendPing(EMPTY);
      },
      forgetPing(conn, entry) {
        const pings = conn.#pings;
        const i = pings === null ? -1 : pings.indexOf(entry);
        if (i >= 0) pings?.splice(i, 1);
      },
      dead: (conn, error) => conn.#fail(error),
    };
    holdResolveClosed = (resolve) => {
      const conn = closing;
      closing = null;
      if (conn) conn.#resolveClosed = resolve;
    };
    // One prototype of methods for every connection's sink, instead of eight closures each.
    Sink = class implements TransportSink {
      readonly #conn: WebSocketConnection<unknown>;
      constructor(conn: WebSocketConnection<unknown>) {
        this.#conn = conn;
      }
      text(data: string): void {
        this.#conn.#onText(data);
      }
      binary(data: Uint8Array): void {
        const conn = this.#conn;
        if (conn.#appHb === APP_HB_OFFERED) conn.#disagreeAppHeartbeat();
        if (conn.#heard() && conn.#checkSize(data.byteLength)) conn.#deliver(binaryMessage(data));
      }
      ping(data: Uint8Array): void {
        if (this.#conn.#heard()) this.#conn.#onPing(data, false);
      }
      pong(data: Uint8Array): void {
        if (this.#conn.#heard()) this.#conn.#onPong(data);
      }
      closeFrame(code: number, reason: string): void {
        this.#conn.#onCloseFrame(code, reason);
      }
      closed(code: number, reason: string): void {
        this.#conn.#onClosed(code, reason);
      }
      error(error: Error, code?: number): void {
        this.#conn.#onError(error, code);
      }
      drain(): void {
        this.#conn.#onDrain();
      }
    };
  }

  constructor(init: ConnectionInit<C>) {
    this.side = init.side;
    this.options = init.options === undefined ? defaultOptions() : resolveOptions(init.options);
    this.context = init.context as C;
    this.#transport = init.transport;
    this.#topics = init.topics;
    this.#request = init.request;
    this.#closedHook = init.onClosed as ((conn: WebSocketConnection<unknown>) => void) | undefined;
    if (init.appHeartbeat === true) {
      this.#appHb = init.side === 'server' ? APP_HB_AGREED : APP_HB_OFFERED;
    }
    const self = this as WebSocketConnection<unknown>;
    init.transport.start(new Sink(self));
    const hb = this.options.heartbeat;
    if (hb) {
      this.#hb = new Heartbeat(self, heartbeatHost, hb.interval, hb.timeout);
      if (this.#canPing()) this.#hb.start();
    }
    // The hello: it tells the client that this server understands the application-level
    // heartbeat. Not queued as a ping: a client that holds pongs back (autoping false) would
    // otherwise leave it at the head of the queue, ahead of every later ping.
    if (this.#appHb === APP_HB_AGREED && this.#state === 'open' && init.resumed !== true) {
      init.transport.sendText(APP_PING, false);
    }
  }

  /** This connection's own `Ending`, made on the first write to it. */
  #ending(): Ending {
    if (this.#end === NOT_ENDING) this.#end = newEnding();
    return this.#end;
  }

  // ---- state -------------------------------------------------------------------------

  /** `connecting`, `open`, `closing` or `closed`. */
  get state(): ConnectionState {
    return this.#state;
  }
  /** True once the connection is closed. */
  get closed(): boolean {
    return this.#state === 'closed';
  }
  /** Resolves when the connection is closed, however that came about. */
  get whenClosed(): Promise<void> {
    return this.#closed();
  }

  #closed(): Promise<void> {
    let promise = this.#closedPromise;
    if (promise === null) {
      if (this.#state === 'closed') promise = RESOLVED;
      else {
        closing = this as WebSocketConnection<unknown>;
        promise = new Promise(holdResolveClosed);
      }
      this.#closedPromise = promise;
    }
    return promise;
  }
  /** The URL the connection was opened with (client) or requested at (server). */
  get url(): string {
    return this.#transport.url;
  }
  /**
   * The HTTP request that opened the connection (server side), built on first read where the
   * adapter passes a builder. Throws a `WebSocketError` where the adapter had none to give
   * (a client connection, or a connection built without one).
   */
  get request(): Request {
    let request = this.#request;
    if (typeof request === 'function') {
      request = request();
      this.#request = request;
    } else if (request !== undefined && typeof (request as RequestSource).request === 'function') {
      // A Request has no `request` method; checked by shape, as a polyfilled Request is no
      // instance of the global one.
      request = (request as RequestSource).request();
      this.#request = request;
    }
    if (request === undefined) {
      throw new WebSocketError(
        `this ${this.side} connection has no upgrade request: only server connections built from one carry it`,
      );
    }
    return request as Request;
  }
  #id: string | undefined;
  /** This connection's id, unique across processes (made on first read); names it in `exclude` anywhere. */
  get id(): string {
    this.#id ??= nextConnectionId();
    return this.#id;
  }
  /** The negotiated subprotocol, '' for none (or for the heartbeat token, which only agrees to the heartbeat). */
  get protocol(): string {
    return negotiatedProtocol(this.#transport.protocol);
  }
  /** The negotiated extensions, '' for none. */
  get extensions(): string {
    return this.#transport.extensions;
  }
  /** Bytes handed on and not yet written to the network. */
  get bufferedAmount(): number {
    return this.#transport.bufferedAmount;
  }
  /**
   * The close code once closed: the peer's (1005 if its frame had no body); this end's own
   * when it failed the connection (1002, 1007, 1008, 1009, 1011), whatever the peer answered;
   * 1006 when no close frame came.
   */
  get closeCode(): number | null {
    return this.#end.code;
  }
  /** The close reason once closed, by the same rule as `closeCode`. */
  get closeReason(): string | null {
    return this.#end.reason;
  }
  /**
   * True once both ends take the application-level heartbeat as agreed (see
   * `HEARTBEAT_PROTOCOL`): only then is its ping text anything but data.
   */
  get appHeartbeat(): boolean {
    return this.#appHb === APP_HB_AGREED;
  }
  /** The error that ended (or is ending) the connection, if any. */
  exception(): Error | null {
    return this.#end.exception;
  }

  /** Adds a push-style listener; returns the function that removes it. */
  on<K extends keyof ConnectionEvents>(event: K, listener: ConnectionEvents[K]): () => void {
    let listeners = this.#listeners;
    if (listeners === null) {
      listeners = { message: null, close: null, error: null };
      this.#listeners = listeners;
    }
    let set = listeners[event] as Set<ConnectionEvents[K]> | null;
    if (set === null) {
      set = new Set();
      // The set of event K holds listeners of K: TS cannot relate a generic key to its value.
      (listeners as Record<keyof ConnectionEvents, Set<unknown> | null>)[event] = set;
    }
    set.add(listener);
    // Messages queued while nobody listened (those that came with the opening, say) go to the
    // first message listener, before any later one: a listener added after `connect` resolved
    // must not miss them. Handed over in a microtask, so `on` never calls the listener itself.
    if (event === 'message' && set.size === 1 && this.#rx !== null && !this.#handingOver) {
      this.#handingOver = true;
      queueMicrotask(() => this.#handOver());
    }
    return () => set.delete(listener);
  }

  /** Messages arriving during a hand-over queue behind it, so order holds. */
  #handingOver = false;

  #handOver(): void {
    this.#handingOver = false;
    const rx = this.#rx;
    if (rx === null) return;
    let message = rx.takeForListener();
    while (message !== undefined) {
      const listeners = this.#listeners?.message;
      if (!listeners || listeners.size === 0) {
        rx.unshift(message);
        return;
      }
      this.#deliver(message);
      message = rx.takeForListener();
    }
  }

  // ---- sending -----------------------------------------------------------------------

  /** Sends a string as TEXT, or bytes (Uint8Array, ArrayBuffer, a view) as BINARY. */
  send(
    data: string | Uint8Array | ArrayBuffer | ArrayBufferView,
    options?: SendOptions,
  ): Promise<void> {
    if (typeof data === 'string') return this.sendText(data, options);
    const bytes = toBytes(data);
    if (bytes === undefined) {
      return Promise.reject(new TypeError(`send() takes a string or bytes, got ${describe(data)}`));
    }
    return this.sendBytes(bytes, options);
  }

  /** Sends a TEXT message. A TypeError for anything but a string. */
  sendText(data: string, options?: SendOptions): Promise<void> {
    if (typeof data !== 'string') {
      return Promise.reject(new TypeError(`sendText() takes a string, got ${describe(data)}`));
    }
    const before = this.#admit(data.length, data);
    if (typeof before !== 'number') return before;
    this.#transport.sendText(data, options?.compress);
    return this.#afterSend(before, data.length * 3);
  }

  /** Sends a BINARY message. A TypeError for anything but bytes. */
  sendBytes(
    data: Uint8Array | ArrayBuffer | ArrayBufferView,
    options?: SendOptions,
  ): Promise<void> {
    const bytes = toBytes(data);
    if (bytes === undefined) {
      return Promise.reject(new TypeError(`sendBytes() takes bytes, got ${describe(data)}`));
    }
    const before = this.#admit(bytes.byteLength, undefined);
    if (typeof before !== 'number') return before;
    this.#transport.sendBytes(bytes, options?.compress);
    return this.#afterSend(before, bytes.byteLength);
  }

  /**
   * Sends `value` as JSON text. A TypeError (a rejection) when it does not serialise
   * (undefined, a function).
   * Async only so that a value that does not serialise rejects: the text is handed on
   * before the first tick, in order with every other send.
   */
  async sendJson(value: unknown, options?: SendJsonOptions): Promise<void> {
    return this.sendText(jsonText(value, options?.stringify), options);
  }

  /**
   * Sends a message encoded once for many connections, without a promise: for topic buses.
   * Returns false when it was not sent (closing, or over the bound, where the policy applies).
   */
  sendPrepared(message: PreparedMessage): boolean {
    const before = this.#admit(message.size, undefined);
    if (typeof before !== 'number') {
      before.catch(ignore);
      return false;
    }
    const t = this.#transport;
    if (t.sendPrepared) t.sendPrepared(message);
    else if (message.binary) t.sendBytes(message.data as Uint8Array, message.compress);
    else t.sendText(message.data as string, message.compress);
    return true;
  }

  #closedError(what: string): ConnectionClosedError {
    return new ConnectionClosedError(
      `cannot ${what}: the connection is ${this.#state}`,
      this.#end.code ?? undefined,
    );
  }

  /**
   * Checks state and the outgoing bound: the buffered amount before the send (see
   * backpressure.ts), or a rejected promise when the send may not go.
   */
  #admit(size: number, text: string | undefined): number | Promise<void> {
    if (this.#state !== 'open') {
      return Promise.reject(this.#closedError('send'));
    }
    const before = admit(this.#transport, this.options, size, text);
    if (typeof before === 'number') return before;
    if (this.options.slowConsumer === 'close') {
      this.#fail(before, POLICY_VIOLATION, 'slow consumer: send buffer full');
    }
    return Promise.reject(before);
  }

  /** The send's promise: resolved at once, or pending until the transport drains below `highWaterMark`. */
  #afterSend(before: number, maxBytes: number): Promise<void> {
    if (before === NO_BACKPRESSURE || !mustWait(this.#transport, this.options, before, maxBytes)) {
      return RESOLVED;
    }
    return new Promise((resolve, reject) => {
      this.#drainWaiters ??= [];
      this.#drainWaiters.push({ resolve, reject });
    });
  }

  /**
   * Sends a ping and resolves with the round trip in ms when the pong comes. Uses a ping
   * frame where the runtime has them, else the application-level ping, which carries no
   * payload and needs the peer's agreement: without ping frames, `ping(data)` and a ping to a
   * peer that did not agree reject with an `UnsupportedOptionError`.
   * With `timeout`, a pong that does not come in time means a dead peer, as for the heartbeat:
   * the ping rejects with `HeartbeatTimeoutError`, the reader gets it as ERROR and the
   * connection is dropped (1006). During a close only the ping rejects: `closeTimeout` rules.
   */
  ping(options?: PingOptions): Promise<number>;
  ping(data: string | Uint8Array | undefined, options?: PingOptions): Promise<number>;
  async ping(data?: string | Uint8Array | PingOptions, options?: PingOptions): Promise<number> {
    if (typeof data === 'object' && !(data instanceof Uint8Array)) {
      options = data;
      data = undefined;
    }
    const payload = this.#controlPayload('ping', data);
    const frames = this.#framePings();
    if (!frames) this.#checkAppControl('ping', payload);
    const timeout = options?.timeout;
    if (timeout != null) checkDelay('timeout', timeout);
    return new Promise((resolve, reject) => {
      const entry: PendingPing = { start: now(), resolve, reject };
      if (timeout != null) {
        const timer = setTimeout(() => {
          const error = new HeartbeatTimeoutError(timeout);
          reject(error);
          // Still waiting for the server's answer to the offer, the ping never went: a quiet
          // server that is not anyws is not a dead one. Only the ping rejects then.
          if (!frames && this.#appHb !== APP_HB_AGREED) {
            const i = this.#pings?.indexOf(entry) ?? -1;
            if (i >= 0) this.#pings?.splice(i, 1);
            return;
          }
          if (this.#state === 'open') this.#fail(error);
        }, timeout);
        entry.resolve = (rtt) => {
          clearTimeout(timer);
          resolve(rtt);
        };
        entry.reject = (error) => {
          clearTimeout(timer);
          reject(error);
        };
      }
      this.#pings ??= [];
      this.#pings.push(entry);
      // Offered and not yet answered: it goes with the agreement, or is refused without one.
      if (frames || this.#appHb === APP_HB_AGREED) this.#sendPing(payload);
    });
  }

  /**
   * Sends a pong: a pong frame, or the application-level pong when the runtime has no ping
   * frames or the peer's last ping was an application-level one (so the answer is of its kind);
   * the latter carries no payload and needs the agreement, as for `ping`.
   */
  async pong(data?: string | Uint8Array): Promise<void> {
    const payload = this.#controlPayload('pong', data);
    const t = this.#transport;
    if (this.#framePings() && !this.#peerPingsInText) {
      t.pong?.(payload);
      return;
    }
    this.#checkAppControl('pong', payload);
    t.sendText(APP_PONG, false);
  }

  /** The payload of a ping or pong; throws what the call rejects with. */
  #controlPayload(what: 'ping' | 'pong', data: string | Uint8Array | undefined): Uint8Array {
    if (this.#state !== 'open') throw this.#closedError(what);
    const payload = typeof data === 'string' ? textEncoder.encode(data) : (data ?? EMPTY);
    if (payload.byteLength > 125) throw new RangeError(`a ${what} carries at most 125 bytes`);
    return payload;
  }

  /** The application-level ping or pong may go: agreed, and without a payload. */
  #checkAppControl(what: 'ping' | 'pong', payload: Uint8Array): void {
    const runtime = this.#transport.runtime ?? 'this runtime';
    if (payload.byteLength > 0) {
      throw new UnsupportedOptionError(
        `${what}(data)`,
        runtime,
        'pingFrames',
        `without ping frames the ${what} is the application-level one, which carries no payload`,
      );
    }
    // A ping may wait for the answer to this client's offer; a pong answers nothing before it.
    if (this.#appHb === APP_HB_OFF || (what === 'pong' && this.#appHb !== APP_HB_AGREED)) {
      throw this.#notAgreed(`${what}()`);
    }
  }

  #notAgreed(option: string): UnsupportedOptionError {
    return new UnsupportedOptionError(
      option,
      this.#transport.runtime ?? 'this runtime',
      'pingFrames',
      'no ping frames, and the peer did not agree to the application-level heartbeat (HEARTBEAT_PROTOCOL)',
    );
  }

  /** This end sends protocol ping frames. */
  #framePings(): boolean {
    const t = this.#transport;
    return t.capabilities.pingFrames && t.ping !== undefined;
  }

  /** This end has a way to ping: frames, or the agreed application-level ping. */
  #canPing(): boolean {
    return this.#framePings() || this.#appHb === APP_HB_AGREED;
  }

  #sendPing(payload: Uint8Array): void {
    const t = this.#transport;
    if (this.#framePings()) t.ping?.(payload);
    else t.sendText(APP_PING, false);
  }

  // ---- closing (the rules are in close.ts) ------------------------------------------

  /**
   * Starts the closing handshake and resolves once the connection is closed: when the peer's
   * close frame came, or after `closeTimeout` by terminating. Throws a RangeError at once for a
   * code or reason that may not be sent. `close(WSCloseCode.NO_STATUS)` sends a frame with no body.
   * Closing first with a failure code (1002, 1007, 1008, 1009, 1011) fails the connection:
   * `closeCode` and `closeReason` are then this end's, whatever the peer answers.
   */
  close(code: number = OK, reason = ''): Promise<void> {
    assertSendableClose(code, reason);
    if (this.#state === 'closed' || this.#end.closeSent) return this.#closed();
    if (this.#end.peerClose === null && isFailureCode(code))
      this.#ending().failure = { code, reason };
    this.#sendClose(code, reason);
    return this.#closed();
  }

  /**
   * Drops the connection at once, without a closing handshake; `closeCode` becomes 1006.
   * Where the runtime cannot drop a socket (Deno, workerd, browsers) the transport sends a
   * close frame without a body instead and forgets the socket: the peer sees 1005 there and
   * 1006 where the socket is dropped (Node).
   */
  terminate(): void {
    if (this.#state === 'closed') return;
    this.#ending().dropped = true;
    this.#transport.terminate();
    this.#finish(ABNORMAL_CLOSURE, '');
  }

  /**
   * Sends this end's close frame, unless the runtime already sent it (`sentByRuntime`: it failed
   * the connection itself), then waits for the end, terminating after `closeTimeout`.
   */
  #sendClose(code: number, reason: string, sentByRuntime = false): void {
    this.#state = 'closing';
    this.#ending().closeSent = true;
    this.#stopHeartbeat();
    if (!sentByRuntime) {
      const [wire, echo] = wireClose(this.#transport.capabilities, code);
      if (echo !== null) this.#ending().standIn = { code, reason };
      this.#transport.close(wire, wire === undefined ? '' : reason);
    }
    if (this.#state !== 'closing') return; // the transport closed synchronously
    const timeout = this.options.closeTimeout;
    this.#ending().timer = setTimeout(() => {
      // With the peer's close frame in, the handshake is complete: only the runtime's end is late,
      // and closeCode stays the peer's. Without it the end is abnormal.
      if (!this.#end.peerClose) this.#ending().dropped = true;
      this.#transport.terminate();
      this.#finish(ABNORMAL_CLOSURE, '');
    }, timeout);
  }

  /** A fault: the first one is `exception()`; the reader gets ERROR, listeners 'error'. */
  #report(error: Error): void {
    this.#ending().exception ??= error;
    this.#enqueue(errorMessage(error));
    this.#emitError(error);
  }

  /**
   * Ends the connection because of a fault found here: ERROR for the reader, then a close with
   * `code` (which `closeCode` keeps); without a code the peer is taken for dead and dropped (1006).
   */
  #fail(error: Error, code?: number, reason = code === undefined ? '' : failureReason(code)): void {
    this.#report(error);
    if (code === undefined) this.terminate();
    else if (this.#state === 'open' || (this.#state === 'closing' && !this.#end.closeSent)) {
      this.#ending().failure = { code, reason };
      this.#sendClose(code, reason);
    }
  }

  #readerEnd(): WSMessage | undefined {
    if (this.#state === 'closed') return CLOSED_MESSAGE;
    if (this.#state === 'closing' && this.#end.peerClose) return CLOSING_MESSAGE;
    return undefined;
  }

  /** The connection is gone: settle everything that waits on it. */
  #finish(code: number, reason: string): void {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    const ending = this.#ending();
    clearTimeout(ending.timer);
    this.#stopHeartbeat();
    let end: CloseEnd = ending.peerClose ?? { code, reason };
    if (ending.failure) end = ending.failure;
    else if (ending.dropped) end = { code: ABNORMAL_CLOSURE, reason: '' };
    else if (ending.standIn !== null && end.code === NO_STATUS) end = ending.standIn;
    ending.code = end.code;
    ending.reason = end.reason;
    // Built only for someone to reject: capturing its stack costs microseconds per connection.
    const pings = this.#pings;
    const waiters = this.#drainWaiters;
    if ((pings !== null && pings.length > 0) || (waiters !== null && waiters.length > 0)) {
      const closedError = new ConnectionClosedError('the connection closed', end.code);
      if (pings) for (const ping of pings.splice(0)) ping.reject(closedError);
      if (waiters) for (const waiter of waiters.splice(0)) waiter.reject(closedError);
    }
    const rx = this.#rx;
    if (rx !== null) rx.handToReader(CLOSED_MESSAGE);
    this.#topics?.unsubscribeAll(this);
    const close = this.#listeners?.close;
    if (close)
      for (const listener of close) {
        try {
          listener(end.code, end.reason);
        } catch (error) {
          this.#emitError(toError(error));
        }
      }
    if (this.#closedHook) {
      try {
        this.#closedHook(this as WebSocketConnection<unknown>);
      } catch (error) {
        this.#emitError(toError(error));
      }
    }
    this.#resolveClosed?.();
  }

  // ---- receiving (the queue and its one reader are in reader.ts) ---------------------

  /**
   * The next message. TEXT and BINARY as they come; PING/PONG only with `autoping: false`;
   * the peer's CLOSE once; ERROR when a fault ends the connection; then CLOSED for good.
   * A second `receive()` while one waits rejects with `ConcurrentReceiveError`; running out
   * of time rejects with `ReceiveTimeoutError` and leaves the connection open.
   */
  receive(options?: ReceiveOptions): Promise<WSMessage> {
    let timeout = this.options.receiveTimeout;
    if (options?.timeout !== undefined) {
      timeout = options.timeout;
      if (timeout !== null) {
        try {
          checkDelay('timeout', timeout);
        } catch (error) {
          return Promise.reject(error);
        }
      }
    }
    return this.#receiver().read(null, timeout);
  }

  /** The next message, which must be TEXT: otherwise an `UnexpectedMessageError` holding it. */
  async receiveText(options?: ReceiveOptions): Promise<string> {
    const message = await this.receive(options);
    if (message.type !== MSG_TEXT) throw this.#unexpected('text', message);
    return message.data;
  }

  /** The next message, which must be BINARY: otherwise an `UnexpectedMessageError` holding it. */
  async receiveBytes(options?: ReceiveOptions): Promise<Uint8Array> {
    const message = await this.receive(options);
    if (message.type !== MSG_BINARY) throw this.#unexpected('binary', message);
    return message.data;
  }

  /**
   * The next message parsed as JSON (TEXT, or BINARY as UTF-8). A `JsonParseError` when it
   * does not parse, an `UnexpectedMessageError` for another type; the connection stays open.
   */
  async receiveJson<T = unknown>(options?: ReceiveJsonOptions): Promise<T> {
    const message = await this.receive(options);
    if (message.type !== MSG_TEXT && message.type !== MSG_BINARY) {
      throw this.#unexpected('text or binary', message);
    }
    let text: string;
    try {
      text = message.type === MSG_TEXT ? message.data : decodeUtf8(message.data);
    } catch (error) {
      throw new JsonParseError('', { cause: error });
    }
    try {
      return (options?.parse ?? JSON.parse)(text) as T;
    } catch (error) {
      throw new JsonParseError(text, { cause: error });
    }
  }

  #unexpected(expected: string, message: WSMessage): Error {
    if (message.type === MSG_CLOSED || message.type === MSG_CLOSING) {
      return new ConnectionClosedError(
        `expected a ${expected} message, but the connection is ${this.#state}`,
        this.#end.code ?? undefined,
      );
    }
    return new UnexpectedMessageError(expected, message);
  }

  /**
   * Yields TEXT and BINARY (and PING/PONG, ERROR) messages until the connection closes. Each
   * step costs the one promise `next()` returns: an iterator object rather than an async
   * generator, which would add promise hops per message.
   */
  [Symbol.asyncIterator](): AsyncGenerator<LoopItem, void, undefined> {
    // The prototype chain gives it the rest of an async generator (see MessageIterator), which
    // its declared type cannot say where a runtime's lib adds members (`Symbol.asyncDispose`).
    return new MessageIterator(this.#receiver()) as unknown as AsyncGenerator<
      LoopItem,
      void,
      undefined
    >;
  }

  #receiver(): Receiver {
    let rx = this.#rx;
    if (rx === null) {
      rx = new Receiver(this);
      this.#rx = rx;
    }
    return rx;
  }

  #enqueue(message: WSMessage): void {
    if (this.#receiver().enqueue(message)) {
      // The runtime cannot stop reading: the mark is a limit, or the queue would grow unbounded.
      this.#fail(
        new ReceiveOverflowError(this.options.receiveHighWaterMark),
        POLICY_VIOLATION,
        'slow reader: receive queue full',
      );
    }
  }

  /** A data or control message: to push listeners when there are any, else to the reader. */
  #deliver(message: TextMessage | BinaryMessage | ControlMessage): void {
    const listeners = this.#listeners?.message;
    if (!listeners || listeners.size === 0 || this.#handingOver) {
      this.#enqueue(message);
      return;
    }
    for (const listener of listeners) {
      try {
        listener(message);
      } catch (error) {
        this.#emitError(toError(error));
      }
    }
  }

  #emitError(error: Error): void {
    const listeners = this.#listeners?.error;
    if (listeners)
      for (const listener of listeners) {
        try {
          listener(error);
        } catch {
          // A failing error listener has nowhere left to report to.
        }
      }
  }

  // ---- topics ------------------------------------------------------------------------

  /** Subscribes this connection to `topic` (server side). */
  subscribe(topic: string): void {
    this.#requireTopics().subscribe(this, topic);
  }
  /** Unsubscribes this connection from `topic`. */
  unsubscribe(topic: string): void {
    this.#requireTopics().unsubscribe(this, topic);
  }
  /** The topics this connection is subscribed to. */
  get topics(): readonly string[] {
    return this.#topics ? this.#topics.topicsOf(this) : [];
  }
  /** Publishes to every subscriber of `topic` (this one included unless excluded); returns how many it went to. */
  publish(
    topic: string,
    data: string | Uint8Array,
    options?: PublishOptions,
  ): number | Promise<number> {
    return this.#requireTopics().publish(topic, data, options);
  }
  #requireTopics(): TopicBus {
    if (!this.#topics)
      throw new WebSocketError('topics need a server: this connection has no topic bus');
    return this.#topics;
  }

  // ---- heartbeat (the timer is in heartbeat.ts) --------------------------------------

  #stopHeartbeat(): void {
    this.#hb?.stop();
  }

  /** Traffic that proves the peer alive, while the heartbeat runs. */
  #alive(): void {
    this.#hb?.alive();
  }

  /** The client's offer was answered: the server speaks the application-level heartbeat. */
  #agreeAppHeartbeat(): void {
    this.#appHb = APP_HB_AGREED;
    if (this.#state !== 'open') return;
    // Pings the application asked for while the offer was open go now, in order.
    const waiting = this.#pings?.length ?? 0;
    for (let i = 0; i < waiting; i++) this.#sendPing(EMPTY);
    this.#hb?.start();
  }

  /**
   * The server's first message was not the hello: it is not an anyws server (an anyws server
   * says hello before anything else), so the heartbeat stays off and its texts are data.
   */
  #disagreeAppHeartbeat(): void {
    this.#appHb = APP_HB_OFF;
    const pings = this.#pings;
    if (pings === null || pings.length === 0) return;
    const error = this.#notAgreed('ping()');
    for (const ping of pings.splice(0)) ping.reject(error);
  }

  // ---- inbound events from the transport --------------------------------------------

  #onPong(data: Uint8Array): void {
    const ping = this.#pings?.shift();
    this.#hb?.answered(ping);
    if (ping) ping.resolve(now() - ping.start);
    if (!this.options.autoping) this.#deliver(controlMessage(MSG_PONG, data));
  }

  #onPing(data: Uint8Array, appLevel: boolean): void {
    const t = this.#transport;
    this.#peerPingsInText = appLevel;
    if (this.options.autoping) {
      // Nothing may follow our close frame (workerd even throws on a send after close()).
      if (this.#end.closeSent) return;
      if (appLevel) t.sendText(APP_PONG, false);
      else if (!t.capabilities.forcedAutoPong) t.pong?.(data);
      return;
    }
    this.#deliver(controlMessage(MSG_PING, data));
  }

  #checkSize(size: number): boolean {
    if (
      size <= this.options.maxMessageSize ||
      this.#transport.capabilities.enforcesMaxMessageSize
    ) {
      return true;
    }
    this.#fail(new MessageTooBigError(size, this.options.maxMessageSize), MESSAGE_TOO_BIG);
    return false;
  }

  /** Traffic from the peer: false once closed (late events are ignored), else it proves the peer alive. */
  #heard(): boolean {
    if (this.#state === 'closed') return false;
    this.#alive();
    return true;
  }

  /** The peer's close code is invalid: the connection records the protocol error (1002). */
  #invalidClose(code: number): Error {
    this.#ending().peerClose = { code: PROTOCOL_ERROR, reason: failureReason(PROTOCOL_ERROR) };
    return invalidCloseError(code);
  }

  #onText(data: string): void {
    if (!this.#heard()) return;
    // Text is the application's unless both ends agreed to the application-level heartbeat.
    if (this.#appHb !== APP_HB_OFF) {
      const kind = appControl(data);
      if (kind !== NOT_CONTROL) {
        if (this.#appHb === APP_HB_OFFERED) this.#agreeAppHeartbeat();
        if (kind === IS_APP_PING) this.#onPing(EMPTY, true);
        else this.#onPong(EMPTY);
        return;
      }
      if (this.#appHb === APP_HB_OFFERED) this.#disagreeAppHeartbeat();
    }
    const max = this.options.maxMessageSize;
    if (
      data.length > max / 3 &&
      !this.#checkSize(data.length > max ? data.length : utf8ByteLength(data))
    )
      return;
    this.#deliver(textMessage(data));
  }

  #onCloseFrame(code: number, reason: string): void {
    if (this.#state === 'closed' || this.#end.peerClose) return;
    if (!acceptableCloseCode(this.#transport.capabilities, code)) {
      this.#fail(this.#invalidClose(code), PROTOCOL_ERROR);
      return;
    }
    this.#ending().peerClose = { code, reason };
    if (this.#end.closeSent) return; // our close was first: this is the answer
    this.#state = 'closing';
    this.#stopHeartbeat();
    this.#enqueue(closeMessage(code, reason));
    // The code is valid here (checked above, or by the runtime): the answer echoes it and its
    // reason, as ws does.
    if (this.options.autoclose) this.#sendClose(code, reason);
  }

  #onClosed(code: number, reason: string): void {
    if (this.#state === 'closed') return;
    if (!this.#end.peerClose && code !== ABNORMAL_CLOSURE) {
      if (!acceptableCloseCode(this.#transport.capabilities, code)) {
        // The runtime answered an invalid code itself (browsers echo it): too late for our
        // 1002, but the connection records the protocol error as if it had answered.
        this.#report(this.#invalidClose(code));
      } else if (!this.#end.closeSent) {
        // The runtime answered the peer's close itself: the reader still sees CLOSE once.
        this.#ending().peerClose = { code, reason };
        this.#enqueue(closeMessage(code, reason));
      }
    }
    this.#finish(code, reason);
  }

  /**
   * The runtime reported an error; with `code` it failed the connection itself and sent its
   * close frame: the same typed error and the same `closeCode`/`closeReason` as when core
   * finds the fault.
   */
  #onError(error: Error, code?: number): void {
    if (this.#state === 'closed') return;
    if (code === undefined) {
      this.#report(error);
      return;
    }
    let typed = error;
    if (!(error instanceof ProtocolError) && !(error instanceof MessageTooBigError)) {
      typed = new ProtocolError(code, error.message, { cause: error });
    }
    this.#report(typed);
    if (!this.#end.closeSent) {
      this.#ending().failure = { code, reason: failureReason(code) };
      this.#sendClose(code, '', true);
    }
  }

  #onDrain(): void {
    this.#drainWaiters = releaseDrained(this.#drainWaiters, this.#transport, this.options);
  }
}

function ignore(): void {}

let resolvedDefaults: ResolvedOptions | undefined;
/** The options of connections given none: one frozen object shared by all of them. */
function defaultOptions(): ResolvedOptions {
  resolvedDefaults ??= resolveOptions();
  return resolvedDefaults;
}

function toError(value: unknown): Error {
  return value instanceof Error ? value : new Error(String(value));
}
