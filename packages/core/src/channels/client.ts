/**
 * The client side of channels. One `ChannelClient` outlives its connections: given a
 * reconnecting client it attaches each new connection by itself (or `attach(conn)` each one by
 * hand), and joins every channel again from the last position it saw, so that the server replays
 * what was missed.
 */
import type { WebSocketConnection } from '../connection.js';
import type { ControlMessage, DataMessage } from '../message.js';
import {
  Endpoint,
  invalid,
  type RequestHandlers,
  type RequestOptions,
  type Validated,
} from './endpoint.js';
import { ChannelError } from './errors.js';
import type { AnyMessage, DataIn, KindOf, MessageDefs, StandardSchemaV1 } from './schema.js';
import type { JoinedFrame, PubFrame, ServerFrame, StreamPosition } from './wire.js';

/** The outcome of a join (and of each re-join after a reconnect). */
export interface JoinResult {
  /**
   * True when the join carried a position and every publication after it is (being) delivered.
   * False on a first join, or when the history no longer held the position or its epoch
   * changed: the application loads the channel's state itself.
   */
  readonly recovered: boolean;
  /** The channel's epoch. */
  readonly epoch: string;
  /** The position publications are delivered after. */
  readonly offset: number;
}

/** A publication on a channel, typed by its kind. */
export type Publication<M extends MessageDefs> = AnyMessage<M> & {
  /** The channel. */
  readonly channel: string;
  /** The channel's epoch. */
  readonly epoch: string;
  /** Its offset in the epoch. */
  readonly offset: number;
};

/** Listeners of a {@link Channel}. */
export interface ChannelEvents<M extends MessageDefs> {
  /** A publication, in order, each offset once. */
  publication: (publication: Publication<M>) => void;
  /** The server answered a join (the first, a re-join, or a position it could not keep). */
  joined: (result: JoinResult) => void;
  /** A refused re-join, or a publication whose data failed its schema (it is skipped). */
  error: (error: ChannelError) => void;
}

/** Listeners of a {@link ChannelClient}. */
export interface ChannelClientEvents {
  /** A message that is not an envelope, unchanged. */
  raw: (message: DataMessage | ControlMessage) => void;
  /** An error nobody waits for (the server's error frame without id, a listener that threw). */
  error: (error: Error) => void;
}

/**
 * What a {@link ChannelClient} can follow instead of a single connection: a reconnecting client
 * (`ReconnectingClient` of every runtime's package, or core's). Its current connection is
 * attached at once, and each new one as it opens.
 */
export interface ConnectionSource {
  /** The open connection, or null while there is none. */
  readonly connection: WebSocketConnection<unknown> | null;
  /** Adds a listener of each connection that opens; returns the function that removes it. */
  on(event: 'open', listener: (connection: WebSocketConnection<unknown>) => void): () => void;
  /** Adds a listener of the messages; returns the function that removes it. */
  on(event: 'message', listener: (message: DataMessage | ControlMessage) => void): () => void;
}

/** Options of a {@link ChannelClient}. */
export interface ChannelClientOptions<M extends MessageDefs> {
  /** The message definitions, shared with the server. */
  messages: M;
  /** Handlers of the requests the server sends. */
  requests?: RequestHandlers<M, ChannelClient<M>>;
}

type Listeners<E> = { [K in keyof E]: Set<E[K]> };
/** The answer to a publish: its position, checked as any reply. */
const POSITION: StandardSchemaV1<StreamPosition> = {
  '~standard': {
    version: 1,
    vendor: 'anyws',
    validate: (value) => {
      const p = value as Partial<StreamPosition> | null;
      return typeof p?.epoch === 'string' && Number.isSafeInteger(p.offset)
        ? { value: { epoch: p.epoch, offset: p.offset as number } }
        : { issues: [{ message: 'expected { epoch: string, offset: integer }' }] };
    },
  },
};

/** One channel as a client sees it. Made by `client.channel(name)`. */
export class Channel<M extends MessageDefs> {
  readonly #client: ChannelClient<M>;
  #state: 'left' | 'joining' | 'joined' = 'left';
  #position: StreamPosition | null = null;
  #result: JoinResult | null = null;
  #waiters: { resolve: (result: JoinResult) => void; reject: (error: Error) => void }[] = [];
  readonly #listeners: Listeners<ChannelEvents<M>> = {
    publication: new Set(),
    joined: new Set(),
    error: new Set(),
  };

  /** @internal Made by {@link ChannelClient.channel}. */
  constructor(
    client: ChannelClient<M>,
    /** The channel's name. */
    readonly name: string,
  ) {
    this.#client = client;
  }

  /** `left`, `joining` (also while disconnected) or `joined`. */
  get state(): 'left' | 'joining' | 'joined' {
    return this.#state;
  }
  /** The last position delivered (kept across reconnects and leaves), or null before any. */
  get position(): StreamPosition | null {
    return this.#position;
  }

  /** Adds a listener; returns the remover. */
  on<K extends keyof ChannelEvents<M>>(event: K, listener: ChannelEvents<M>[K]): () => void {
    const set = this.#listeners[event] as Set<ChannelEvents<M>[K]>;
    set.add(listener);
    return () => set.delete(listener);
  }

  /**
   * Joins (from the last position, if any): resolves with the server's answer, waiting across
   * reconnects; rejects with a `ChannelError` when the server refuses (`forbidden`, …) or with
   * `not_joined` when `leave()` comes first.
   */
  join(): Promise<JoinResult> {
    if (this.#state === 'joined' && this.#result) return Promise.resolve(this.#result);
    const waiting = new Promise<JoinResult>((resolve, reject) =>
      this.#waiters.push({ resolve, reject }),
    );
    if (this.#state === 'left') {
      this.#state = 'joining';
      this.#client.sendJoin(this);
    }
    return waiting;
  }

  /** Leaves; the position is kept, so a later `join()` recovers what was published meanwhile. */
  leave(): void {
    if (this.#state === 'left') return;
    this.#state = 'left';
    this.#result = null;
    this.#client.sendLeave(this);
    this.#reject(
      new ChannelError(
        'not_joined',
        `left '${this.name}' before the join was answered`,
        undefined,
        this.name,
      ),
    );
  }

  /**
   * Publishes on the channel through the server (which authorises it): resolves with the
   * publication's position. The publication itself arrives as any other, to every member.
   */
  publish<K extends KindOf<M>>(
    kind: K,
    data: DataIn<M, K>,
    options?: RequestOptions,
  ): Promise<StreamPosition> {
    return this.#client.publishOn(this.name, kind, data, options);
  }

  /** @internal The connection is gone: join again on the next one. */
  lost(): void {
    if (this.#state === 'joined') this.#state = 'joining';
  }

  /** @internal The server's `joined`. */
  joined(frame: JoinedFrame): void {
    if (this.#state === 'left') return;
    this.#state = 'joined';
    this.#position = { epoch: frame.epoch, offset: frame.offset };
    const result: JoinResult = {
      recovered: frame.recovered,
      epoch: frame.epoch,
      offset: frame.offset,
    };
    this.#result = result;
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const waiter of waiters) waiter.resolve(result);
    this.#emit('joined', result);
  }

  /** @internal The server refused a join. */
  refused(error: ChannelError): void {
    if (this.#state === 'left') return;
    this.#state = 'left';
    this.#result = null;
    if (this.#waiters.length > 0) this.#reject(error);
    else this.#emit('error', error);
  }

  /** @internal A `pub` frame, validated. */
  published({ frame, checked }: Validated<PubFrame>): void {
    const position = this.#position;
    if (this.#state !== 'joined' || !position) return; // from before a leave or a re-join
    if (frame.epoch === position.epoch && frame.offset <= position.offset) return; // had it
    if (frame.epoch !== position.epoch) {
      // The server keeps epochs apart with a `joined`; a publication of another epoch means the
      // position is void: say so, as the server would.
      this.joined({
        t: 'joined',
        ch: this.name,
        epoch: frame.epoch,
        offset: frame.offset - 1,
        recovered: false,
      });
    }
    this.#position = { epoch: frame.epoch, offset: frame.offset };
    if (!checked.ok) {
      this.#emit('error', invalid(frame.kind, checked.issues));
      return;
    }
    const publication = {
      kind: frame.kind,
      data: checked.value,
      channel: this.name,
      epoch: frame.epoch,
      offset: frame.offset,
    };
    this.#emit('publication', publication as Publication<M>);
  }

  #reject(error: Error): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const waiter of waiters) waiter.reject(error);
  }

  #emit<K extends keyof ChannelEvents<M>>(
    event: K,
    ...args: Parameters<ChannelEvents<M>[K]>
  ): void {
    for (const listener of this.#listeners[event]) {
      try {
        (listener as (...a: Parameters<ChannelEvents<M>[K]>) => void)(...args);
      } catch (error) {
        this.#client.reportError(error);
      }
    }
  }
}

/**
 * The client of channels, over one connection at a time: typed messages and requests both ways,
 * channels with recovery. Over a reconnecting client, every reconnect joins the channels again
 * from their last positions, with no code of the application's:
 *
 * ```ts
 * const channels = new ChannelClient({ messages }, new ReconnectingClient(url));
 * const room = channels.channel('room:1');
 * room.on('publication', (p) => render(p.kind, p.data));
 * room.on('joined', ({ recovered }) => { if (!recovered) reload(); });
 * await room.join();
 * ```
 */
export class ChannelClient<M extends MessageDefs> extends Endpoint<
  M,
  ChannelClient<M>,
  ServerFrame
> {
  #conn: WebSocketConnection<unknown> | null = null;
  #off: (() => void)[] = [];
  readonly #channels = new Map<string, Channel<M>>();
  /** Joins in flight on this connection, by id. */
  readonly #joins = new Map<number, Channel<M>>();
  readonly #listeners: Listeners<ChannelClientEvents> = { raw: new Set(), error: new Set() };
  #unfollow: (() => void) | undefined;

  /**
   * @param source one connection (attach the next ones by hand), or a reconnecting client whose
   *   connections are attached as they open, from now on (see {@link ConnectionSource})
   */
  constructor(
    options: ChannelClientOptions<M>,
    source?: WebSocketConnection<unknown> | ConnectionSource,
  ) {
    super('client', options.messages, options.requests);
    if (source && 'connection' in source) {
      const offOpen = source.on('open', (conn) => this.attach(conn));
      // Every message goes to this client's listener on the connection, none to the source's
      // reader: saying so (a push listener of the source) lets the source forget each
      // connection once it closed, instead of keeping it for a reader that never comes.
      const offMessage = source.on('message', () => undefined);
      this.#unfollow = () => {
        offOpen();
        offMessage();
      };
      if (source.connection) this.attach(source.connection);
    } else if (source) {
      this.attach(source);
    }
  }

  /** The connection in use, or null between connections. */
  get connection(): WebSocketConnection<unknown> | null {
    return this.#conn;
  }
  protected get peer(): ChannelClient<M> {
    return this;
  }

  /** Adds a listener; returns the remover. */
  on<K extends keyof ChannelClientEvents>(event: K, listener: ChannelClientEvents[K]): () => void {
    const set = this.#listeners[event] as Set<ChannelClientEvents[K]>;
    set.add(listener);
    return () => set.delete(listener);
  }

  /**
   * Uses `conn` from now on (a first connection, or a new one after a reconnect): every channel
   * not left is joined again from its last position. Requests in flight on the previous
   * connection reject with `disconnected`.
   */
  attach(conn: WebSocketConnection<unknown>): void {
    this.#lost();
    if (conn.closed) return;
    this.#conn = conn;
    this.#off = [
      conn.on('message', (message) => this.take(message)),
      conn.on('close', () => {
        if (this.#conn === conn) this.#lost();
      }),
    ];
    for (const channel of this.#channels.values())
      if (channel.state !== 'left') this.sendJoin(channel);
  }

  /**
   * Stops using the connection (it stays open), and stops following the reconnecting client if
   * there is one; channels wait for the next `attach`.
   */
  detach(): void {
    this.#unfollow?.();
    this.#unfollow = undefined;
    this.#lost();
  }

  /** The channel called `name` (the same object each time). */
  channel(name: string): Channel<M> {
    let channel = this.#channels.get(name);
    if (!channel) {
      channel = new Channel(this, name);
      this.#channels.set(name, channel);
    }
    return channel;
  }

  #lost(): void {
    for (const off of this.#off) off();
    this.#off = [];
    this.#conn = null;
    this.#joins.clear();
    this.dropPending();
    for (const channel of this.#channels.values()) channel.lost();
  }

  /** @internal */
  sendJoin(channel: Channel<M>): void {
    if (!this.#conn) return; // the next attach joins
    const id = this.nextId();
    this.#joins.set(id, channel);
    const since = channel.position;
    this.answer(
      since ? { t: 'join', id, ch: channel.name, since } : { t: 'join', id, ch: channel.name },
    );
  }

  /** @internal */
  sendLeave(channel: Channel<M>): void {
    for (const [id, joining] of this.#joins) if (joining === channel) this.#joins.delete(id);
    if (this.#conn) this.answer({ t: 'leave', ch: channel.name });
  }

  /** @internal */
  publishOn(
    channel: string,
    kind: string,
    data: unknown,
    options: RequestOptions = {},
  ): Promise<StreamPosition> {
    if (!Object.hasOwn(this.messages, kind))
      return Promise.reject(new TypeError(`no message kind '${kind}' in the definition`));
    return this.call(
      `publish on '${channel}'`,
      POSITION,
      (id) => ({ t: 'pub', id, ch: channel, kind, data }),
      options,
    ) as Promise<StreamPosition>;
  }

  /** @internal */
  reportError(error: unknown): void {
    this.fault(error instanceof Error ? error : new Error(String(error)));
  }

  protected handle({ frame, checked }: Validated<ServerFrame>): void {
    if (frame.t === 'joined') {
      if (frame.id === undefined) {
        this.#channels.get(frame.ch)?.joined(frame);
        return;
      }
      const channel = this.#joins.get(frame.id);
      if (!channel) return; // a join since replaced (left, or a re-join)
      this.#joins.delete(frame.id);
      channel.joined(frame);
    } else if (frame.t === 'pub') {
      this.#channels.get(frame.ch)?.published({ frame, checked });
    }
  }

  protected override answered(id: number, error: ChannelError): boolean {
    const channel = this.#joins.get(id);
    if (!channel) return false;
    this.#joins.delete(id);
    channel.refused(error);
    return true;
  }

  protected raw(message: DataMessage | ControlMessage): void {
    const listeners = this.#listeners.raw;
    if (listeners.size === 0) {
      this.fault(
        new ChannelError('not_envelope', 'a message that is not an envelope, and no raw listener'),
      );
      return;
    }
    for (const listener of listeners) listener(message);
  }

  protected fault(error: Error): void {
    for (const listener of this.#listeners.error) listener(error);
  }
}
