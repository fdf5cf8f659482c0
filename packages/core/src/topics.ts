import type { WebSocketConnection } from './connection.js';
import { toBytes } from './message.js';
import { PreparedMessage } from './transport.js';

/** A connection to leave out of a publish: the connection itself, or its `id` (which names it in any process). */
export type Excluded = WebSocketConnection<unknown> | string;

/** Options of `publish`. */
export interface PublishOptions {
  /**
   * Connections that do not get this message (typically the sender). A connection of another
   * process is named by its `id`, a string unique across processes.
   */
  exclude?: Excluded | Iterable<Excluded>;
  /** Compress (where the runtime can), or not; left out: as each connection does. */
  compress?: boolean;
}

/**
 * Publish/subscribe between the connections of one server, or of many (a bus that spans
 * processes, such as @anyws/redis). {@link LocalTopics} is the in-process one.
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
  /**
   * Sends `data` to every subscriber of `topic` but the excluded; returns how many it went to.
   * An in-process bus answers at once; a bus that spans processes returns a promise, which
   * rejects when the message could not be handed to the other processes. A TypeError (bad
   * topic or data) is thrown either way, before anything is sent.
   */
  publish(
    topic: string,
    data: string | Uint8Array,
    options?: PublishOptions,
  ): number | Promise<number>;
  /** How many connections of this process are subscribed to `topic`. */
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

  /** The connections subscribed to `topic` (a copy). */
  subscribersOf(topic: string): WebSocketConnection<unknown>[] {
    return [...(this.#byTopic.get(topic) ?? [])];
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
    const { connections, ids } = exclusion(exclude);
    for (const conn of subscribers) {
      if (connections.has(conn) || (ids.size > 0 && ids.has(conn.id))) continue;
      if (conn.sendPrepared(message)) count++;
    }
    return count;
  }
}

/** `PublishOptions.exclude` sorted into connections and ids (one string is one id, not its characters). */
export function exclusion(exclude: PublishOptions['exclude']): {
  connections: Set<WebSocketConnection<unknown>>;
  ids: Set<string>;
} {
  const connections = new Set<WebSocketConnection<unknown>>();
  const ids = new Set<string>();
  const add = (item: Excluded): void => {
    if (typeof item === 'string') ids.add(item);
    else connections.add(item);
  };
  if (exclude === undefined) return { connections, ids };
  if (typeof exclude === 'string' || isConnection(exclude)) add(exclude);
  else for (const item of exclude) add(item);
  return { connections, ids };
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
