/**
 * `DurableObjectHistory`: channel history in a Durable Object's storage, so that a room's
 * clients recover what they missed across hibernation, eviction and restarts of the object.
 */
import {
  type ChannelHistory,
  type HistoryEntry,
  type HistoryRead,
  historyBounds,
  type StreamPosition,
} from '@anyws/core/channels';

/** Options of {@link DurableObjectHistory}. */
export interface DurableObjectHistoryOptions {
  /** Most publications kept per channel. Default 1,000. */
  maxLength?: number;
  /** Publications older than this many ms are not replayed, and are deleted. Default 300,000 (5 minutes). */
  maxAge?: number;
  /** Prefix of the storage keys, apart from the object's other keys. Default `'anyws.history:'`. */
  prefix?: string;
  /** Makes a new channel's epoch. Default: a random UUID. */
  epoch?: (channel: string) => string;
}

/** A channel's head, stored under its meta key. */
interface Meta {
  readonly epoch: string;
  /** The last offset given out (0: none yet). */
  offset: number;
  /** The lowest offset still stored (`offset + 1` when none is). */
  oldest: number;
}

/** One publication as stored. */
interface Stored {
  readonly kind: string;
  readonly data: unknown;
  /** When it was appended (`Date.now()`). */
  readonly at: number;
}

/** Keys one `storage.delete` takes at most. */
const DELETE_BATCH = 128;
/** Entries one age trim looks at. */
const AGE_BATCH = 128;

/**
 * A {@link ChannelHistory} in Durable Object storage (`ctx.storage`, through the key-value API both backends have). Per
 * channel, a head (its epoch, last offset and oldest kept offset) and one key per publication,
 * bounded by length on each append and by age (entries past `maxAge` are never replayed, and
 * are deleted in batches as the channel is appended to).
 *
 * A channel's epoch is made and stored on its first use, so a client's position stays valid
 * across evictions and restarts of the object, and a wiped storage gives a new epoch (the
 * client is told `recovered: false`). The head is cached in memory for the object's life: the
 * object is the only writer of its storage. Wipe storage (`deleteAll()`) only together with a
 * restart of the object (`ctx.abort()`), or the cached heads outlive it.
 *
 * The publication and the head are written together (one coalesced, atomic write); the
 * platform's output gate holds every message the object sends meanwhile until the write is
 * durable, so no client sees a publication the history could lose.
 *
 * A storage key holds at most 2,048 bytes: a channel name longer than about 1,900 bytes of
 * UTF-8 cannot be kept (its append rejects).
 */
export class DurableObjectHistory implements ChannelHistory {
  readonly #storage: DurableObjectStorage;
  readonly #maxLength: number;
  readonly #maxAge: number;
  readonly #prefix: string;
  readonly #epoch: (channel: string) => string;
  /** Heads by channel, loaded (or made) once per life of the object. */
  readonly #heads = new Map<string, Promise<Meta>>();
  /** When each channel's entries were last trimmed by age (in this life of the object). */
  readonly #trimmed = new Map<string, number>();

  constructor(storage: DurableObjectStorage, options: DurableObjectHistoryOptions = {}) {
    const { maxLength, maxAge } = historyBounds(options);
    this.#storage = storage;
    this.#maxLength = maxLength;
    this.#maxAge = maxAge;
    this.#prefix = options.prefix ?? 'anyws.history:';
    this.#epoch = options.epoch ?? (() => crypto.randomUUID());
  }

  async append(channel: string, kind: string, data: unknown): Promise<StreamPosition> {
    const head = await this.#head(channel);
    const now = Date.now();
    // Synchronous from here to the writes: concurrent appends get consecutive offsets.
    head.offset++;
    const dropped: string[] = [];
    while (head.offset - head.oldest + 1 > this.#maxLength)
      dropped.push(this.#key(channel, head.oldest++));
    const stored: Stored = { kind, data, at: now };
    const writes: Promise<unknown>[] = [
      this.#storage.put<unknown>({
        [this.#metaKey(channel)]: { ...head },
        [this.#key(channel, head.offset)]: stored,
      }),
    ];
    for (let i = 0; i < dropped.length; i += DELETE_BATCH)
      writes.push(this.#storage.delete(dropped.slice(i, i + DELETE_BATCH)));
    try {
      await Promise.all(writes);
    } catch (error) {
      // The cached head may be ahead of what was stored: read it again next time.
      this.#heads.delete(channel);
      throw error;
    }
    await this.#trimByAge(channel, head, now);
    return { epoch: head.epoch, offset: head.offset };
  }

  async read(channel: string, since?: StreamPosition): Promise<HistoryRead> {
    const head = await this.#head(channel);
    const { epoch, offset } = head;
    if (!since || since.epoch !== epoch || since.offset > offset)
      return { recovered: false, epoch, offset };
    if (since.offset === offset) return { recovered: true, epoch, offset, entries: [] };
    if (since.offset + 1 < head.oldest) return { recovered: false, epoch, offset };
    const found = await this.#storage.list<Stored>({
      start: this.#key(channel, since.offset + 1),
      end: this.#key(channel, offset + 1),
    });
    const entries: HistoryEntry[] = [];
    const oldestKept = Date.now() - this.#maxAge;
    let expected = since.offset + 1;
    for (const [key, value] of found) {
      // A gap (trimmed meanwhile) or an entry past its age: the position cannot be recovered.
      if (key !== this.#key(channel, expected) || value.at < oldestKept)
        return { recovered: false, epoch, offset };
      entries.push({ offset: expected++, kind: value.kind, data: value.data });
    }
    if (expected !== offset + 1) return { recovered: false, epoch, offset };
    return { recovered: true, epoch, offset, entries };
  }

  /** The channel's head: cached, else stored, else a new epoch (stored at once). */
  #head(channel: string): Promise<Meta> {
    let head = this.#heads.get(channel);
    if (!head) {
      head = this.#loadHead(channel);
      this.#heads.set(channel, head);
      head.catch(() => this.#heads.delete(channel));
    }
    return head;
  }

  async #loadHead(channel: string): Promise<Meta> {
    const key = this.#metaKey(channel);
    const stored = await this.#storage.get<Meta>(key);
    if (stored) return { epoch: stored.epoch, offset: stored.offset, oldest: stored.oldest };
    // Stored before it is used: a position given out in this epoch stays valid after a restart.
    const head: Meta = { epoch: this.#epoch(channel), offset: 0, oldest: 1 };
    await this.#storage.put(key, { ...head });
    return head;
  }

  /** Deletes entries past `maxAge` from the oldest on, at most once per quarter of `maxAge`. */
  async #trimByAge(channel: string, head: Meta, now: number): Promise<void> {
    if ((this.#trimmed.get(channel) ?? 0) > now - this.#maxAge / 4) return;
    this.#trimmed.set(channel, now);
    const first = head.oldest;
    const found = await this.#storage.list<Stored>({
      start: this.#key(channel, first),
      end: this.#key(channel, head.offset + 1),
      limit: AGE_BATCH,
    });
    const dropped: string[] = [];
    for (const [key, value] of found) {
      if (value.at >= now - this.#maxAge) break;
      dropped.push(key);
    }
    // Another append may have trimmed meanwhile: only move the head forward.
    if (dropped.length === 0 || head.oldest !== first) return;
    head.oldest = first + dropped.length;
    await Promise.all([
      this.#storage.delete(dropped),
      this.#storage.put(this.#metaKey(channel), { ...head }),
    ]);
  }

  #metaKey(channel: string): string {
    return `${this.#prefix}h:${channel}`;
  }

  /**
   * An entry's key: the channel's length keeps one channel's keys from being a prefix of
   * another's, and offsets padded to 16 digits list in numeric order.
   */
  #key(channel: string, offset: number): string {
    return `${this.#prefix}e:${String(channel.length)}:${channel}:${String(offset).padStart(16, '0')}`;
  }
}
