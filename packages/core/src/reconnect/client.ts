/**
 * The reconnecting client, once for every runtime: one object over a succession of
 * `WebSocketConnection`s. A runtime gives it its `connect(url, options)` and, where it has them,
 * signals about the network (a browser's `online`/`offline`, a tab coming back); everything else
 * (backoff, close-code rules, the send queue, reading across reconnects) is decided here.
 */
import type { OpenOptions } from '../connect.js';
import type { WebSocketConnection } from '../connection.js';
import {
  ConcurrentReceiveError,
  ConnectionClosedError,
  HandshakeError,
  ReceiveTimeoutError,
  UnexpectedMessageError,
  WebSocketError,
} from '../errors.js';
import {
  CLOSED_MESSAGE,
  type ControlMessage,
  type DataMessage,
  jsonText,
  toBytes,
  type WSMessage,
} from '../message.js';
import {
  type ConnectionOptions,
  type ReceiveJsonOptions,
  type ReceiveOptions,
  resolveOptions,
  type SendJsonOptions,
  type SendOptions,
} from '../options.js';
import {
  assertSendableClose,
  MSG_CLOSE,
  MSG_CLOSING,
  MSG_ERROR,
  utf8ByteLength,
} from '../protocol.js';
import { DEFAULT_RECONNECT, type ReconnectPolicy, reconnectDelay } from './policy.js';

/**
 * Where the reconnecting client is:
 * - `connecting`: the first attempt is under way;
 * - `connected`: a connection is open;
 * - `reconnecting`: the connection was lost (or an attempt failed) and the next attempt is waiting or under way;
 * - `offline`: the runtime reported the network gone; the next attempt waits for it to come back;
 * - `closing`: `close()` was called and the closing handshake runs;
 * - `closed`: for good (closed by the user, a close code that is not retried, or retries exhausted).
 */
export type ClientState =
  | 'connecting'
  | 'connected'
  | 'reconnecting'
  | 'offline'
  | 'closing'
  | 'closed';

/** Push-style listeners of a {@link ReconnectingClient}. */
export interface ClientEvents {
  /** The state changed. */
  state: (state: ClientState) => void;
  /** A connection opened (the first one or a reconnect); queued sends have been handed to it. */
  open: (connection: WebSocketConnection) => void;
  /**
   * A connection ended or an attempt failed (code 1006). `retryIn` is the wait before the
   * next attempt in ms, or null when the client stops here.
   */
  close: (code: number, reason: string, retryIn: number | null) => void;
  /** An error of a connection or of an attempt; the client carries on as its state says. */
  error: (error: Error) => void;
  /** A message arrived. With at least one listener, messages go here and not to `receive()`. */
  message: (message: DataMessage | ControlMessage) => void;
}

/**
 * The reconnecting client's own options, beside those of every connection it opens (the
 * runtime's `connect` options: `openTimeout` bounds each attempt; once `signal` has aborted no
 * further attempt is made and the client ends).
 */
export interface ReconnectingOptions {
  /** The reconnection policy; fields left out take {@link DEFAULT_RECONNECT}'s. */
  reconnect?: Partial<ReconnectPolicy>;
  /** Most sends held while disconnected. Default 1,000. */
  maxQueuedMessages?: number;
  /** Most bytes (UTF-8 for text) held while disconnected. Default 1 MiB. */
  maxQueuedBytes?: number;
  /** How long a link check (see {@link LinkSignals.check}) waits for the pong, in ms. Default the heartbeat timeout, or 5,000. */
  checkTimeout?: number;
}

/** What a runtime tells the client about the network, from its own events. */
export interface LinkSignals {
  /** The network is back: retry at once. */
  online(): void;
  /** The network is gone: check the open connection, or hold the retries until `online`. */
  offline(): void;
  /** The link may have died unnoticed (a tab back from the background): ping it. */
  check(): void;
}

/** What a runtime gives a {@link ReconnectingClient}. */
export interface ReconnectingRuntime<O> {
  /** Opens one connection, as the runtime's `connect(url, options)` does. */
  connect(url: string, options: O): Promise<WebSocketConnection>;
  /** Starts passing the runtime's network events to `link`; returns the function that stops it. */
  watch?(link: LinkSignals): () => void;
  /**
   * Whether the open connection takes a send now. A browser socket that is already closing
   * drops what it is given while core still sees it open; the send is held for the next one.
   */
  writable?(connection: WebSocketConnection): boolean;
}

/** A send did not fit in the queue of sends held while disconnected. Nothing was queued. */
export class QueueFullError extends WebSocketError {
  override name = 'QueueFullError';
  /** Messages queued at the time. */
  declare readonly messages: number;
  /** Bytes queued at the time. */
  declare readonly bytes: number;
  constructor(messages: number, bytes: number) {
    super(`the send queue is full (${messages} messages, ${bytes} bytes)`);
    this.messages = messages;
    this.bytes = bytes;
  }
}

/** The reconnecting client's heartbeat unless the options say otherwise: a dead link is found within 35 s. */
const DEFAULT_HEARTBEAT = { interval: 25_000, timeout: 10_000 };

interface Pending {
  size: number;
  send: (conn: WebSocketConnection) => Promise<void>;
  resolve: () => void;
  reject: (error: Error) => void;
}

type Listeners = { [K in keyof ClientEvents]?: Set<ClientEvents[K]> };

/** A message or error that ends one connection's stream (CLOSE, CLOSING, CLOSED, ERROR). */
function ends(value: unknown): boolean {
  if (value instanceof ConnectionClosedError) return true;
  const message = value instanceof UnexpectedMessageError ? value.received : value;
  const type = (message as Partial<WSMessage> | null)?.type;
  return type === MSG_CLOSE || (type !== undefined && type >= MSG_CLOSING);
}

/**
 * A client that reconnects: one object over a succession of `WebSocketConnection`s. Each
 * runtime's package exports it with its own `connect` (`new ReconnectingClient(url, options)`);
 * this class is what they share.
 *
 * - Reconnects with exponential backoff and full jitter; 1012 waits 5–30 s; 1003, 1008,
 *   1013 and `close()` end it; 3000–4999 follow `reconnect.shouldReconnect`. A failed attempt
 *   is retried when it is a `HandshakeError` (refused, unreachable, timed out); anything else
 *   (a malformed URL, the user's `signal`) ends the client.
 * - Sends while disconnected are queued (bounded by `maxQueuedMessages` and `maxQueuedBytes`;
 *   past the bound a `QueueFullError`) and handed, in order, to the next connection before
 *   any later send. A send resolves when a connection took it; queued sends reject with
 *   `ConnectionClosedError` if the client ends first.
 * - `receive()` and `for await` read the current connection and wait across reconnects: the
 *   end of a connection that is followed by a reconnect (its CLOSE, ERROR, CLOSED) is not
 *   returned. When the client ends, the last connection's messages are read to the end
 *   (CLOSE from the server if it closed, then CLOSED for good).
 * - A heartbeat (default 25 s + 10 s) finds dead links. Where the runtime reports the network
 *   (browsers), `online` retries at once, and `offline` and a tab coming back check the link
 *   with a ping. Without ping frames both need the server's agreement to the application-level
 *   heartbeat (an anyws server, see `HEARTBEAT_PROTOCOL`): against another server nothing is
 *   sent and a quiet connection is never taken for dead.
 * - Channels: `new ChannelClient(options, client)` (`@anyws/core/channels`) joins its channels
 *   again on each new connection, from the last position it saw.
 */
export class ReconnectingClient<O extends ConnectionOptions & OpenOptions = ConnectionOptions>
  implements AsyncIterable<WSMessage>
{
  // `declare`: assigned once in the constructor, with no field definition emitted before it
  // (bytes in every page that bundles the client).
  /** The URL every connection is opened with. */
  declare readonly url: string;
  /** The options of every connection, heartbeat default filled in. */
  declare readonly options: O & ReconnectingOptions;
  /** The reconnection policy in force. */
  declare readonly policy: ReconnectPolicy;

  readonly #runtime: ReconnectingRuntime<O & ReconnectingOptions>;
  #state: ClientState = 'connecting';
  /** The open connection: null once its close has been reported. */
  #conn: WebSocketConnection | null = null;
  /** Connections whose messages the reader has not read to the end, oldest first. */
  #reads: WebSocketConnection[] = [];
  #attempt = 0;
  #dialing = false;
  /** The runtime said offline and not online since. */
  #offline = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #queue: Pending[] = [];
  #queuedBytes = 0;
  #userClose: [number, string] | null = null;
  #reading = false;
  #wake: (() => void)[] = [];
  #unforward: (() => void) | undefined;
  #unwatch: (() => void) | undefined;
  #listeners: Listeners = {};

  constructor(
    url: string | URL,
    options: O & ReconnectingOptions,
    runtime: ReconnectingRuntime<O & ReconnectingOptions>,
  ) {
    this.url = String(url);
    this.options = { heartbeat: DEFAULT_HEARTBEAT, ...options };
    const policy = { ...DEFAULT_RECONNECT, ...options.reconnect };
    const { min, max } = policy.restartDelay;
    // One comparison for all five bounds; a NaN anywhere fails it too.
    if (!(Math.min(policy.minDelay, policy.maxDelay, policy.factor - 1, min, max - min) >= 0)) {
      throw new RangeError(
        'reconnect: delays must be >= 0, factor >= 1 and restartDelay.min <= max',
      );
    }
    this.policy = policy;
    resolveOptions(this.options);
    this.#runtime = runtime;
    this.#unwatch = runtime.watch?.({
      online: () => {
        this.#offline = false;
        if (this.#state === 'offline' || this.#state === 'reconnecting') {
          this.#attempt = 0;
          this.#dial();
        }
      },
      offline: () => {
        this.#offline = true;
        if (this.#conn) {
          this.#check();
        } else if (this.#state === 'reconnecting' && !this.#dialing) {
          clearTimeout(this.#timer);
          this.#set('offline');
        }
      },
      check: this.#check,
    });
    this.#dial();
  }

  /** Where the client is; see {@link ClientState}. */
  get state(): ClientState {
    return this.#state;
  }
  /** The open connection, or null while there is none. */
  get connection(): WebSocketConnection | null {
    return this.#conn;
  }
  /** Sends waiting for a connection. */
  get queued(): { messages: number; bytes: number } {
    return { messages: this.#queue.length, bytes: this.#queuedBytes };
  }

  /** Adds a listener; returns the function that removes it. */
  on<K extends keyof ClientEvents>(event: K, listener: ClientEvents[K]): () => void {
    // biome-ignore lint/suspicious/noAssignInExpressions: the set is made on first use
    const set = (this.#listeners[event] ??= new Set<never>()) as Set<ClientEvents[K]>;
    set.add(listener);
    // Only message listeners change the routing; for the others it is a no-op.
    this.#forward();
    return () => {
      set.delete(listener);
      this.#forward();
    };
  }

  // ---- sending -----------------------------------------------------------------------

  /** Sends a string as TEXT or bytes as BINARY, now or after the next reconnect. */
  send(
    data: string | Uint8Array | ArrayBuffer | ArrayBufferView,
    options?: SendOptions,
  ): Promise<void> {
    return typeof data === 'string' ? this.sendText(data, options) : this.sendBytes(data, options);
  }

  /** Sends a TEXT message. A TypeError for anything but a string. */
  sendText(data: string, options?: SendOptions): Promise<void> {
    if (typeof data !== 'string') return Promise.reject(new TypeError('sendText() takes a string'));
    return this.#send(data, (conn) => conn.sendText(data, options));
  }

  /** Sends a BINARY message. A TypeError for anything but bytes. */
  sendBytes(
    data: Uint8Array | ArrayBuffer | ArrayBufferView,
    options?: SendOptions,
  ): Promise<void> {
    const bytes = toBytes(data);
    if (!bytes) return Promise.reject(new TypeError('sendBytes() takes bytes'));
    return this.#send(bytes, (conn) => conn.sendBytes(bytes, options));
  }

  /**
   * Sends `value` as JSON text, serialised now. A TypeError (a rejection) when it does not
   * serialise.
   * Async only so that a value that does not serialise rejects: the text is handed on
   * before the first tick, in order with every other send.
   */
  async sendJson(value: unknown, options?: SendJsonOptions): Promise<void> {
    return this.sendText(jsonText(value, options?.stringify), options);
  }

  /** Hands `data` to the open connection, or queues it; its size is counted only when queued. */
  #send(
    data: string | Uint8Array,
    send: (conn: WebSocketConnection) => Promise<void>,
  ): Promise<void> {
    if (this.#userClose || this.#state === 'closed') {
      return Promise.reject(closed(this.#state));
    }
    const conn = this.connection;
    if (conn?.state === 'open' && (this.#runtime.writable?.(conn) ?? true)) return send(conn);
    const size = typeof data === 'string' ? utf8ByteLength(data) : data.byteLength;
    const max = this.options;
    if (
      this.#queue.length >= (max.maxQueuedMessages ?? 1000) ||
      this.#queuedBytes + size > (max.maxQueuedBytes ?? 1 << 20)
    ) {
      return Promise.reject(new QueueFullError(this.#queue.length, this.#queuedBytes));
    }
    this.#queuedBytes += size;
    return new Promise((resolve, reject) => this.#queue.push({ size, send, resolve, reject }));
  }

  /** Sends a ping on the open connection; resolves with the round trip in ms. */
  ping(): Promise<number> {
    return this.connection?.ping() ?? Promise.reject(closed(this.#state));
  }

  // ---- receiving ---------------------------------------------------------------------

  /**
   * The next message of the current connection, waiting across reconnects. CLOSE (when the
   * server's close ended the client), then CLOSED, only once the client has ended. One reader
   * at a time; `timeout` (default `receiveTimeout`) covers the whole wait.
   */
  receive(options?: ReceiveOptions): Promise<WSMessage> {
    return this.#pull(
      (conn, timeout) => conn.receive({ timeout }),
      () => CLOSED_MESSAGE,
      options,
    );
  }
  /** The next message, which must be TEXT (see `WebSocketConnection.receiveText`). */
  receiveText(options?: ReceiveOptions): Promise<string> {
    return this.#pull((conn, timeout) => conn.receiveText({ timeout }), closedError, options);
  }
  /** The next message, which must be BINARY (see `WebSocketConnection.receiveBytes`). */
  receiveBytes(options?: ReceiveOptions): Promise<Uint8Array> {
    return this.#pull((conn, timeout) => conn.receiveBytes({ timeout }), closedError, options);
  }
  /** The next message parsed as JSON (see `WebSocketConnection.receiveJson`). */
  receiveJson<T = unknown>(options?: ReceiveJsonOptions): Promise<T> {
    return this.#pull(
      (conn, timeout) => conn.receiveJson<T>({ ...options, timeout }),
      closedError,
      options,
    );
  }

  /** Yields messages across reconnects until the client ends. */
  async *[Symbol.asyncIterator](): AsyncGenerator<WSMessage, void, undefined> {
    for (;;) {
      const message = await this.receive();
      // An ERROR that ended the client is yielded; its CLOSED follows and ends the loop.
      if (ends(message) && message.type !== MSG_ERROR) return;
      yield message;
    }
  }

  async #pull<T>(
    read: (conn: WebSocketConnection, timeout: number | null) => Promise<T>,
    ended: () => T,
    options: ReceiveOptions | undefined,
  ): Promise<T> {
    if (this.#reading) throw new ConcurrentReceiveError();
    this.#reading = true;
    const timeout =
      options?.timeout === undefined ? (this.options.receiveTimeout ?? null) : options.timeout;
    // Only read when there is a timeout.
    const deadline = performance.now() + (timeout ?? 0);
    const left = (): number | null =>
      timeout === null ? null : Math.max(0, deadline - performance.now());
    try {
      for (;;) {
        const conn = this.#reads[0];
        if (!conn) {
          if (this.#state === 'closed') return ended();
          await new Promise<void>((resolve, reject) => {
            const ms = left();
            const timer =
              ms === null
                ? undefined
                : setTimeout(() => reject(new ReceiveTimeoutError(timeout ?? 0)), ms);
            this.#wake.push(() => {
              clearTimeout(timer);
              resolve();
            });
          });
          continue;
        }
        let end: unknown;
        try {
          const result = await read(conn, left());
          if (!ends(result)) return result;
          end = result;
        } catch (error) {
          if (!ends(error)) throw error;
          end = error;
        }
        // Once it is closed, the client has decided whether another connection follows.
        await conn.whenClosed;
        if (this.#state === 'closed' && this.#reads.at(-1) === conn) {
          if (end instanceof Error) throw end;
          return end as T;
        }
        this.#reads = this.#reads.filter((c) => c !== conn);
      }
    } finally {
      this.#reading = false;
    }
  }

  // ---- closing -----------------------------------------------------------------------

  /**
   * Closes the connection (if one is open) and ends the client: no reconnect, queued sends
   * reject with `ConnectionClosedError`. Resolves once closed. A RangeError for a code or
   * reason that may not be sent.
   */
  close(code = 1000, reason = ''): Promise<void> {
    assertSendableClose(code, reason);
    if (this.#state !== 'closed') {
      this.#userClose ??= [code, reason];
      const conn = this.#conn;
      if (conn) {
        this.#set('closing');
        return conn.close(code, reason);
      }
      this.#end();
    }
    return Promise.resolve();
  }

  // ---- the life cycle ----------------------------------------------------------------

  #dial = (): void => {
    clearTimeout(this.#timer);
    if (this.#dialing || this.#state === 'closed') return;
    this.#dialing = true;
    // Every attempt but the very first is a retry.
    if (this.#state !== 'connecting') {
      this.#attempt++;
      this.#set('reconnecting');
    }
    this.#runtime.connect(this.url, this.options).then(
      (conn) => {
        this.#dialing = false;
        if (this.#userClose) {
          conn.close(...this.#userClose).catch(() => undefined);
          return;
        }
        this.#attempt = 0;
        this.#conn = conn;
        this.#reads.push(conn);
        conn.on('close', (code, reason) => this.#lost(conn, code, reason));
        conn.on('error', (error) => this.#emit('error', error));
        this.#forward();
        const queue = this.#queue;
        this.#queue = [];
        this.#queuedBytes = 0;
        // Synchronous hand-offs, in order, before any later send can reach the connection.
        for (const p of queue) p.send(conn).then(p.resolve, p.reject);
        this.#set('connected');
        this.#emit('open', conn);
      },
      (error: Error) => {
        this.#dialing = false;
        if (this.#state === 'closed') return;
        this.#emit('error', error);
        // A refused or unreachable server may come back; a malformed URL will not, nor an
        // attempt after the user's signal aborted.
        if (error instanceof HandshakeError && !this.options.signal?.aborted) this.#retry(1006, '');
        else this.#end();
      },
    );
  };

  #lost(conn: WebSocketConnection, code: number, reason: string): void {
    // With push listeners nobody reads the rest of it (only its end is left there).
    if (this.#unforward) this.#reads = this.#reads.filter((c) => c !== conn);
    this.#conn = null;
    this.#forward();
    if (this.#userClose) {
      this.#emit('close', code, reason, null);
      this.#end();
    } else {
      this.#retry(code, reason);
    }
  }

  #retry(code: number, reason: string): void {
    const delay = reconnectDelay(code, reason, this.#attempt, this.policy);
    this.#emit('close', code, reason, delay);
    if (delay === null) {
      this.#end();
    } else if (this.#offline) {
      this.#set('offline');
    } else {
      this.#set('reconnecting');
      this.#timer = setTimeout(this.#dial, delay);
    }
  }

  /** Ends the client for good: nothing waits any more, nothing queued is left unanswered. */
  #end(): void {
    clearTimeout(this.#timer);
    this.#unwatch?.();
    for (const p of this.#queue.splice(0)) p.reject(closed('closed'));
    this.#queuedBytes = 0;
    this.#set('closed');
  }

  /**
   * Pings the open connection; no pong within `checkTimeout` ends it (1006, its 'error' is a
   * `HeartbeatTimeoutError`), and the client reconnects. Without ping frames the connection's
   * `ping` waits for the server's agreement to the heartbeat and never sends without it (see
   * the class notes), so a quiet server that is not anyws is not taken for dead.
   */
  #check = (): void => {
    const conn = this.connection;
    conn
      ?.ping({ timeout: this.options.checkTimeout ?? conn.options.heartbeat?.timeout ?? 5000 })
      .catch(() => undefined);
  };

  /** Routes the connection's messages to the client's listeners while there are any. */
  #forward(): void {
    const conn = this.connection;
    const wanted = conn !== null && (this.#listeners.message?.size ?? 0) > 0;
    if (wanted === (this.#unforward !== undefined)) return;
    this.#unforward?.();
    this.#unforward = wanted
      ? conn.on('message', (message) => this.#emit('message', message))
      : undefined;
  }

  #set(state: ClientState): void {
    if (this.#state === state) return;
    this.#state = state;
    for (const wake of this.#wake.splice(0)) wake();
    this.#emit('state', state);
  }

  #emit<K extends keyof ClientEvents>(event: K, ...args: Parameters<ClientEvents[K]>): void {
    for (const listener of this.#listeners[event] ?? []) {
      try {
        (listener as (...a: Parameters<ClientEvents[K]>) => void)(...args);
      } catch (error) {
        // A failing listener must not stop the client; the others still hear about it.
        if (event !== 'error')
          this.#emit('error', error instanceof Error ? error : new Error(String(error)));
      }
    }
  }
}

/** What a send, a ping or a read gets from a client that is not (or no longer) connected. */
function closed(state: ClientState): ConnectionClosedError {
  return new ConnectionClosedError(`the client is ${state}`);
}

function closedError(): never {
  throw closed('closed');
}
