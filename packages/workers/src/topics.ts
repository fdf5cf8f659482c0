/**
 * A room's topic bus. Hibernatable sockets are found by their tags (`ctx.getWebSockets(topic)`)
 * and their attachment, so a publish reaches sleeping connections without waking anything but
 * the publisher; session connections (awake by definition) are kept in memory.
 */
import { type PublishOptions, prepare, type TopicBus, type WebSocketConnection } from '@anyws/core';

/** What the bus keeps of one hibernatable socket (the room's per-socket record). */
export interface TopicSocket {
  readonly ws: WebSocket;
  /** The subscribed topics, as kept in the attachment. */
  readonly topics: string[];
  /** The socket's tags, once it is accepted (tags are fixed at `acceptWebSocket`). */
  readonly tags: readonly string[] | null;
  /** The connection, when one was built in this life of the object. */
  readonly conn: WebSocketConnection<unknown> | undefined;
  /** Our close frame went out: nothing more is sent. */
  readonly closing: boolean;
}

/** The room, as the bus sees it. */
export interface TopicSockets {
  /** Sockets accepted with `tag` among their tags. */
  tagged(tag: string): WebSocket[];
  /** Every hibernatable socket of the object. */
  all(): WebSocket[];
  /** The record of a socket, from memory or its attachment; undefined for a socket not ours. */
  record(ws: WebSocket): TopicSocket | undefined;
  /** The record of a hibernatable connection; undefined for a session connection. */
  recordOf(conn: WebSocketConnection<unknown>): TopicSocket | undefined;
  /** Persists the record's topics (throws when they no longer fit the attachment). */
  saveTopics(record: TopicSocket): void;
}

/** The most tags workerd keeps per socket, and their longest length. */
export const MAX_TAGS = 10;
export const MAX_TAG_LENGTH = 256;

/** The topics that become a socket's tags at `acceptWebSocket`. */
export function tagsFor(topics: readonly string[]): string[] {
  return topics.filter((topic) => topic.length <= MAX_TAG_LENGTH).slice(0, MAX_TAGS);
}

function assertTopic(topic: string): void {
  if (typeof topic !== 'string' || topic === '')
    throw new TypeError('a topic is a non-empty string');
}

const OPEN = 1;

/** The {@link TopicBus} of a `WebSocketRoom`. */
export class RoomTopics implements TopicBus {
  /** Session connections by topic, and their topics. */
  readonly #awake = new Map<string, Set<WebSocketConnection<unknown>>>();
  readonly #awakeTopics = new Map<WebSocketConnection<unknown>, Set<string>>();
  /**
   * Subscriptions that are not tags (made after the socket was accepted, or past the tag
   * limit), by topic. Built from the attachments on first use after the object wakes.
   */
  #untagged: Map<string, Set<WebSocket>> | null = null;

  constructor(private readonly sockets: TopicSockets) {}

  subscribe(conn: WebSocketConnection<unknown>, topic: string): void {
    assertTopic(topic);
    if (conn.closed) return;
    const record = this.sockets.recordOf(conn);
    if (!record) {
      addTo(this.#awake, topic, conn);
      addTo(this.#awakeTopics, conn, topic);
      return;
    }
    if (record.topics.includes(topic)) return;
    record.topics.push(topic);
    try {
      this.sockets.saveTopics(record);
    } catch (error) {
      record.topics.pop();
      throw error;
    }
    if (record.tags && !record.tags.includes(topic)) this.#addUntagged(topic, record.ws);
  }

  unsubscribe(conn: WebSocketConnection<unknown>, topic: string): void {
    const record = this.sockets.recordOf(conn);
    if (!record) {
      this.#dropAwake(conn, topic);
      return;
    }
    const index = record.topics.indexOf(topic);
    if (index < 0) return;
    record.topics.splice(index, 1);
    this.#untagged?.get(topic)?.delete(record.ws);
    if (!conn.closed) this.sockets.saveTopics(record);
  }

  unsubscribeAll(conn: WebSocketConnection<unknown>): void {
    const record = this.sockets.recordOf(conn);
    if (record) {
      // The socket is gone with its attachment: only the index remembers it.
      this.forget(record.ws);
      return;
    }
    for (const topic of this.#awakeTopics.get(conn) ?? []) this.#dropAwake(conn, topic);
    this.#awakeTopics.delete(conn);
  }

  topicsOf(conn: WebSocketConnection<unknown>): readonly string[] {
    const record = this.sockets.recordOf(conn);
    return record ? [...record.topics] : [...(this.#awakeTopics.get(conn) ?? [])];
  }

  subscriberCount(topic: string): number {
    let count = this.#awake.get(topic)?.size ?? 0;
    this.#eachSubscriber(topic, () => {
      count++;
    });
    return count;
  }

  publish(topic: string, data: string | Uint8Array, options?: PublishOptions): number {
    assertTopic(topic);
    const message = prepare(data, options?.compress);
    const excluded = excludedSet(options?.exclude);
    let count = 0;
    this.#eachSubscriber(topic, (record) => {
      const conn = record.conn;
      if (conn) {
        if (!excluded.has(conn) && conn.sendPrepared(message)) count++;
        return;
      }
      // A sleeping connection (no object built for it in this life): straight to the socket.
      try {
        record.ws.send(message.data);
        count++;
      } catch {
        // Closing meanwhile: its webSocketClose follows.
      }
    });
    for (const conn of this.#awake.get(topic) ?? []) {
      if (!excluded.has(conn) && conn.sendPrepared(message)) count++;
    }
    return count;
  }

  /** A socket was accepted: its subscriptions beyond the tags go to the index. */
  accepted(record: TopicSocket): void {
    for (const topic of record.topics) {
      if (!record.tags?.includes(topic)) this.#addUntagged(topic, record.ws);
    }
  }

  /** Drops a socket that is gone. */
  forget(ws: WebSocket): void {
    if (!this.#untagged) return;
    for (const [topic, sockets] of this.#untagged) {
      if (sockets.delete(ws) && sockets.size === 0) this.#untagged.delete(topic);
    }
  }

  /**
   * Calls `visit` with each open, subscribed hibernatable socket of `topic`: tagged ones, then
   * the others. A socket is in the index for a topic only when the topic is not among its tags,
   * so none comes twice. A loop rather than a generator: a publish runs it for every subscriber.
   */
  #eachSubscriber(topic: string, visit: (record: TopicSocket) => void): void {
    this.#visit(this.sockets.tagged(topic), topic, visit);
    const untagged = this.#index().get(topic);
    if (untagged) this.#visit(untagged, topic, visit);
  }

  #visit(sockets: Iterable<WebSocket>, topic: string, visit: (record: TopicSocket) => void): void {
    for (const ws of sockets) {
      const record = this.sockets.record(ws);
      // Tags cannot be removed: the attachment says whether it is still subscribed.
      if (!record || record.closing || ws.readyState !== OPEN || !record.topics.includes(topic))
        continue;
      visit(record);
    }
  }

  #index(): Map<string, Set<WebSocket>> {
    if (this.#untagged) return this.#untagged;
    const index = new Map<string, Set<WebSocket>>();
    this.#untagged = index;
    for (const ws of this.sockets.all()) {
      const record = this.sockets.record(ws);
      if (record) this.accepted(record);
    }
    return index;
  }

  #addUntagged(topic: string, ws: WebSocket): void {
    // Without an index yet, the first publish builds it from the attachments.
    const index = this.#untagged;
    if (!index) return;
    addTo(index, topic, ws);
  }

  #dropAwake(conn: WebSocketConnection<unknown>, topic: string): void {
    const subscribers = this.#awake.get(topic);
    if (subscribers?.delete(conn) && subscribers.size === 0) this.#awake.delete(topic);
    this.#awakeTopics.get(conn)?.delete(topic);
  }
}

function addTo<K, V>(map: Map<K, Set<V>>, key: K, value: V): void {
  const set = map.get(key);
  if (set) set.add(value);
  else map.set(key, new Set([value]));
}

function excludedSet(
  exclude: PublishOptions['exclude'],
): ReadonlySet<WebSocketConnection<unknown>> {
  if (exclude === undefined) return new Set();
  if (typeof exclude === 'object' && exclude !== null && 'sendPrepared' in exclude) {
    return new Set([exclude as WebSocketConnection<unknown>]);
  }
  return new Set(exclude as Iterable<WebSocketConnection<unknown>>);
}
