/**
 * core's `ChannelHistory` on Redis: one stream per channel, so that a client that reconnects to
 * any process (or to a process that restarted) recovers what it missed.
 */
import type {
  ChannelHistory,
  HistoryEntry,
  HistoryRead,
  StreamPosition,
} from '@anyws/core/channels';
import { createClient, type RedisClientOptions } from 'redis';
import { withDeadline } from './deadline.js';
import { type RedisTopicsErrorReason, reasonOf } from './errors.js';
import { APPEND_SCRIPT, READ_SCRIPT } from './history-scripts.js';

type RedisClient = ReturnType<typeof createClient>;

/**
 * An append or read of a {@link RedisHistory} that did not get its answer from Redis. A
 * `ChannelServer` answers the client with `history_unavailable`; the connection stays open.
 */
export class RedisHistoryError extends Error {
  /** `'RedisHistoryError'`. */
  override name = 'RedisHistoryError';
  /** Why it failed (the reasons of `RedisTopicsError`). */
  readonly reason: RedisTopicsErrorReason;
  /** The channel concerned ('' for `connect`). */
  readonly channel: string;

  constructor(
    reason: RedisTopicsErrorReason,
    channel: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.reason = reason;
    this.channel = channel;
  }
}

/** Options of {@link RedisHistory.connect}. */
export interface RedisHistoryOptions {
  /** The Redis server, e.g. `redis://127.0.0.1:6379` (the default). */
  url?: string;
  /** More node-redis client options (TLS, auth, …); `url` wins over theirs. */
  client?: RedisClientOptions;
  /** Prefix of every key the history uses. Default `'anyws'` (as `RedisTopics`). */
  prefix?: string;
  /** Most publications a client can recover per channel. Default 1,000. */
  maxLength?: number;
  /** Publications older than this many ms are not recovered. Default 300,000 (5 minutes). */
  maxAge?: number;
  /**
   * A channel with no publication for this many ms is forgotten in Redis (its keys expire); its
   * next join or publication starts a new epoch. At least `maxAge`. Default 86,400,000 (a day).
   */
  idleTtl?: number;
  /**
   * How long an append or read waits for Redis before rejecting with a `RedisHistoryError` of
   * reason `'timeout'`, in ms. Also bounds `connect`. Default 5000.
   */
  timeout?: number;
}

const DEFAULT_URL = 'redis://127.0.0.1:6379';
// Redis comes back quickly after a restart: retry soon, never wait more than a second.
const reconnectStrategy = (retries: number): number => Math.min(50 * 2 ** retries, 1000);

function randomEpoch(): string {
  const bytes = globalThis.crypto.getRandomValues(new Uint8Array(8));
  let out = '';
  for (const byte of bytes) out += byte.toString(16).padStart(2, '0');
  return out;
}

/**
 * A channel's history in Redis, shared by every process on the same Redis: pass it as
 * `history` to core's `ChannelServer` (with a `RedisTopics` as its `bus`).
 *
 * Per channel there are two keys: a stream `<prefix>:h:{<channel>}` (one entry per
 * publication, with its offset, kind and data) and a hash `<prefix>:h:{<channel>}:e` (the
 * channel's epoch and last offset). Every append and read is one Lua script, so:
 *
 * - **Offsets are dense**: the hash's counter goes up by one per append (HINCRBY in the script
 *   that adds the entry), 1 for the first publication of an epoch, whichever process appends.
 * - **Bounds**: the stream is trimmed on each append with `MAXLEN ~ maxLength` and
 *   `MINID ~ <now − maxAge>` (stream ids are Redis's clock, the same for every process).
 *   Trimming is approximate (whole nodes of the stream), so Redis may hold a little more; a
 *   read never recovers past `maxLength` publications or `maxAge` ms, so what a client gets
 *   does not depend on that.
 * - **Epochs**: the epoch lives in the hash, made when the channel is first joined or
 *   published to. When the channel's keys are gone (Redis restarted without persistence, a
 *   flush, `idleTtl` passed) or its stream vanished while the hash remained (a deleted key),
 *   the next join or append starts a new epoch from offset 0, so that no client's old position
 *   is taken for a current one: it gets `recovered: false`.
 * - **Cost** of a read grows with what the client missed (`XREVRANGE … COUNT missed`), not with
 *   the channel's history nor with other channels' traffic.
 */
export class RedisHistory implements ChannelHistory {
  readonly #client: RedisClient;
  readonly #prefix: string;
  readonly #maxLength: number;
  readonly #maxAge: number;
  readonly #idleTtl: number;
  readonly #timeout: number;
  #closed = false;

  private constructor(options: RedisHistoryOptions) {
    const { maxLength = 1000, maxAge = 300_000, timeout = 5000 } = options;
    const idleTtl = options.idleTtl ?? Math.max(86_400_000, maxAge);
    if (!Number.isSafeInteger(maxLength) || maxLength < 0)
      throw new RangeError('maxLength must be an integer >= 0');
    if (!Number.isSafeInteger(maxAge) || maxAge < 0)
      throw new RangeError('maxAge must be an integer >= 0 (ms)');
    if (!Number.isSafeInteger(idleTtl) || idleTtl < Math.max(maxAge, 1))
      throw new RangeError('idleTtl must be an integer >= maxAge and >= 1 (ms)');
    if (!(timeout > 0)) throw new RangeError('timeout must be > 0 (ms)');
    this.#prefix = options.prefix ?? 'anyws';
    this.#maxLength = maxLength;
    this.#maxAge = maxAge;
    this.#idleTtl = idleTtl;
    this.#timeout = timeout;
    // Commands fail fast while disconnected, so that a join or publish is answered with
    // `history_unavailable` rather than waiting for a Redis that may not come back.
    this.#client = createClient({
      ...options.client,
      url: options.url ?? options.client?.url ?? DEFAULT_URL,
      disableOfflineQueue: true,
      socket: {
        connectTimeout: timeout,
        reconnectStrategy,
        ...options.client?.socket,
      } as RedisClientOptions['socket'],
    }) as RedisClient;
    // A client without an 'error' listener throws on every connection error.
    this.#client.on('error', () => undefined);
  }

  /**
   * Connects to Redis. Rejects with a `RedisHistoryError` (`'unavailable'`) when Redis cannot
   * be reached within `timeout`; a RangeError for bad bounds.
   */
  static async connect(options: RedisHistoryOptions = {}): Promise<RedisHistory> {
    const history = new RedisHistory(options);
    try {
      await history.#deadline(history.#client.connect(), '', 'connect');
    } catch (error) {
      history.#client.destroy();
      throw new RedisHistoryError(
        'unavailable',
        '',
        `could not connect to Redis in ${String(history.#timeout)} ms`,
        { cause: error },
      );
    }
    return history;
  }

  /** Connected to Redis right now. */
  get connected(): boolean {
    return this.#client.isReady;
  }

  async append(channel: string, kind: string, data: unknown): Promise<StreamPosition> {
    // '' stands for undefined (no data), which JSON cannot say: it comes back as undefined.
    const json = JSON.stringify(data) ?? '';
    const reply = (await this.#run(channel, 'append', APPEND_SCRIPT, [
      ...this.#shared(),
      kind,
      json,
    ])) as [string, number];
    return { epoch: String(reply[0]), offset: Number(reply[1]) };
  }

  async read(channel: string, since?: StreamPosition): Promise<HistoryRead> {
    const reply = (await this.#run(channel, 'read', READ_SCRIPT, [
      ...this.#shared(),
      since ? since.epoch : '',
      since ? String(since.offset) : '-1',
    ])) as [string, number, number, ...string[]];
    const epoch = String(reply[0]);
    const offset = Number(reply[1]);
    if (Number(reply[2]) !== 1) return { recovered: false, epoch, offset };
    const entries: HistoryEntry[] = [];
    // The script gives the entries newest first, as (offset, kind, data JSON) triples.
    for (let i = reply.length - 3; i >= 3; i -= 3) {
      entries.push({
        offset: Number(reply[i]),
        kind: String(reply[i + 1]),
        data: reply[i + 2] === '' ? undefined : (JSON.parse(String(reply[i + 2])) as unknown),
      });
    }
    return { recovered: true, epoch, offset, entries };
  }

  /** Forgets a channel in Redis: its next join or publication starts a new epoch. */
  async reset(channel: string): Promise<void> {
    const [stream, meta] = this.#keys(channel);
    await this.#deadline(this.#client.del([stream, meta]), channel, 'reset');
  }

  /** Closes the connection to Redis (the history in Redis stays). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#client.close().catch(() => undefined);
    this.#client.destroy();
  }

  /** The arguments every script takes first (see history-scripts.ts). */
  #shared(): string[] {
    return [randomEpoch(), String(this.#idleTtl), String(this.#maxLength), String(this.#maxAge)];
  }

  /** The stream and the epoch hash of a channel (sharing a hash tag). */
  #keys(channel: string): [string, string] {
    const stream = `${this.#prefix}:h:{${channel}}`;
    return [stream, `${stream}:e`];
  }

  #run(channel: string, what: string, script: string, args: string[]): Promise<unknown> {
    if (this.#closed)
      return Promise.reject(new RedisHistoryError('closed', channel, 'the history is closed'));
    const reply = this.#client.eval(script, { keys: this.#keys(channel), arguments: args });
    return this.#deadline(reply as Promise<unknown>, channel, what);
  }

  /**
   * `reply`, or a `RedisHistoryError` when it fails or takes longer than `timeout`. An append
   * that timed out but ran later is in the stream: members that notice its offset missing read
   * it there.
   */
  #deadline<T>(reply: Promise<T>, channel: string, what: string): Promise<T> {
    const on = channel === '' ? '' : ` on ${JSON.stringify(channel)}`;
    return withDeadline(
      reply,
      this.#timeout,
      () =>
        new RedisHistoryError(
          'timeout',
          channel,
          `history ${what}${on}: no answer from Redis in ${String(this.#timeout)} ms`,
        ),
      (error) =>
        new RedisHistoryError(
          reasonOf(error),
          channel,
          `history ${what}${on} failed: ${error instanceof Error ? error.message : String(error)}`,
          { cause: error },
        ),
    );
  }
}
