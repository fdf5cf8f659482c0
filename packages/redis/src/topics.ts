import type { Buffer } from 'node:buffer';
import {
  exclusion,
  LocalTopics,
  type PublishOptions,
  prepare,
  type TopicBus,
  type WebSocketConnection,
} from '@anyws/core';
import { createClient, type RedisClientOptions } from 'redis';
import { withDeadline } from './deadline.js';
import { RedisTopicsError, reasonOf } from './errors.js';
import { MEMBERS_SCRIPT, PUBLISH_SCRIPT, REMOTE_COUNT_SCRIPT, SYNC_SCRIPT } from './scripts.js';
import { decode, encode } from './wire.js';

type Conn = WebSocketConnection<unknown>;
type RedisClient = ReturnType<typeof createClient>;

/** Options of {@link RedisTopics.connect}. */
export interface RedisTopicsOptions {
  /** The Redis server, e.g. `redis://127.0.0.1:6379` (the default). */
  url?: string;
  /** More node-redis client options (TLS, auth, …); `url` wins over theirs. */
  client?: RedisClientOptions;
  /** Prefix of every key and channel the bus uses. Default `'anyws'`. */
  prefix?: string;
  /**
   * How long a publish or a presence read waits for Redis before rejecting with a
   * `RedisTopicsError` of reason `'timeout'`, in ms. Also bounds `connect`. Default 5000.
   */
  timeout?: number;
  /**
   * How long the members of a process that stopped without closing its bus (killed, frozen,
   * cut off) stay in presence, at most, in ms. The process refreshes its liveness every third
   * of it. Default 10_000.
   */
  presenceTtl?: number;
  /** What presence shows of a member, as JSON. Default: the connection's `context`. */
  presenceData?: (conn: Conn) => unknown;
  /**
   * Told of every failure: publishes that rejected (their promise rejects too, but a caller
   * that ignores it does not crash the process) and failed background writes. Default: one
   * `console.error` line per outage.
   */
  onError?: (error: RedisTopicsError) => void;
}

/** A subscriber of a topic, in any process. */
export interface PresenceMember<D = unknown> {
  /** The connection's `id` (usable in `exclude`). */
  id: string;
  /** The bus (process) that holds the connection. */
  process: string;
  /** What `presenceData` gave for it (JSON). */
  data: D;
}

/** Counters for tests and monitoring. */
export interface RedisTopicsStats {
  /** Channels this process is subscribed to in Redis now: one per topic with local subscribers. */
  channels: number;
  /** SUBSCRIBE commands sent since the bus started. */
  subscribes: number;
  /** UNSUBSCRIBE commands sent since the bus started. */
  unsubscribes: number;
  /** Times the presence of this process was written again whole (after a reconnect, restart or failed write). */
  resyncs: number;
}

const DEFAULT_URL = 'redis://127.0.0.1:6379';

function assertTopic(topic: string): void {
  if (typeof topic !== 'string' || topic === '')
    throw new TypeError('a topic is a non-empty string');
}

// Redis comes back quickly after a restart: retry soon, never wait more than a second.
const reconnectStrategy = (retries: number): number => Math.min(50 * 2 ** retries, 1000);

/**
 * core's `TopicBus` across processes on Redis (or Valkey) Pub/Sub, from Node and Deno: pass it
 * as `topics` to any server. Subscriptions are local (each process keeps its own subscribers,
 * as `LocalTopics` does) and one Redis channel per topic carries publishes between processes.
 *
 * - A process subscribes to a topic's channel once, when its first local subscriber comes, and
 *   unsubscribes when the last one leaves.
 * - A publish goes to the local subscribers at once (framed once), then as one PUBLISH to the
 *   other processes, each of which frames it once for its own subscribers. Messages of one
 *   publisher on one topic arrive in the order published.
 * - `exclude` names connections of any process by their `id`.
 * - `publish` resolves with the local subscribers it went to plus the remote subscribers Redis
 *   knew of when it took the message; it rejects with a {@link RedisTopicsError} when Redis is
 *   unreachable or slower than `timeout`: never hangs, never drops a message silently.
 * - Presence: `members(topic)` and `count(topic)` across processes. A process that dies
 *   without closing the bus leaves presence within `presenceTtl`.
 * - After a reconnect (or a Redis restart) the bus resubscribes its channels and writes its
 *   presence again by itself. Pub/Sub does not replay: what was published while a process was
 *   cut off from Redis does not reach that process's subscribers.
 */
export class RedisTopics implements TopicBus {
  /** This bus's id in Redis (one per bus, so one per process in the usual setup). */
  readonly processId: string = globalThis.crypto.randomUUID();
  readonly #local = new LocalTopics();
  readonly #cmd: RedisClient;
  readonly #sub: RedisClient;
  readonly #prefix: string;
  readonly #alivePrefix: string;
  readonly #aliveKey: string;
  readonly #ttl: number;
  readonly #timeout: number;
  readonly #presenceData: (conn: Conn) => unknown;
  readonly #onError: (error: RedisTopicsError) => void;
  /** Per topic: the Redis work (subscribe, presence writes) in the order it was asked for. */
  readonly #chains = new Map<string, Promise<void>>();
  /** Topics whose channel we asked Redis for (SUBSCRIBE sent, no UNSUBSCRIBE since). */
  readonly #channels = new Set<string>();
  /** Topics whose presence write failed: written whole at the next heartbeat that succeeds. */
  readonly #dirty = new Set<string>();
  /** Presence values already made, by connection. */
  readonly #values = new WeakMap<Conn, string>();
  #heartbeat: ReturnType<typeof setInterval> | undefined;
  #closed = false;
  #quiet = false;
  #stats = { subscribes: 0, unsubscribes: 0, resyncs: 0 };

  private constructor(options: RedisTopicsOptions) {
    this.#prefix = options.prefix ?? 'anyws';
    this.#alivePrefix = `${this.#prefix}:alive:`;
    this.#aliveKey = this.#alivePrefix + this.processId;
    this.#ttl = options.presenceTtl ?? 10_000;
    if (!(this.#ttl >= 300)) throw new RangeError('presenceTtl is at least 300 ms');
    this.#presenceData = options.presenceData ?? ((conn) => conn.context);
    this.#onError = options.onError ?? ((error) => this.#log(error));
    const timeout = options.timeout ?? 5000;
    this.#timeout = timeout;
    const base: RedisClientOptions = {
      ...options.client,
      url: options.url ?? options.client?.url ?? DEFAULT_URL,
      socket: {
        connectTimeout: timeout,
        reconnectStrategy,
        ...options.client?.socket,
      } as RedisClientOptions['socket'],
    };
    // Commands fail fast while disconnected (a publish must not wait for a Redis that may
    // never come back). node-redis's own command timeout ends when a command is written, so
    // the bus sets its own deadline on the reply (see #deadline).
    this.#cmd = createClient({ ...base, disableOfflineQueue: true }) as RedisClient;
    // The subscriber queues while disconnected, and node-redis subscribes its channels again
    // on every reconnect.
    this.#sub = createClient(base) as RedisClient;
    // A client without an 'error' listener throws on every connection error.
    this.#cmd.on('error', () => undefined);
    this.#sub.on('error', () => undefined);
    this.#cmd.on('ready', () => {
      this.#quiet = false;
      this.#beat();
    });
  }

  /**
   * Connects to Redis and starts the bus's heartbeat. Rejects with a `RedisTopicsError`
   * (`'unavailable'`) when Redis cannot be reached within `timeout`.
   */
  static async connect(options: RedisTopicsOptions = {}): Promise<RedisTopics> {
    const bus = new RedisTopics(options);
    const timeout = options.timeout ?? 5000;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new RedisTopicsError('unavailable', '', `could not connect to Redis in ${timeout} ms`),
          ),
        timeout,
      );
    });
    try {
      await Promise.race([Promise.all([bus.#cmd.connect(), bus.#sub.connect()]), deadline]);
    } catch (error) {
      bus.#cmd.destroy();
      bus.#sub.destroy();
      throw error instanceof RedisTopicsError
        ? error
        : new RedisTopicsError('unavailable', '', 'could not connect to Redis', { cause: error });
    } finally {
      clearTimeout(timer);
    }
    bus.#heartbeat = setInterval(() => bus.#beat(), Math.floor(bus.#ttl / 3));
    // A heartbeat must not keep a process alive that has nothing else to do.
    (bus.#heartbeat as { unref?: () => void }).unref?.();
    return bus;
  }

  /**
   * Both connections to Redis are up right now. Just after a reconnect, the channels may still
   * be subscribing again: a message published in that instant can miss this process.
   */
  get connected(): boolean {
    return this.#cmd.isReady && this.#sub.isReady;
  }

  /** Counters, for tests and monitoring. */
  get stats(): RedisTopicsStats {
    return { channels: this.#channels.size, ...this.#stats };
  }

  subscribe(conn: Conn, topic: string): void {
    assertTopic(topic);
    if (this.#closed) throw new RedisTopicsError('closed', topic, 'the topic bus is closed');
    const before = this.#local.subscriberCount(topic);
    this.#local.subscribe(conn, topic);
    const after = this.#local.subscriberCount(topic);
    if (after === before) return; // closed connection, or subscribed already
    if (!this.#channels.has(topic)) {
      this.#channels.add(topic);
      this.#stats.subscribes++;
      const channel = this.#channel(topic);
      const listener = (message: Buffer) => this.#receive(topic, message);
      this.#enqueue(topic, () => this.#sub.subscribe(channel, listener, true));
    }
    const id = conn.id;
    const value = this.#value(conn);
    this.#enqueue(topic, () =>
      this.#cmd
        .multi()
        .hSet(this.#membersKey(topic), id, value)
        .hSet(this.#countsKey(topic), this.processId, String(this.#local.subscriberCount(topic)))
        .exec()
        .then(() => undefined),
    );
  }

  unsubscribe(conn: Conn, topic: string): void {
    const before = this.#local.subscriberCount(topic);
    this.#local.unsubscribe(conn, topic);
    if (this.#local.subscriberCount(topic) !== before) this.#left(conn, topic);
  }

  unsubscribeAll(conn: Conn): void {
    const topics = this.#local.topicsOf(conn);
    this.#local.unsubscribeAll(conn);
    for (const topic of topics) this.#left(conn, topic);
  }

  topicsOf(conn: Conn): readonly string[] {
    return this.#local.topicsOf(conn);
  }

  /** Subscribers of `topic` in this process; {@link count} counts all processes. */
  subscriberCount(topic: string): number {
    return this.#local.subscriberCount(topic);
  }

  /**
   * Publishes to every subscriber of `topic` in every process but the excluded. Resolves with
   * the local subscribers it went to plus the remote subscribers Redis knew of when it took
   * the message. Rejects with a {@link RedisTopicsError} when Redis did not take it (the local
   * subscribers have it already: `error.delivered`). A TypeError for a bad topic or data.
   */
  publish(topic: string, data: string | Uint8Array, options?: PublishOptions): Promise<number> {
    assertTopic(topic);
    const ids = options?.exclude === undefined ? [] : [...exclusion(options.exclude).ids];
    // Checks the data (TypeError) before anything is sent.
    const prepared = prepare(data);
    const message = encode(this.processId, prepared.data, ids, options?.compress);
    const delivered = this.#local.publish(topic, data, options);
    if (this.#closed) {
      return this.#fail(
        new RedisTopicsError('closed', topic, 'the topic bus is closed', { delivered }),
      );
    }
    const sent = this.#cmd.eval(PUBLISH_SCRIPT, {
      keys: [this.#membersKey(topic), this.#countsKey(topic)],
      arguments: [this.processId, this.#alivePrefix, this.#channel(topic), message, ...ids],
    }) as Promise<unknown>;
    const result = this.#deadline(sent, topic, 'publish', delivered).then(
      (remote) => delivered + Number(remote),
    );
    // Rejects for whoever awaits it; one who does not is told through onError, and an
    // unawaited rejection does not crash the process.
    result.catch((error: RedisTopicsError) => this.#onError(error));
    return result;
  }

  /**
   * The subscribers of `topic` in all processes, with their presence data, as Redis holds them
   * once this process's own earlier joins and leaves are written. Members of processes that
   * died are left out (and deleted).
   */
  async members<D = unknown>(topic: string): Promise<PresenceMember<D>[]> {
    assertTopic(topic);
    await this.#settled(topic);
    const flat = (await this.#read(topic, MEMBERS_SCRIPT, [this.#alivePrefix])) as string[];
    const members: PresenceMember<D>[] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) {
      const value = String(flat[i + 1]);
      const newline = value.indexOf('\n');
      let data: unknown = null;
      try {
        data = JSON.parse(value.slice(newline + 1));
      } catch {
        // Written by something else than this bus: shown without data.
      }
      members.push({ id: String(flat[i]), process: value.slice(0, newline), data: data as D });
    }
    return members;
  }

  /** How many connections are subscribed to `topic` in all live processes. */
  async count(topic: string): Promise<number> {
    assertTopic(topic);
    await this.#settled(topic);
    const remote = await this.#read(topic, REMOTE_COUNT_SCRIPT, [
      this.processId,
      this.#alivePrefix,
    ]);
    return this.#local.subscriberCount(topic) + Number(remote);
  }

  /**
   * Leaves Redis: this process's presence is deleted, its channels unsubscribed, its
   * connections to Redis closed. Local subscriptions stay (the server closes its connections).
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#heartbeat);
    // Each step bounded by `timeout`: closing must not wait for a Redis that is gone.
    await this.#atMost(Promise.allSettled(this.#chains.values()));
    if (this.#cmd.isReady) {
      const topics = new Set([...this.#channels, ...this.#dirty]);
      await this.#atMost(
        Promise.allSettled([
          this.#cmd.del(this.#aliveKey),
          ...[...topics].map((topic) =>
            this.#cmd.eval(SYNC_SCRIPT, {
              keys: [this.#membersKey(topic), this.#countsKey(topic)],
              arguments: [this.processId, '0'],
            }),
          ),
        ]),
      );
    }
    this.#channels.clear();
    await this.#atMost(Promise.allSettled([this.#cmd.close(), this.#sub.close()]));
    this.#cmd.destroy();
    this.#sub.destroy();
  }

  // ---- internals ---------------------------------------------------------------------------

  #channel(topic: string): string {
    return `${this.#prefix}:t:${topic}`;
  }
  #membersKey(topic: string): string {
    return `${this.#prefix}:m:${topic}`;
  }
  #countsKey(topic: string): string {
    return `${this.#prefix}:n:${topic}`;
  }

  #value(conn: Conn): string {
    let value = this.#values.get(conn);
    if (value === undefined) {
      let json: string | undefined;
      try {
        json = JSON.stringify(this.#presenceData(conn));
      } catch {
        // Not JSON (a cycle, a bigint): the member is shown without data.
      }
      value = `${this.processId}\n${json ?? 'null'}`;
      this.#values.set(conn, value);
    }
    return value;
  }

  #left(conn: Conn, topic: string): void {
    const remaining = this.#local.subscriberCount(topic);
    const id = conn.id;
    // The count goes down before the channel is left: a publish is never counted for a
    // process that no longer listens.
    this.#enqueue(topic, () => {
      const multi = this.#cmd.multi().hDel(this.#membersKey(topic), id);
      if (remaining > 0)
        multi.hSet(
          this.#countsKey(topic),
          this.processId,
          String(this.#local.subscriberCount(topic)),
        );
      else multi.hDel(this.#countsKey(topic), this.processId);
      return multi.exec().then(() => undefined);
    });
    if (remaining === 0 && this.#channels.delete(topic)) {
      this.#stats.unsubscribes++;
      const channel = this.#channel(topic);
      this.#enqueue(topic, () => this.#sub.unsubscribe(channel));
    }
  }

  /** Runs `work` after the topic's earlier work; a failure marks the topic for a resync. */
  #enqueue(topic: string, work: () => Promise<unknown>): void {
    const previous = this.#chains.get(topic) ?? Promise.resolve();
    const next = previous.then(work).then(
      () => undefined,
      (error: unknown) => {
        this.#dirty.add(topic);
        this.#onError(
          new RedisTopicsError(reasonOf(error), topic, 'a presence write failed; retried', {
            cause: error,
          }),
        );
      },
    );
    this.#chains.set(topic, next);
    // Forget a finished chain, so that the map holds only topics with work in flight.
    void next.then(() => {
      if (this.#chains.get(topic) === next) this.#chains.delete(topic);
    });
  }

  /**
   * Waits for the topic's earlier work, at most `timeout`: a subscribe queued while Redis is
   * down waits for the reconnect, and a read must not (it then fails fast on its own).
   */
  async #settled(topic: string): Promise<void> {
    if (this.#closed) throw new RedisTopicsError('closed', topic, 'the topic bus is closed');
    const chain = this.#chains.get(topic);
    if (chain) await this.#atMost(chain);
  }

  /** `work`, or nothing once `timeout` has passed. */
  async #atMost(work: Promise<unknown>): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const expired = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, this.#timeout);
    });
    await Promise.race([work.then(() => undefined), expired]);
    clearTimeout(timer);
  }

  #read(topic: string, script: string, args: string[]): Promise<unknown> {
    const reply = this.#cmd.eval(script, {
      keys: [this.#membersKey(topic), this.#countsKey(topic)],
      arguments: args,
    }) as Promise<unknown>;
    return this.#deadline(reply, topic, 'presence read', 0);
  }

  /**
   * `reply`, or a `RedisTopicsError` when it fails or takes longer than `timeout` (Redis hung
   * with the socket open). A command that timed out may still run in Redis later.
   */
  #deadline<T>(reply: Promise<T>, topic: string, what: string, delivered: number): Promise<T> {
    return withDeadline(
      reply,
      this.#timeout,
      () =>
        new RedisTopicsError(
          'timeout',
          topic,
          `${what} on ${JSON.stringify(topic)}: no answer from Redis in ${this.#timeout} ms`,
          { delivered },
        ),
      (error) =>
        new RedisTopicsError(
          reasonOf(error),
          topic,
          `${what} on ${JSON.stringify(topic)} did not reach Redis: ${error instanceof Error ? error.message : String(error)}`,
          { cause: error, delivered },
        ),
    );
  }

  #receive(topic: string, message: Buffer): void {
    const decoded = decode(message);
    // Our own publishes reached the local subscribers already.
    if (!decoded || decoded.origin === this.processId) return;
    const options: PublishOptions = {};
    if (decoded.exclude) options.exclude = decoded.exclude;
    if (decoded.compress !== undefined) options.compress = decoded.compress;
    this.#local.publish(topic, decoded.data, options);
  }

  /**
   * Refreshes this process's liveness. When the key was gone (Redis restarted, or the process
   * was frozen past the TTL and swept) or a write failed, presence is written again whole.
   */
  #beat(): void {
    if (this.#closed || !this.#cmd.isReady) return;
    this.#cmd
      .sendCommand(['SET', this.#aliveKey, '1', 'PX', String(this.#ttl), 'GET'])
      .then((previous) => {
        const topics =
          previous === null ? new Set([...this.#channels, ...this.#dirty]) : new Set(this.#dirty);
        this.#dirty.clear();
        for (const topic of topics) this.#resync(topic);
      })
      .catch((error: unknown) => {
        // Disconnected: the next beat (or 'ready') tries again. Refused (a Redis older than
        // 6.2 has no SET … GET): every member of this process would look dead, so say it.
        if (reasonOf(error) === 'rejected')
          this.#onError(
            new RedisTopicsError('rejected', '', 'the presence heartbeat was refused', {
              cause: error,
            }),
          );
      });
  }

  #resync(topic: string): void {
    this.#stats.resyncs++;
    this.#enqueue(topic, () => {
      const args = [this.processId, String(this.#local.subscriberCount(topic))];
      for (const conn of this.#local.subscribersOf(topic)) args.push(conn.id, this.#value(conn));
      return this.#cmd.eval(SYNC_SCRIPT, {
        keys: [this.#membersKey(topic), this.#countsKey(topic)],
        arguments: args,
      });
    });
  }

  #fail(error: RedisTopicsError): Promise<never> {
    const rejected = Promise.reject(error);
    rejected.catch((e: RedisTopicsError) => this.#onError(e));
    return rejected;
  }

  #log(error: RedisTopicsError): void {
    if (this.#quiet) return;
    this.#quiet = true; // until the next 'ready'
    console.error(`@anyws/redis: ${error.message}`);
  }
}
