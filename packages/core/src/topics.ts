import type { WebSocketConnection } from './connection.js';
import { toBytes } from './message.js';
import { PreparedMessage } from './transport.js';

/** Options of `publish`. */
export interface PublishOptions {
  /** Connections that do not get this message (typically the sender). */
  exclude?: WebSocketConnection<unknown> | Iterable<WebSocketConnection<unknown>>;
  /** Compress (where the runtime can), or not; left out: as each connection does. */
  compress?: boolean;
}

/**
 * Publish/subscribe between the connections of one server. Each runtime implements it its
 * best way; {@link LocalTopics} is the in-process one.
 */
export interface TopicBus {
  /** Adds `conn` to the subscribers of `topic` (a non-empty string); a closed connection is ignored. */
  subscribe(conn: WebSocketConnection<unknown>, topic: string): void;
  /** Removes `conn` from the subscribers of `topic`. */
  unsubscribe(conn: WebSocketConnection<unknown>, topic: string): void;
  /** Drops every subscription of `conn` (called when it closes). */
  unsubscribeAll(conn: WebSocketConnection<unknown>): void;
  /** The topics `conn` is subscribed to. */
  topicsOf(conn: WebSocketConnection<unknown>): readonly string[];
  /** Sends `data` to every subscriber of `topic` but the excluded; returns how many it went to. */
  publish(topic: string, data: string | Uint8Array, options?: PublishOptions): number;
  /** How many connections are subscribed to `topic`. */
  subscriberCount(topic: string): number;
}

function assertTopic(topic: string): void {
  if (typeof topic !== 'string' || topic === '')
    throw new TypeError('a topic is a non-empty string');
}

/**
 * The in-process topic bus. A publish encodes the message once (`PreparedMessage`), so a
 * transport that frames once for many sockets writes the same bytes to every subscriber.
 */
export class LocalTopics implements TopicBus {
  readonly #byTopic = new Map<string, Set<WebSocketConnection<unknown>>>();
  readonly #byConn = new WeakMap<WebSocketConnection<unknown>, Set<string>>();

  subscribe(conn: WebSocketConnection<unknown>, topic: string): void {
    assertTopic(topic);
    if (conn.closed) return;
    let subscribers = this.#byTopic.get(topic);
    if (!subscribers) {
      subscribers = new Set();
      this.#byTopic.set(topic, subscribers);
    }
    subscribers.add(conn);
    let topics = this.#byConn.get(conn);
    if (!topics) {
      topics = new Set();
      this.#byConn.set(conn, topics);
    }
    topics.add(topic);
  }

  unsubscribe(conn: WebSocketConnection<unknown>, topic: string): void {
    const subscribers = this.#byTopic.get(topic);
    if (subscribers?.delete(conn) && subscribers.size === 0) this.#byTopic.delete(topic);
    this.#byConn.get(conn)?.delete(topic);
  }

  unsubscribeAll(conn: WebSocketConnection<unknown>): void {
    const topics = this.#byConn.get(conn);
    if (!topics) return;
    for (const topic of topics) {
      const subscribers = this.#byTopic.get(topic);
      if (subscribers?.delete(conn) && subscribers.size === 0) this.#byTopic.delete(topic);
    }
    this.#byConn.delete(conn);
  }

  topicsOf(conn: WebSocketConnection<unknown>): readonly string[] {
    return [...(this.#byConn.get(conn) ?? [])];
  }

  subscriberCount(topic: string): number {
    return this.#byTopic.get(topic)?.size ?? 0;
  }

  publish(topic: string, data: string | Uint8Array, options?: PublishOptions): number {
    assertTopic(topic);
    const subscribers = this.#byTopic.get(topic);
    if (!subscribers) return 0;
    const message = prepare(data, options?.compress);
    const exclude = options?.exclude;
    let count = 0;
    if (exclude === undefined) {
      for (const conn of subscribers) if (conn.sendPrepared(message)) count++;
      return count;
    }
    const excluded = isConnection(exclude) ? new Set([exclude]) : new Set(exclude);
    for (const conn of subscribers) {
      if (!excluded.has(conn) && conn.sendPrepared(message)) count++;
    }
    return count;
  }
}

function isConnection(value: unknown): value is WebSocketConnection<unknown> {
  return typeof value === 'object' && value !== null && 'sendPrepared' in value;
}

/** Wraps publish data once; a TypeError for anything but a string or bytes. */
export function prepare(data: string | Uint8Array, compress?: boolean): PreparedMessage {
  if (typeof data === 'string') return new PreparedMessage(data, false, compress);
  const bytes = toBytes(data);
  if (!bytes) throw new TypeError('publish() takes a string or bytes');
  return new PreparedMessage(bytes, true, compress);
}
