/**
 * The server side of channels: `new ChannelServer({ messages, authorize, ... })`, then
 * `channels.serve(conn)` on any connection of any runtime (or `channels.handler()` as a handler).
 */
import type { WebSocketConnection } from '../connection.js';
import type { WebSocketHandler } from '../handler.js';
import type { ControlMessage, DataMessage } from '../message.js';
import { WSMsgType } from '../protocol.js';
import { LocalTopics, type TopicBus } from '../topics.js';
import { Endpoint, invalid, type RequestHandlers, type Validated } from './endpoint.js';
import { ChannelError } from './errors.js';
import { Feed, type FeedHost } from './feed.js';
import { type ChannelHistory, MemoryHistory } from './history.js';
import type { AnyMessage, DataIn, KindOf, MessageDefs } from './schema.js';
import {
  type ClientFrame,
  encodeFrame,
  encodePub,
  errorFrame,
  isChannel,
  type PublishFrame,
  type StreamPosition,
} from './wire.js';

/** What a client asks to do on a channel. */
export type ChannelAction = 'join' | 'publish';

/**
 * The hooks and limits of a server of channels, whatever its shape: a {@link ChannelServer}
 * (one per process), or a Durable Object room's (`RoomChannels` of `@anyws/workers`).
 */
export interface ChannelHooks<M extends MessageDefs, C = unknown> {
  /** The message definitions, shared with the clients. */
  messages: M;
  /**
   * Decides whether `peer` may join or publish on `channel` (its upgrade context is
   * `peer.context`). Required: nothing is allowed by default. A throw refuses too.
   */
  authorize(
    peer: ChannelPeer<M, C>,
    channel: string,
    action: ChannelAction,
  ): boolean | Promise<boolean>;
  /** Prefix of the bus topic of each channel. Default `'anyws.channel:'`. */
  topicPrefix?: string;
  /** Most channels one connection may be in; a join past it gets `too_many_channels`. Default 100. */
  maxChannels?: number;
  /** Handlers of the requests clients send. */
  requests?: RequestHandlers<M, ChannelPeer<M, C>>;
  /** A one-way typed message from a client. */
  message?(peer: ChannelPeer<M, C>, message: AnyMessage<M>): void;
  /**
   * A message that is not an envelope, unchanged. Without this hook it is answered with an
   * `error` frame `not_envelope` (PING/PONG, which reach here only with `autoping: false`, are
   * left alone), and the connection stays open.
   */
  raw?(peer: ChannelPeer<M, C>, message: DataMessage | ControlMessage): void;
  /** An error of a peer nobody waits for (a failing hook, the client's error frame). */
  error?(peer: ChannelPeer<M, C>, error: Error): void;
}

/** Options of a {@link ChannelServer}. */
export interface ChannelServerOptions<M extends MessageDefs, C = unknown>
  extends ChannelHooks<M, C> {
  /** Where publications are kept for recovery. Default: a `MemoryHistory` of this process. */
  history?: ChannelHistory;
  /** The bus publications travel on (a Redis bus across processes). Default: a `LocalTopics`. */
  bus?: TopicBus;
}

/** The server's side of one connection: its joins, and requests and messages to its client. */
export class ChannelPeer<M extends MessageDefs, C = unknown> extends Endpoint<
  M,
  ChannelPeer<M, C>,
  ClientFrame
> {
  readonly #host: ChannelHost<M, C>;
  /** Per-peer chain of publishes, so that one client's publications keep their order. */
  #publishing: Promise<void> = Promise.resolve();
  /** Joins and publishes under way (see {@link ChannelPeer.idle}). */
  readonly #work = new Set<Promise<void>>();

  /**
   * Made by its host. `hooked`: the host hands the connection's messages and its close to
   * {@link ChannelPeer.receive} and {@link ChannelPeer.closed} (from a handler's hooks) instead
   * of the peer listening to the connection.
   */
  constructor(
    host: ChannelHost<M, C>,
    /** The connection. */
    readonly conn: WebSocketConnection<C>,
    requests: RequestHandlers<M, ChannelPeer<M, C>> | undefined,
    hooked = false,
  ) {
    super('server', host.messages, requests);
    this.#host = host;
    this.onMessage((message) => host.message(this, message));
    if (hooked) return;
    conn.on('message', (message) => this.take(message));
    conn.on('close', () => this.closed());
  }

  /** The connection's context, from the `upgrade` hook. */
  get context(): C {
    return this.conn.context;
  }

  /** The channels this connection is in. */
  get channels(): string[] {
    return this.#host.channelsOf(this);
  }

  /** Takes a message of the connection (a hooked peer's host calls it from the `message` hook). */
  receive(message: DataMessage | ControlMessage): void {
    this.take(message);
  }

  /** The connection closed: its requests end, and it leaves its channels. */
  closed(): void {
    this.dropPending();
    this.#host.left(this);
  }

  /**
   * Resolves once the joins and publishes this peer's frames started are done, or returns
   * undefined when none is under way: a host whose runtime ends an event when its hook returns
   * (a Durable Object) returns it from the hook (an event with nothing to wait for ends at once).
   */
  idle(): Promise<void> | undefined {
    return this.#work.size > 0 ? this.#idle() : undefined;
  }

  async #idle(): Promise<void> {
    while (this.#work.size > 0) await Promise.allSettled([...this.#work]);
  }

  protected get connection(): WebSocketConnection<unknown> {
    return this.conn as WebSocketConnection<unknown>;
  }
  protected get peer(): ChannelPeer<M, C> {
    return this;
  }

  protected handle({ frame, checked }: Validated<ClientFrame>): void {
    const host = this.#host;
    switch (frame.t) {
      case 'join':
        this.#track(host.join(this, frame.id, frame.ch, frame.since));
        return;
      case 'leave':
        host.leave(this, frame.ch);
        return;
      case 'pub':
        if (!checked.ok) {
          this.answer(errorFrame(invalid(frame.kind, checked.issues), frame.id));
          return;
        }
        this.#publishing = this.#publishing.then(() => this.#publish(frame, checked.value));
        this.#track(this.#publishing);
        return;
    }
  }

  #track(work: Promise<void>): void {
    this.#work.add(work);
    void work.finally(() => this.#work.delete(work));
  }

  async #publish(frame: PublishFrame, data: unknown): Promise<void> {
    if (!(await this.#host.allowed(this, frame.ch, 'publish'))) {
      this.answer(errorFrame(forbidden(frame.ch, 'publish'), frame.id));
      return;
    }
    try {
      const position = await this.#host.publish(
        frame.ch,
        frame.kind as KindOf<M>,
        data as DataIn<M, KindOf<M>>,
      );
      this.answer({ t: 'res', id: frame.id, data: position });
    } catch (error) {
      this.answer(errorFrame(unavailable(frame.ch), frame.id));
      this.fault(error instanceof Error ? error : new Error(String(error)));
    }
  }

  protected raw(message: DataMessage | ControlMessage): void {
    this.#host.raw(this, message);
  }

  protected fault(error: Error): void {
    this.#host.fault(this, error);
  }
}

/**
 * What every server of channels shares, whatever keeps its members: the hooks (authorize,
 * messages, raw, errors) and the per-connection limit. {@link ChannelServer} keeps members in
 * this process's memory; a Durable Object room keeps them with its sockets.
 */
export abstract class ChannelHost<M extends MessageDefs, C = unknown> {
  /** The message definitions. */
  readonly messages: M;
  /** Prefix of the bus topic of each channel. */
  protected readonly topicPrefix: string;
  /** Most channels one connection may be in. */
  protected readonly maxChannels: number;
  readonly #hooks: ChannelHooks<M, C>;

  constructor(hooks: ChannelHooks<M, C>) {
    if (typeof hooks.authorize !== 'function') {
      throw new TypeError(`${new.target.name} needs an authorize(peer, channel, action) hook`);
    }
    this.#hooks = hooks;
    this.messages = hooks.messages;
    this.topicPrefix = hooks.topicPrefix ?? 'anyws.channel:';
    this.maxChannels = hooks.maxChannels ?? 100;
    if (!Number.isSafeInteger(this.maxChannels) || this.maxChannels < 1)
      throw new RangeError('maxChannels must be an integer >= 1');
  }

  /** Publishes on `channel`; resolves with the publication's position. */
  abstract publish<K extends KindOf<M>>(
    channel: string,
    kind: K,
    data: DataIn<M, K>,
  ): Promise<StreamPosition>;

  /** The channels `peer` is in. */
  abstract channelsOf(peer: ChannelPeer<M, C>): string[];

  /** @internal A join frame: answered with `joined` and the replay, or an `error` frame. */
  abstract join(
    peer: ChannelPeer<M, C>,
    id: number,
    channel: string,
    since?: StreamPosition,
  ): Promise<void>;

  /** @internal A leave frame (idempotent). */
  abstract leave(peer: ChannelPeer<M, C>, channel: string): void;

  /** @internal The connection of `peer` closed. */
  abstract left(peer: ChannelPeer<M, C>): void;

  /** A new peer for `conn` (`hooked`: see the {@link ChannelPeer} constructor). */
  protected newPeer(conn: WebSocketConnection<C>, hooked = false): ChannelPeer<M, C> {
    return new ChannelPeer(this, conn, this.#hooks.requests, hooked);
  }

  /**
   * The checks of a join before it reads anything: the authorize hook (`forbidden`), the
   * connection still open, and the per-connection limit (`too_many_channels`). False when the
   * join ends here (answered with an `error` frame where there is someone to answer).
   */
  protected async admit(peer: ChannelPeer<M, C>, id: number, channel: string): Promise<boolean> {
    if (!(await this.allowed(peer, channel, 'join'))) {
      this.reply(peer, id, forbidden(channel, 'join'));
      return false;
    }
    if (peer.conn.closed) return false;
    const channels = this.channelsOf(peer);
    if (channels.length < this.maxChannels || channels.includes(channel)) return true;
    const limit = `a connection may be in at most ${String(this.maxChannels)} channels`;
    this.reply(peer, id, new ChannelError('too_many_channels', limit, undefined, channel));
    return false;
  }

  /** A join whose history failed: `history_unavailable` to the client, the error to the `error` hook. */
  protected unavailable(
    peer: ChannelPeer<M, C>,
    id: number,
    channel: string,
    error: unknown,
  ): void {
    this.reply(peer, id, unavailable(channel));
    this.fault(peer, error instanceof Error ? error : new Error(String(error)));
  }

  /** Answers frame `id` of `peer` with `error`. */
  protected reply(peer: ChannelPeer<M, C>, id: number, error: ChannelError): void {
    peer.conn.sendText(encodeFrame(errorFrame(error, id))).catch(() => undefined);
  }

  /** @internal Asks the authorize hook; a throw is a refusal (and reported). */
  async allowed(peer: ChannelPeer<M, C>, channel: string, action: ChannelAction): Promise<boolean> {
    try {
      return (await this.#hooks.authorize(peer, channel, action)) === true;
    } catch (error) {
      this.fault(peer, error instanceof Error ? error : new Error(String(error)));
      return false;
    }
  }

  /** @internal */
  message(peer: ChannelPeer<M, C>, message: AnyMessage<M>): void {
    this.#hooks.message?.(peer, message);
  }

  /** @internal */
  raw(peer: ChannelPeer<M, C>, message: DataMessage | ControlMessage): void {
    if (this.#hooks.raw) this.#hooks.raw(peer, message);
    else if (message.type === WSMsgType.TEXT || message.type === WSMsgType.BINARY) {
      const error = new ChannelError('not_envelope', 'this server takes channel envelopes only');
      peer.conn.sendText(encodeFrame(errorFrame(error))).catch(() => undefined);
    }
  }

  /** @internal */
  fault(peer: ChannelPeer<M, C>, error: Error): void {
    this.#hooks.error?.(peer, error);
  }
}

/**
 * Channels on the server: joins authorised by a hook, publications kept in a history and fanned
 * out through a topic bus, replay of what a reconnecting client missed, typed messages and
 * requests. One per application (per process); `serve(conn)` each connection.
 */
export class ChannelServer<M extends MessageDefs, C = unknown> extends ChannelHost<M, C> {
  /** Where publications are kept. */
  readonly history: ChannelHistory;
  /** The bus publications travel on. */
  readonly bus: TopicBus;
  readonly #feeds = new Map<string, Feed>();
  readonly #joined = new Map<ChannelPeer<M, C>, Set<string>>();
  readonly #host: FeedHost;
  readonly #peers = new WeakMap<WebSocketConnection<unknown>, ChannelPeer<M, C>>();

  constructor(options: ChannelServerOptions<M, C>) {
    super(options);
    this.history = options.history ?? new MemoryHistory();
    this.bus = options.bus ?? new LocalTopics();
    this.#host = {
      history: this.history,
      bus: this.bus,
      emptied: (feed) => {
        if (this.#feeds.get(feed.channel) === feed) this.#feeds.delete(feed.channel);
      },
      fault: (conn, error) => {
        const peer = this.#peers.get(conn);
        if (peer) this.fault(peer, error);
      },
    };
  }

  /** Serves channels on `conn` (open, on the server side); returns its peer. */
  serve(conn: WebSocketConnection<C>): ChannelPeer<M, C> {
    const peer = this.newPeer(conn);
    this.#peers.set(conn as WebSocketConnection<unknown>, peer);
    return peer;
  }

  /**
   * A handler that serves channels on each connection; `base` adds the other hooks (`upgrade`,
   * `open`, `close`, `error`, `options`). Messages belong to channels: use the `raw` option for
   * those that are not envelopes.
   */
  handler(base: Omit<WebSocketHandler<C>, 'message' | 'session'> = {}): WebSocketHandler<C> {
    const open = base.open;
    return {
      ...base,
      open: (conn) => {
        this.serve(conn);
        return open?.call(base, conn);
      },
    };
  }

  /**
   * Publishes on `channel`: kept in the history first (which gives its epoch and offset), then
   * sent through the bus to every connection in the channel, in every process on the bus.
   * Resolves with the publication's position; rejects when the history or the bus fails, and
   * with a TypeError, before anything is kept, for an unknown kind, a channel name that is not a
   * string of 1 to 1,024 characters, or data that does not serialise as JSON.
   */
  async publish<K extends KindOf<M>>(
    channel: string,
    kind: K,
    data: DataIn<M, K>,
  ): Promise<StreamPosition> {
    const json = checkPublication(this.messages, channel, kind, data);
    const position = await this.history.append(channel, kind, data);
    const text = encodePub(channel, position.epoch, position.offset, kind, json);
    await this.bus.publish(this.topicPrefix + channel, text);
    return position;
  }

  /** The channels `peer` is in. */
  channelsOf(peer: ChannelPeer<M, C>): string[] {
    return [...(this.#joined.get(peer) ?? [])];
  }

  /** How many connections of this process are in `channel`. */
  memberCount(channel: string): number {
    return this.#feeds.get(channel)?.size ?? 0;
  }

  /** @internal A join frame. */
  async join(
    peer: ChannelPeer<M, C>,
    id: number,
    channel: string,
    since?: StreamPosition,
  ): Promise<void> {
    if (!(await this.admit(peer, id, channel))) return;
    let feed = this.#feeds.get(channel);
    if (!feed) {
      feed = new Feed(channel, this.topicPrefix + channel, this.#host);
      this.#feeds.set(channel, feed);
    }
    let channels = this.#joined.get(peer);
    if (!channels) {
      channels = new Set();
      this.#joined.set(peer, channels);
    }
    channels.add(channel);
    try {
      await feed.join(peer.conn as WebSocketConnection<unknown>, id, since);
    } catch (error) {
      channels.delete(channel);
      this.unavailable(peer, id, channel, error);
    }
  }

  /** @internal A leave frame (idempotent). */
  leave(peer: ChannelPeer<M, C>, channel: string): void {
    this.#joined.get(peer)?.delete(channel);
    this.#feeds.get(channel)?.leave(peer.conn as WebSocketConnection<unknown>);
  }

  /** @internal The connection of `peer` closed. */
  left(peer: ChannelPeer<M, C>): void {
    for (const channel of this.#joined.get(peer) ?? [])
      this.#feeds.get(channel)?.leave(peer.conn as WebSocketConnection<unknown>);
    this.#joined.delete(peer);
  }
}

/**
 * Checks a publication before anything is kept, for every server of channels (this one, a
 * Durable Object room's): throws a TypeError for a kind `messages` lacks, a channel name that is
 * not a string of 1 to 1,024 characters, or data that does not serialise as JSON. Returns the
 * data's JSON (undefined for none), for `encodePub`.
 */
export function checkPublication(
  messages: MessageDefs,
  channel: string,
  kind: string,
  data: unknown,
): string | undefined {
  if (!Object.hasOwn(messages, kind))
    throw new TypeError(`no message kind '${kind}' in the definition`);
  if (!isChannel(channel)) throw new TypeError('a channel is a string of 1 to 1,024 characters');
  return JSON.stringify(data) as string | undefined;
}

/** The error of a join or publish the `authorize` hook refused. */
function forbidden(channel: string, action: ChannelAction): ChannelError {
  return new ChannelError('forbidden', `not allowed to ${action} '${channel}'`, undefined, channel);
}

/** The error of a join or publish whose history failed. */
function unavailable(channel: string): ChannelError {
  return new ChannelError(
    'history_unavailable',
    `channel '${channel}': the history is unavailable`,
    undefined,
    channel,
  );
}
