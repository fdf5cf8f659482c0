/**
 * `RoomChannels`: core's channels served from a `WebSocketRoom`, in hook style, so that they
 * survive hibernation. Core's `ChannelServer` keeps its members in memory (one per process, fed
 * by a bus); a room's object may be a fresh instance at every event, so here a channel's members
 * are the room's topic subscriptions (socket tags and attachments), and a connection's peer is
 * made again from the connection when the object wakes. The envelope, validation, requests,
 * replies and hooks are core's (`ChannelHost`, `ChannelPeer`, `wire.ts`).
 */
import type { TopicBus, WebSocketConnection, WebSocketHandler } from '@anyws/core';
import {
  ChannelError,
  type ChannelHistory,
  type ChannelHooks,
  ChannelHost,
  type ChannelPeer,
  checkPublication,
  type DataIn,
  encodeFrame,
  encodePub,
  type KindOf,
  type MessageDefs,
  type StreamPosition,
} from '@anyws/core/channels';
import { AttachmentError } from './room.js';

/** Options of {@link RoomChannels}: core's channel hooks, the room's history and bus. */
export interface RoomChannelsOptions<M extends MessageDefs, C = unknown>
  extends ChannelHooks<M, C> {
  /** Where publications are kept: a `DurableObjectHistory` on the room's `ctx.storage`. */
  history: ChannelHistory;
  /** The room's topic bus (`this.topics` in a `WebSocketRoom`): a channel's members are its subscribers. */
  bus: TopicBus;
}

/**
 * Channels with recovery in a `WebSocketRoom`. Give the room `handler = channels.handler()`:
 *
 * ```ts
 * export class Chat extends WebSocketRoom<Env> {
 *   channels = new RoomChannels({
 *     messages,
 *     authorize: (peer, channel) => channel.startsWith('chat:'),
 *     history: new DurableObjectHistory(this.ctx.storage),
 *     bus: this.topics,
 *   });
 *   protected override handler = this.channels.handler();
 * }
 * ```
 *
 * A join reads the history, subscribes the connection to the channel's topic and sends the
 * replay in one step; a publish appends and fans out in one step; a channel's steps run one at
 * a time. The object is the only writer of its history, so a joining client gets what it missed
 * and then the live publications with no gap and no duplicate, without the buffering a server
 * across processes needs.
 *
 * A connection's requests to its client (`peer.request`) wait in memory: they end with the
 * life of the object, as a server's do with its process.
 */
export class RoomChannels<M extends MessageDefs, C = unknown> extends ChannelHost<M, C> {
  /** Where publications are kept. */
  readonly history: ChannelHistory;
  /** The room's topic bus. */
  readonly bus: TopicBus;
  /** Peers made in this life of the object. */
  readonly #peers = new WeakMap<WebSocketConnection<C>, ChannelPeer<M, C>>();
  /** Per channel, the last step (join or publish) queued: steps of one channel never interleave. */
  readonly #steps = new Map<string, Promise<unknown>>();

  constructor(options: RoomChannelsOptions<M, C>) {
    super(options);
    if (!options.history || !options.bus)
      throw new TypeError('RoomChannels needs a history (DurableObjectHistory) and the room bus');
    this.history = options.history;
    this.bus = options.bus;
  }

  /**
   * The room's handler: channel frames come from the `message` hook, so they reach a
   * connection the room made again after a wake; the hook waits for the joins and publishes
   * they start. `base` adds the other hooks (`upgrade`, `open`, `close`, `error`, `options`);
   * use the `raw` option for messages that are not envelopes.
   */
  handler(base: Omit<WebSocketHandler<C>, 'message' | 'session'> = {}): WebSocketHandler<C> {
    const close = base.close;
    return {
      ...base,
      message: (conn, message) => {
        const peer = this.peerOf(conn);
        peer.receive(message);
        return peer.idle();
      },
      close: (conn, code, reason) => {
        this.#peers.get(conn)?.closed();
        return close?.call(base, conn, code, reason);
      },
    };
  }

  /** The peer of `conn`, made on its first use in this life of the object. */
  peerOf(conn: WebSocketConnection<C>): ChannelPeer<M, C> {
    let peer = this.#peers.get(conn);
    if (!peer) {
      peer = this.newPeer(conn, true);
      this.#peers.set(conn, peer);
    }
    return peer;
  }

  /**
   * Publishes on `channel`: appended to the history, then sent to every member, in one step of
   * the channel. Resolves with the publication's position; rejects when the history fails, and
   * with a TypeError, before anything is kept, for an unknown kind, a channel name that is not a
   * string of 1 to 1,024 characters, or data that does not serialise as JSON.
   */
  async publish<K extends KindOf<M>>(
    channel: string,
    kind: K,
    data: DataIn<M, K>,
  ): Promise<StreamPosition> {
    const json = checkPublication(this.messages, channel, kind, data);
    return this.#step(channel, async () => {
      const position = await this.history.append(channel, kind, data);
      const text = encodePub(channel, position.epoch, position.offset, kind, json);
      await this.bus.publish(this.#topic(channel), text);
      return position;
    });
  }

  /** The channels `peer` is in (kept with its connection's topics, across hibernation). */
  channelsOf(peer: ChannelPeer<M, C>): string[] {
    const prefix = this.topicPrefix;
    const topics = peer.conn.closed ? [] : peer.conn.topics;
    return topics.filter((t) => t.startsWith(prefix)).map((t) => t.slice(prefix.length));
  }

  /** How many connections of the room are in `channel`. */
  memberCount(channel: string): number {
    return this.bus.subscriberCount(this.#topic(channel));
  }

  /** @internal A join frame: the history read, the membership and the replay in one step. */
  async join(
    peer: ChannelPeer<M, C>,
    id: number,
    channel: string,
    since?: StreamPosition,
  ): Promise<void> {
    if (!(await this.admit(peer, id, channel))) return;
    const conn = peer.conn;
    try {
      await this.#step(channel, async () => {
        const read = await this.history.read(channel, since);
        if (conn.closed) return;
        // First, as it may throw (the attachment is full) before anything is sent.
        try {
          conn.subscribe(this.#topic(channel));
        } catch (error) {
          if (!(error instanceof AttachmentError)) throw error;
          const full = `the connection's attachment holds no more channels (${error.message})`;
          this.reply(peer, id, new ChannelError('too_many_channels', full, undefined, channel));
          return;
        }
        const { epoch, recovered } = read;
        const offset = recovered && since ? since.offset : read.offset;
        send(conn, encodeFrame({ t: 'joined', id, ch: channel, epoch, offset, recovered }));
        if (!read.recovered) return;
        for (const { offset: at, kind, data } of read.entries)
          send(conn, encodePub(channel, epoch, at, kind, JSON.stringify(data)));
      });
    } catch (error) {
      this.unavailable(peer, id, channel, error);
    }
  }

  /** @internal A leave frame (idempotent). */
  leave(peer: ChannelPeer<M, C>, channel: string): void {
    if (!peer.conn.closed) peer.conn.unsubscribe(this.#topic(channel));
  }

  /** @internal The connection closed: the room drops its topics with it. */
  left(peer: ChannelPeer<M, C>): void {
    this.#peers.delete(peer.conn);
  }

  #topic(channel: string): string {
    return this.topicPrefix + channel;
  }

  /** Runs `step` after the channel's previous steps. */
  #step<T>(channel: string, step: () => Promise<T>): Promise<T> {
    const result = (this.#steps.get(channel) ?? Promise.resolve()).then(step);
    const done = result.catch(() => undefined);
    this.#steps.set(channel, done);
    void done.then(() => {
      if (this.#steps.get(channel) === done) this.#steps.delete(channel);
    });
    return result;
  }
}

function send(conn: WebSocketConnection<unknown>, text: string): void {
  conn.sendText(text).catch(() => undefined);
}
