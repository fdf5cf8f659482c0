import {
  BufferOverflowError,
  ConcurrentReceiveError,
  ConnectionClosedError,
  HeartbeatTimeoutError,
  JsonParseError,
  MessageTooBigError,
  ReceiveTimeoutError,
  UnexpectedMessageError,
  WebSocketError,
} from './errors.js';
import { APP_PING, APP_PONG } from './heartbeat.js';
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
  type ErrorMessage,
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
  isValidReceivedCloseCode,
  MESSAGE_TOO_BIG,
  NO_STATUS,
  OK,
  POLICY_VIOLATION,
  PROTOCOL_ERROR,
  utf8ByteLength,
  WSMsgType,
} from './protocol.js';
import type { PublishOptions, TopicBus } from './topics.js';
import type { PreparedMessage, Transport, TransportSink } from './transport.js';

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
   * Called once when the connection is closed, after the 'close' listeners: lets an adapter
   * keep its set of open connections with one function for all of them, where a
   * `whenClosed.then` would cost a closure and a promise reaction per connection.
   */
  onClosed?: ((conn: WebSocketConnection<C>) => void) | undefined;
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

/** Resolves the one reader: with a message, or with a loop's iterator result (`#readerLoop`). */
type ReaderResolve = (value: WSMessage | LoopResult) => void;
interface PendingPing {
  start: number;
  resolve: (rtt: number) => void;
  reject: (error: Error) => void;
}
/**
 * The time limit of the waiting read. Only a read with a limit keeps its promise's `reject`:
 * nothing else rejects a waiting read, so the others let it go.
 */
interface ReaderDeadline {
  timer: ReturnType<typeof setTimeout> | undefined;
  ms: number;
  reject: (error: Error) => void;
  /** Fires the limit (the timer's callback). */
  fire: () => void;
}
/** A running heartbeat: its timer, the peer's last sign of life, its ping awaiting a pong. */
interface HeartbeatState {
  timer: ReturnType<typeof setTimeout> | undefined;
  lastActivity: number;
  ping: PendingPing | null;
  /** The timer's callback. */
  tick: () => void;
}
interface DrainWaiter {
  resolve: () => void;
  reject: (error: Error) => void;
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
/** `MessageIterator.next`'s way in to the connection's reader (assigned by the static block). */
let readLoop: (conn: WebSocketConnection<unknown>, loop: MessageIterator) => Promise<LoopResult>;
/**
 * The executor of every read that waits, and the connection it is for: a promise's executor
 * runs synchronously inside `new Promise`, so one module function serves every connection
 * where a bound executor would cost each its own function (assigned by the static block).
 */
let armReader: (resolve: ReaderResolve, reject: (error: Error) => void) => void;
let arming: WebSocketConnection<unknown> | null = null;
/** The `reject` of the read `armReader` set up last, for `#read` to keep or let go. */
let armedReject: (error: Error) => void = ignore;
/** The same for the `whenClosed` promise: keeps its resolve on the connection `closing`. */
let holdResolveClosed: (resolve: () => void) => void;
let closing: WebSocketConnection<unknown> | null = null;
/** The class of connections' sinks (assigned by the static block). */
let Sink: new (conn: WebSocketConnection<unknown>) => TransportSink;

/** What `for await` yields: the loop ends at CLOSE, CLOSING and CLOSED instead of yielding them. */
export type LoopItem = DataMessage | ControlMessage | ErrorMessage;
type LoopResult = IteratorResult<LoopItem, void>;
const DONE: LoopResult = Object.freeze({ value: undefined, done: true });
const DONE_PROMISE: Promise<LoopResult> = Promise.resolve(DONE);

const RESOLVED: Promise<void> = Promise.resolve();
const EMPTY = new Uint8Array(0);
/** The longest header of a frame: 2 bytes, 8 of extended length, 4 of mask. */
const MAX_FRAME_HEADER = 14;
const textEncoder = new TextEncoder();
const now = (): number => performance.now();

function messageSize(message: WSMessage): number {
  if (message.type === WSMsgType.TEXT) return message.data.length;
  if (message.type === WSMsgType.BINARY) return message.data.byteLength;
  return 0;
}

/**
 * The one connection object users hold, on every runtime and both sides.
 *
 * Pull style: `await conn.receive()`, or `for await (const msg of conn)`.
 * Push style: `conn.on('message', fn)`. Sends return promises; awaiting them is backpressure.
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
  /** Messages no reader took yet; made by the first one (a waiting reader takes most). */
  #queue: (WSMessage | undefined)[] | null = null;
  #head = 0;
  #queuedBytes = 0;
  #paused = false;
  // The one waiting reader, kept in fields rather than an object: a reader that waits for
  // every message (for await) then costs its promise and nothing more.
  /** Resolves the waiting reader; null when none waits (a reader only waits on an empty queue). */
  #reader: ReaderResolve | null = null;
  /** The waiting reader is this loop: it takes iterator results, not messages. */
  #readerLoop: MessageIterator | null = null;
  /** The time limit of reads; made by the first read that has one. */
  #deadline: ReaderDeadline | null = null;
  /** Counts readers, so that a withdrawal (mux) only ever withdraws its own. */
  #readerSeq = 0;
  #closeCode: number | null = null;
  #closeReason: string | null = null;
  #exception: Error | null = null;
  /** The peer's close frame, once it came. */
  #peerClose: { code: number; reason: string } | null = null;
  /** True once this end has sent its close frame. */
  #closeSent = false;
  /** This end dropped the connection without the peer's say (terminate, close timeout): 1006. */
  #dropped = false;
  /**
   * This end's close code where the peer's answer cannot carry it, and the code the end is
   * reported with then: 1005 when the runtime could send our frame only without a body (its
   * echo has none), 1006 when the runtime failed the connection itself and stopped reading.
   */
  #standIn: [code: number, replaces: number] | null = null;
  #closeTimer: ReturnType<typeof setTimeout> | undefined;
  // Made when first asked for: a connection nobody awaits the end of costs no promise.
  #closedPromise: Promise<void> | null = null;
  #resolveClosed: (() => void) | null = null;
  // Typed without C: a parameter of type C here would make the class invariant in C.
  readonly #closedHook: ((conn: WebSocketConnection<unknown>) => void) | undefined;
  // Made by the first ping or the first send that waits for a drain.
  #pings: PendingPing[] | null = null;
  #drainWaiters: DrainWaiter[] | null = null;
  /** bufferedAmount as `#admit` read it before the send under way; -1 without backpressure. */
  #bufferedBefore = -1;
  /** The heartbeat's state, with `options.heartbeat` only. */
  #hb: HeartbeatState | null = null;
  /** The peer's last ping was the application-level one: it understands only that kind of pong. */
  #peerPingsInText = false;
  // Made by the first `on()`, and each set by the first listener of its event: most
  // connections never have a push listener, most hooks handlers listen to one or two events.
  #listeners: { [K in keyof ConnectionEvents]: Set<ConnectionEvents[K]> | null } | null = null;

  static {
    readerHooks = {
      listen: (conn, deliver) => conn.#listen(deliver),
      unshift(conn, message) {
        // CLOSING and CLOSED are states, not messages: receive() reports them again by itself.
        if (message.type === WSMsgType.CLOSING || message.type === WSMsgType.CLOSED) return;
        conn.#unshift(message);
      },
    };
    readLoop = (conn, loop) => conn.#read(loop, conn.options.receiveTimeout);
    armReader = (resolve, reject) => {
      const conn = arming;
      arming = null;
      armedReject = reject;
      if (conn) conn.#arm(resolve);
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
    this.#closedHook = init.onClosed as ((conn: WebSocketConnection<unknown>) => void) | undefined;
    init.transport.start(new Sink(this as WebSocketConnection<unknown>));
    this.#startHeartbeat();
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
  #id: string | undefined;
  /** This connection's id, unique across processes (made on first read); names it in `exclude` anywhere. */
  get id(): string {
    this.#id ??= nextConnectionId();
    return this.#id;
  }
  /** The URL the connection was opened with (client) or requested at (server). */
  get url(): string {
    return this.#transport.url;
  }
  /** The negotiated subprotocol, '' for none. */
  get protocol(): string {
    return this.#transport.protocol;
  }
  /** The negotiated extensions, '' for none. */
  get extensions(): string {
    return this.#transport.extensions;
  }
  /** Bytes handed on and not yet written to the network. */
  get bufferedAmount(): number {
    return this.#transport.bufferedAmount;
  }
  /** The close code once closed: the peer's (1005 if its frame had none), or 1006 without a close frame. */
  get closeCode(): number | null {
    return this.#closeCode;
  }
  /** The close reason once closed. */
  get closeReason(): string | null {
    return this.#closeReason;
  }
  /** The error that ended (or is ending) the connection, if any. */
  exception(): Error | null {
    return this.#exception;
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
    return () => set.delete(listener);
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
    const rejected = this.#admit(data.length, data);
    if (rejected) return rejected;
    this.#transport.sendText(data, options?.compress);
    return this.#afterSend(data.length * 3);
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
    const rejected = this.#admit(bytes.byteLength);
    if (rejected) return rejected;
    this.#transport.sendBytes(bytes, options?.compress);
    return this.#afterSend(bytes.byteLength);
  }

  /** Sends `value` as JSON text. A TypeError when it does not serialise (undefined, a function). */
  sendJson(value: unknown, options?: SendJsonOptions): Promise<void> {
    let text: string;
    try {
      text = jsonText(value, options?.stringify);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.sendText(text, options);
  }

  /**
   * Sends a message encoded once for many connections, without a promise: for topic buses.
   * Returns false when it was not sent (closing, or over the bound, where the policy applies).
   */
  sendPrepared(message: PreparedMessage): boolean {
    const rejected = this.#admit(message.size);
    if (rejected) {
      rejected.catch(ignore);
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
      this.#closeCode ?? undefined,
    );
  }

  /** Checks state and the outgoing bound; returns a rejected promise when the send may not go. */
  #admit(size: number, text?: string): Promise<void> | undefined {
    if (this.#state !== 'open') {
      return Promise.reject(this.#closedError('send'));
    }
    const t = this.#transport;
    if (!t.capabilities.backpressure) {
      this.#bufferedBefore = -1;
      return undefined;
    }
    const buffered = t.bufferedAmount;
    this.#bufferedBefore = buffered;
    const limit = this.options.maxBufferedAmount;
    // Runtimes buffer text as UTF-8 (up to 3 bytes a unit): counted exactly only near the bound.
    const bytes = text !== undefined && buffered + size * 3 > limit ? utf8ByteLength(text) : size;
    if (buffered + bytes <= limit) return undefined;
    const error = new BufferOverflowError(buffered + bytes, limit);
    if (this.options.slowConsumer === 'close') {
      this.#fail(error, POLICY_VIOLATION, 'slow consumer: send buffer full');
    }
    return Promise.reject(error);
  }

  /**
   * The send's promise: resolved (one shared promise) while bufferedAmount is at most
   * `highWaterMark`, else pending until the transport drains. `maxBytes`: the most the payload
   * can add to the buffer.
   */
  #afterSend(maxBytes: number): Promise<void> {
    const before = this.#bufferedBefore;
    if (before < 0) return RESOLVED;
    const mark = this.options.highWaterMark;
    // The frame adds its payload and a header of at most 14 bytes: clearly under the mark, the
    // buffer is not read again (a sum of queues on ws, a runtime call on Deno).
    if (before + maxBytes + MAX_FRAME_HEADER <= mark || this.#transport.bufferedAmount <= mark) {
      return RESOLVED;
    }
    return new Promise((resolve, reject) => {
      this.#drainWaiters ??= [];
      this.#drainWaiters.push({ resolve, reject });
    });
  }

  /**
   * Sends a ping and resolves with the round trip in ms when the pong comes. Uses a ping
   * frame where the runtime has them, the application-level ping otherwise (no payload then).
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
    const timeout = options?.timeout;
    if (timeout != null) checkDelay('timeout', timeout);
    return new Promise((resolve, reject) => {
      const entry: PendingPing = { start: now(), resolve, reject };
      if (timeout != null) {
        const timer = setTimeout(() => {
          const error = new HeartbeatTimeoutError(timeout);
          reject(error);
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
      this.#sendPing(payload);
    });
  }

  /**
   * Sends a pong: a pong frame, or the application-level pong when the runtime has no ping
   * frames or the peer's last ping was an application-level one (so the answer is of its kind).
   */
  async pong(data?: string | Uint8Array): Promise<void> {
    const payload = this.#controlPayload('pong', data);
    const t = this.#transport;
    if (t.capabilities.pingFrames && t.pong && !this.#peerPingsInText) t.pong(payload);
    else t.sendText(APP_PONG, false);
  }

  /** The payload of a ping or pong; throws what the call rejects with. */
  #controlPayload(what: 'ping' | 'pong', data: string | Uint8Array | undefined): Uint8Array {
    if (this.#state !== 'open') throw this.#closedError(what);
    const payload = typeof data === 'string' ? textEncoder.encode(data) : (data ?? EMPTY);
    if (payload.byteLength > 125) throw new RangeError(`a ${what} carries at most 125 bytes`);
    return payload;
  }

  #sendPing(payload: Uint8Array): void {
    const t = this.#transport;
    if (t.capabilities.pingFrames && t.ping) t.ping(payload);
    else t.sendText(APP_PING, false);
  }

  // ---- closing -----------------------------------------------------------------------

  /**
   * Starts the closing handshake and resolves once the connection is closed: when the peer's
   * close frame came, or after `closeTimeout` by terminating. Throws a RangeError at once for a
   * code or reason that may not be sent. `close(WSCloseCode.NO_STATUS)` sends a frame with no body.
   */
  close(code: number = OK, reason = ''): Promise<void> {
    assertSendableClose(code, reason);
    if (this.#state === 'closed' || this.#closeSent) return this.#closed();
    this.#sendClose(code, reason);
    return this.#closed();
  }

  /** Drops the connection at once, without a closing handshake; `closeCode` becomes 1006. */
  terminate(): void {
    if (this.#state === 'closed') return;
    this.#dropped = true;
    this.#transport.terminate();
    this.#finish(ABNORMAL_CLOSURE, '');
  }

  /**
   * Sends this end's close frame, unless the runtime already sent it (`sentByRuntime`: it failed
   * the connection itself), then waits for the end, terminating after `closeTimeout`.
   */
  #sendClose(code: number, reason: string, sentByRuntime = false): void {
    const t = this.#transport;
    this.#state = 'closing';
    this.#closeSent = true;
    this.#stopHeartbeat();
    if (sentByRuntime) {
      this.#standIn = [code, ABNORMAL_CLOSURE];
    } else if (code === NO_STATUS) {
      t.close(undefined, '');
    } else if (t.capabilities.restrictedCloseCodes && code !== OK && (code < 3000 || code > 4999)) {
      // The runtime cannot send this code: the frame goes without a body.
      this.#standIn = [code, NO_STATUS];
      t.close(undefined, '');
    } else {
      t.close(code, reason);
    }
    if (this.#state !== 'closing') return; // the transport closed synchronously
    const timeout = this.options.closeTimeout;
    this.#closeTimer = setTimeout(() => {
      // With the peer's close frame in, the handshake is complete: only the runtime's end is late,
      // and closeCode stays the peer's. Without it the end is abnormal.
      if (!this.#peerClose) this.#dropped = true;
      this.#transport.terminate();
      this.#finish(ABNORMAL_CLOSURE, '');
    }, timeout);
  }

  /** A fault: the first one is `exception()`; the reader gets ERROR, listeners 'error'. */
  #report(error: Error): void {
    this.#exception ??= error;
    this.#enqueue(errorMessage(error));
    this.#emitError(error);
  }

  /**
   * Ends the connection because of a fault found here: ERROR for the reader, then a close with
   * `code`; without a code the peer is taken for dead and dropped (1006).
   */
  #fail(error: Error, code?: number, reason = ''): void {
    this.#report(error);
    if (code === undefined) this.terminate();
    else if (this.#state === 'open' || (this.#state === 'closing' && !this.#closeSent)) {
      this.#sendClose(code, reason);
    }
  }

  /** The connection is gone: settle everything that waits on it. */
  #finish(code: number, reason: string): void {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    clearTimeout(this.#closeTimer);
    this.#stopHeartbeat();
    let end = this.#peerClose ?? { code, reason };
    const own = this.#standIn;
    if (this.#dropped) end = { code: ABNORMAL_CLOSURE, reason: '' };
    else if (own && end.code === own[1]) end = { code: own[0], reason: '' };
    this.#closeCode = end.code;
    this.#closeReason = end.reason;
    // Built only for someone to reject: capturing its stack costs microseconds per connection.
    const pings = this.#pings;
    const waiters = this.#drainWaiters;
    if ((pings !== null && pings.length > 0) || (waiters !== null && waiters.length > 0)) {
      const closedError = new ConnectionClosedError('the connection closed', this.#closeCode);
      if (pings) for (const ping of pings.splice(0)) ping.reject(closedError);
      if (waiters) for (const waiter of waiters.splice(0)) waiter.reject(closedError);
    }
    this.#handToReader(CLOSED_MESSAGE);
    this.#topics?.unsubscribeAll(this);
    const close = this.#listeners?.close;
    if (close)
      for (const listener of close) {
        try {
          listener(this.#closeCode, this.#closeReason ?? '');
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

  // ---- receiving ---------------------------------------------------------------------

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
    return this.#read(null, timeout);
  }

  /**
   * The next message for `receive()` (loop null) or the next result of `loop`: at once when one
   * is ready, else from `#handToReader`. One promise either way.
   */
  #read(loop: null, timeout: number | null): Promise<WSMessage>;
  #read(loop: MessageIterator, timeout: number | null): Promise<LoopResult>;
  #read(loop: MessageIterator | null, timeout: number | null): Promise<WSMessage | LoopResult> {
    if (this.#reader) {
      if (loop !== null && this.#readerLoop === loop) {
        // A next() overlapping this loop's waiting one runs after it, as a generator queues it.
        const again = (): Promise<LoopResult> => loop.next();
        return (loop.pending as Promise<unknown>).then(again, again);
      }
      if (loop) loop.finished = true; // as a generator ends on the error it throws
      return Promise.reject(new ConcurrentReceiveError());
    }
    const ready = this.#immediate();
    if (ready) return Promise.resolve(loop ? loop.result(ready) : ready);
    this.#readerLoop = loop;
    arming = this as WebSocketConnection<unknown>;
    const promise = new Promise<WSMessage | LoopResult>(armReader);
    const reject = armedReject;
    armedReject = ignore;
    if (timeout != null) this.#startDeadline(timeout, reject);
    if (loop) loop.pending = promise;
    return promise;
  }

  #arm(resolve: ReaderResolve): void {
    this.#reader = resolve;
    this.#readerSeq++;
  }

  #startDeadline(ms: number, reject: (error: Error) => void): void {
    let deadline = this.#deadline;
    if (deadline === null) {
      deadline = { timer: undefined, ms, reject, fire: () => this.#readerTimedOut() };
      this.#deadline = deadline;
    }
    deadline.ms = ms;
    deadline.reject = reject;
    deadline.timer = setTimeout(deadline.fire, ms);
  }

  #readerTimedOut(): void {
    const deadline = this.#deadline;
    if (deadline === null) return;
    const reject = deadline.reject;
    const loop = this.#readerLoop;
    deadline.timer = undefined;
    this.#clearReader();
    if (loop) loop.finished = true;
    reject(new ReceiveTimeoutError(deadline.ms));
  }

  #clearReader(): void {
    this.#reader = null;
    this.#readerLoop = null;
    const deadline = this.#deadline;
    if (deadline !== null) {
      deadline.reject = ignore;
      if (deadline.timer !== undefined) {
        clearTimeout(deadline.timer);
        deadline.timer = undefined;
      }
    }
  }

  /**
   * Makes `deliver` the one reader (mux): called at once with a ready message, else with the
   * next one. Returns the reader's withdrawal.
   */
  #listen(deliver: (message: WSMessage) => void): () => void {
    if (this.#reader) throw new ConcurrentReceiveError();
    const ready = this.#immediate();
    if (ready) {
      deliver(ready);
      return ignore;
    }
    // Never a loop's reader: only messages reach `deliver`.
    this.#arm(deliver as ReaderResolve);
    const seq = this.#readerSeq;
    return () => {
      if (this.#reader !== null && this.#readerSeq === seq) this.#clearReader();
    };
  }

  /** The next message, which must be TEXT: otherwise an `UnexpectedMessageError` holding it. */
  async receiveText(options?: ReceiveOptions): Promise<string> {
    const message = await this.receive(options);
    if (message.type !== WSMsgType.TEXT) throw this.#unexpected('text', message);
    return message.data;
  }

  /** The next message, which must be BINARY: otherwise an `UnexpectedMessageError` holding it. */
  async receiveBytes(options?: ReceiveOptions): Promise<Uint8Array> {
    const message = await this.receive(options);
    if (message.type !== WSMsgType.BINARY) throw this.#unexpected('binary', message);
    return message.data;
  }

  /**
   * The next message parsed as JSON (TEXT, or BINARY as UTF-8). A `JsonParseError` when it
   * does not parse, an `UnexpectedMessageError` for another type; the connection stays open.
   */
  async receiveJson<T = unknown>(options?: ReceiveJsonOptions): Promise<T> {
    const message = await this.receive(options);
    if (message.type !== WSMsgType.TEXT && message.type !== WSMsgType.BINARY) {
      throw this.#unexpected('text or binary', message);
    }
    let text: string;
    try {
      text = message.type === WSMsgType.TEXT ? message.data : decodeUtf8(message.data);
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
    if (message.type === WSMsgType.CLOSED || message.type === WSMsgType.CLOSING) {
      return new ConnectionClosedError(
        `expected a ${expected} message, but the connection is ${this.#state}`,
        this.#closeCode ?? undefined,
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
    return new MessageIterator(this as WebSocketConnection<unknown>);
  }

  /** What `receive()` returns without waiting, if anything. */
  #immediate(): WSMessage | undefined {
    const queued = this.#dequeue();
    if (queued) return queued;
    if (this.#state === 'closed') return CLOSED_MESSAGE;
    if (this.#state === 'closing' && this.#peerClose) return CLOSING_MESSAGE;
    return undefined;
  }

  #dequeue(): WSMessage | undefined {
    const queue = this.#queue;
    if (queue === null || this.#head === queue.length) return undefined;
    const message = queue[this.#head];
    queue[this.#head++] = undefined;
    if (this.#head === queue.length) {
      queue.length = 0;
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > queue.length) {
      this.#queue = queue.slice(this.#head);
      this.#head = 0;
    }
    if (message) {
      this.#queuedBytes -= messageSize(message);
      if (this.#paused && this.#queuedBytes <= this.options.receiveHighWaterMark / 2) {
        this.#paused = false;
        this.#alive();
        this.#transport.resume?.();
      }
    }
    return message;
  }

  /** Hands a message to the waiting reader, or queues it. */
  #enqueue(message: WSMessage): void {
    if (this.#handToReader(message)) return;
    this.#queue ??= [];
    this.#queue.push(message);
    this.#countIn(message);
  }

  /** Puts a message taken from the queue back at its head (mux, when it ends holding one). */
  #unshift(message: WSMessage): void {
    if (this.#handToReader(message)) return;
    this.#queue ??= [];
    if (this.#head > 0) this.#queue[--this.#head] = message;
    else this.#queue.unshift(message);
    this.#countIn(message);
  }

  /** Resolves the waiting reader with `message`; false when none waits (a reader only waits on an empty queue). */
  #handToReader(message: WSMessage): boolean {
    const resolve = this.#reader;
    if (resolve === null) return false;
    const loop = this.#readerLoop;
    this.#clearReader();
    resolve(loop ? loop.result(message) : message);
    return true;
  }

  /** Counts a queued message; past `receiveHighWaterMark` asks the runtime to stop reading. */
  #countIn(message: WSMessage): void {
    this.#queuedBytes += messageSize(message);
    if (
      !this.#paused &&
      this.#queuedBytes > this.options.receiveHighWaterMark &&
      this.#transport.capabilities.pauseReading
    ) {
      this.#paused = true;
      this.#transport.pause?.();
    }
  }

  /** A data or control message: to push listeners when there are any, else to the reader. */
  #deliver(message: TextMessage | BinaryMessage | ControlMessage): void {
    const listeners = this.#listeners?.message;
    if (!listeners || listeners.size === 0) {
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

  // ---- heartbeat ---------------------------------------------------------------------

  #startHeartbeat(): void {
    const hb = this.options.heartbeat;
    if (!hb) return;
    const state: HeartbeatState = {
      timer: undefined,
      lastActivity: now(),
      ping: null,
      tick: () => this.#heartbeatTick(),
    };
    this.#hb = state;
    state.timer = setTimeout(state.tick, hb.interval);
  }

  #stopHeartbeat(): void {
    const state = this.#hb;
    if (state !== null && state.timer !== undefined) {
      clearTimeout(state.timer);
      state.timer = undefined;
    }
  }

  /** Traffic that proves the peer alive, while the heartbeat runs. */
  #alive(): void {
    const state = this.#hb;
    if (state !== null && state.timer !== undefined) state.lastActivity = now();
  }

  /** Pings after `interval` of silence; any traffic from the peer, not only the pong, proves it alive. */
  #heartbeatTick(): void {
    const hb = this.options.heartbeat;
    const state = this.#hb;
    if (!hb || state === null || this.#state !== 'open') return;
    const t = now();
    if (this.#paused) {
      // Reading is paused because the application is behind: the peer's pong waits unread
      // behind its messages, so its silence proves nothing.
      state.lastActivity = t;
    }
    const ping = state.ping;
    if (ping) {
      if (state.lastActivity < ping.start) {
        state.timer = undefined;
        this.#fail(new HeartbeatTimeoutError(hb.timeout));
        return;
      }
      // Other traffic proved the peer alive before the pong came: forget the ping.
      state.ping = null;
      const i = this.#pings?.indexOf(ping) ?? -1;
      if (i >= 0) this.#pings?.splice(i, 1);
    }
    const idle = t - state.lastActivity;
    if (idle < hb.interval) {
      state.timer = setTimeout(state.tick, hb.interval - idle);
      return;
    }
    // Queued with the application's pings, so that its pong does not resolve one of theirs.
    const entry: PendingPing = { start: t, resolve: ignore, reject: ignore };
    state.ping = entry;
    this.#pings ??= [];
    this.#pings.push(entry);
    this.#sendPing(EMPTY);
    state.timer = setTimeout(state.tick, hb.timeout);
  }

  // ---- inbound events from the transport --------------------------------------------

  #onPong(data: Uint8Array): void {
    const ping = this.#pings?.shift();
    const state = this.#hb;
    if (state !== null && ping === state.ping) state.ping = null;
    if (ping) ping.resolve(now() - ping.start);
    if (!this.options.autoping) this.#deliver(controlMessage(WSMsgType.PONG, data));
  }

  #onPing(data: Uint8Array, appLevel: boolean): void {
    const t = this.#transport;
    this.#peerPingsInText = appLevel;
    if (this.options.autoping) {
      // Nothing may follow our close frame (workerd even throws on a send after close()).
      if (this.#closeSent) return;
      if (appLevel) t.sendText(APP_PONG, false);
      else if (!t.capabilities.forcedAutoPong) t.pong?.(data);
      return;
    }
    this.#deliver(controlMessage(WSMsgType.PING, data));
  }

  #checkSize(size: number): boolean {
    if (
      size <= this.options.maxMessageSize ||
      this.#transport.capabilities.enforcesMaxMessageSize
    ) {
      return true;
    }
    this.#fail(
      new MessageTooBigError(size, this.options.maxMessageSize),
      MESSAGE_TOO_BIG,
      'message too big',
    );
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
    this.#peerClose = { code: PROTOCOL_ERROR, reason: '' };
    return new WebSocketError(`the peer sent an invalid close code ${String(code)}`);
  }

  #onText(data: string): void {
    if (!this.#heard()) return;
    if (data.length === APP_PING.length && data.charCodeAt(0) === 0) {
      if (data === APP_PING) {
        this.#onPing(EMPTY, true);
        return;
      }
      if (data === APP_PONG) {
        this.#onPong(EMPTY);
        return;
      }
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
    if (this.#state === 'closed' || this.#peerClose) return;
    if (!this.#transport.capabilities.validatesCloseCodes && !isValidReceivedCloseCode(code)) {
      this.#fail(this.#invalidClose(code), PROTOCOL_ERROR, 'invalid close code');
      return;
    }
    this.#peerClose = { code, reason };
    if (this.#closeSent) return; // our close was first: this is the answer
    this.#state = 'closing';
    this.#stopHeartbeat();
    this.#enqueue(closeMessage(code, reason));
    // The code is valid here (checked above, or by the runtime): the answer echoes it.
    if (this.options.autoclose) this.#sendClose(code, '');
  }

  #onClosed(code: number, reason: string): void {
    if (this.#state === 'closed') return;
    if (!this.#peerClose && code !== ABNORMAL_CLOSURE) {
      if (!this.#transport.capabilities.validatesCloseCodes && !isValidReceivedCloseCode(code)) {
        // The runtime answered an invalid code itself (browsers echo it): too late for our
        // 1002, but the connection records the protocol error as if it had answered.
        this.#report(this.#invalidClose(code));
      } else if (!this.#closeSent) {
        // The runtime answered the peer's close itself: the reader still sees CLOSE once.
        this.#peerClose = { code, reason };
        this.#enqueue(closeMessage(code, reason));
      }
    }
    this.#finish(code, reason);
  }

  #onError(error: Error, code?: number): void {
    if (this.#state === 'closed') return;
    this.#report(error);
    if (code !== undefined && !this.#closeSent) this.#sendClose(code, '', true);
  }

  #onDrain(): void {
    const waiters = this.#drainWaiters;
    if (
      waiters === null ||
      waiters.length === 0 ||
      this.#transport.bufferedAmount > this.options.highWaterMark
    )
      return;
    this.#drainWaiters = [];
    for (const waiter of waiters) waiter.resolve();
  }
}

function ignore(): void {}

let resolvedDefaults: ResolvedOptions | undefined;
/** The options of connections given none: one frozen object shared by all of them. */
function defaultOptions(): ResolvedOptions {
  resolvedDefaults ??= Object.freeze(resolveOptions());
  return resolvedDefaults;
}

// The prototype async generators share: it gives the loop object what a runtime adds to every
// async iterator (its own `Symbol.asyncIterator`, and `Symbol.asyncDispose` where it exists).
const AsyncIteratorPrototype: object = Object.getPrototypeOf(
  Object.getPrototypeOf(async function* () {}).prototype,
);

/**
 * One `for await` loop over a connection: behaves as the async generator it replaces (ends on
 * CLOSE or once the connection is closing/closed, and for good after an error, `return()` or
 * `throw()`), without its promise hops.
 */
class MessageIterator implements AsyncGenerator<LoopItem, void, undefined> {
  finished = false;
  /** The promise of this loop's last read that waited (see `#read`). */
  pending: Promise<unknown> | null = null;

  constructor(readonly conn: WebSocketConnection<unknown>) {}

  next(): Promise<LoopResult> {
    return this.finished ? DONE_PROMISE : readLoop(this.conn, this);
  }

  return(value?: undefined): Promise<LoopResult> {
    this.finished = true;
    return Promise.resolve({ value, done: true });
  }

  throw(error?: unknown): Promise<LoopResult> {
    this.finished = true;
    return Promise.reject(error);
  }

  /** The iterator result for `message`: done at the end of the connection. */
  result(message: WSMessage): LoopResult {
    if (
      message.type === WSMsgType.CLOSE ||
      message.type === WSMsgType.CLOSING ||
      message.type === WSMsgType.CLOSED
    ) {
      this.finished = true;
      return DONE;
    }
    // CLOSING and CLOSED share one interface, which narrowing by two values does not remove.
    return { value: message as LoopItem, done: false };
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}
Object.setPrototypeOf(MessageIterator.prototype, AsyncIteratorPrototype);

function toError(value: unknown): Error {
  return value instanceof Error ? value : new Error(String(value));
}
