/**
 * History per channel: what a reconnecting client missed. The interface is async so that
 * stores across processes (a Redis stream, Durable Object storage) implement it as well as the
 * in-process {@link MemoryHistory}.
 */
import type { StreamPosition } from './wire.js';

/** One publication kept in a channel's history. */
export interface HistoryEntry {
  /** Its offset in the channel (1 for the first publication of an epoch). */
  readonly offset: number;
  /** Its message kind. */
  readonly kind: string;
  /** Its data, as published (JSON-serialisable). */
  readonly data: unknown;
}

/** What {@link ChannelHistory.read} found. */
export type HistoryRead =
  | {
      /** Every publication after the position asked for is in `entries`. */
      readonly recovered: true;
      /** The channel's epoch (the one asked for). */
      readonly epoch: string;
      /** The channel's last offset when read. */
      readonly offset: number;
      /** The publications after the position asked for, in order, up to `offset`. */
      readonly entries: readonly HistoryEntry[];
    }
  | {
      /** No position was given, the history no longer holds it, or the epoch changed. */
      readonly recovered: false;
      /** The channel's current epoch. */
      readonly epoch: string;
      /** The channel's last offset when read. */
      readonly offset: number;
    };

/**
 * Where a channel's publications are kept for recovery. Offsets of one epoch are consecutive
 * integers from 1; a store that loses its contents (a restart, a flush) starts a new epoch, so
 * that a client's old position is never mistaken for a current one.
 */
export interface ChannelHistory {
  /** Keeps a publication; resolves with its position (the channel's epoch and its offset). */
  append(channel: string, kind: string, data: unknown): Promise<StreamPosition>;
  /**
   * The publications after `since`, or `recovered: false` (with the current position) when
   * `since` is missing, trimmed away, ahead of the channel, or of another epoch.
   */
  read(channel: string, since?: StreamPosition): Promise<HistoryRead>;
}

/** Options of {@link MemoryHistory}. */
export interface MemoryHistoryOptions {
  /** Most publications kept per channel. Default 1,000. */
  maxLength?: number;
  /** Publications older than this many ms are dropped. Default 300,000 (5 minutes). */
  maxAge?: number;
  /** Makes a new channel's epoch. Default: 16 random hex digits. */
  epoch?: (channel: string) => string;
}

/**
 * A history's bounds with their defaults (1,000 publications, 5 minutes), the same for every
 * kind of history; throws a RangeError for a `maxLength` that is not an integer >= 0 or a
 * `maxAge` that is not >= 0.
 */
export function historyBounds(options: { maxLength?: number; maxAge?: number }): {
  maxLength: number;
  maxAge: number;
} {
  const { maxLength = 1000, maxAge = 300_000 } = options;
  if (!Number.isSafeInteger(maxLength) || maxLength < 0)
    throw new RangeError('maxLength must be an integer >= 0');
  if (!(maxAge >= 0)) throw new RangeError('maxAge must be >= 0 (ms)');
  return { maxLength, maxAge };
}

interface Kept extends HistoryEntry {
  /** When it was appended (`Date.now()`). */
  readonly at: number;
}

/** One channel's ring: `items[head..]` are kept, with consecutive offsets ending at `offset`. */
interface Ring {
  readonly epoch: string;
  offset: number;
  items: Kept[];
  head: number;
}

function randomEpoch(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(8));
  let out = '';
  for (const byte of bytes) out += byte.toString(16).padStart(2, '0');
  return out;
}

/**
 * History in this process's memory: a bounded ring per channel, trimmed by length and by age
 * (age checked on each append and read, against `Date.now()`). It lives as long as the object:
 * a new `MemoryHistory` (a restart) has new epochs. A channel's epoch and last offset are kept
 * after its publications age out, so a client that missed nothing still recovers.
 */
export class MemoryHistory implements ChannelHistory {
  readonly #maxLength: number;
  readonly #maxAge: number;
  readonly #epoch: (channel: string) => string;
  readonly #rings = new Map<string, Ring>();

  constructor(options: MemoryHistoryOptions = {}) {
    const { maxLength, maxAge } = historyBounds(options);
    this.#maxLength = maxLength;
    this.#maxAge = maxAge;
    this.#epoch = options.epoch ?? randomEpoch;
  }

  append(channel: string, kind: string, data: unknown): Promise<StreamPosition> {
    const ring = this.#ring(channel);
    const now = Date.now();
    ring.offset++;
    ring.items.push({ offset: ring.offset, kind, data, at: now });
    if (ring.items.length - ring.head > this.#maxLength) ring.head++;
    this.#trim(ring, now);
    return Promise.resolve({ epoch: ring.epoch, offset: ring.offset });
  }

  read(channel: string, since?: StreamPosition): Promise<HistoryRead> {
    const ring = this.#ring(channel);
    this.#trim(ring, Date.now());
    const { epoch, offset } = ring;
    if (!since || since.epoch !== epoch || since.offset > offset) {
      return Promise.resolve({ recovered: false, epoch, offset });
    }
    const oldest = ring.items[ring.head]?.offset ?? offset + 1;
    if (since.offset + 1 < oldest) return Promise.resolve({ recovered: false, epoch, offset });
    const from = ring.head + (since.offset + 1 - oldest);
    const entries = ring.items
      .slice(from)
      .map(({ offset: o, kind, data }): HistoryEntry => ({ offset: o, kind, data }));
    return Promise.resolve({ recovered: true, epoch, offset, entries });
  }

  /** Forgets a channel: its next publication starts a new epoch (as after a restart). */
  reset(channel: string): void {
    this.#rings.delete(channel);
  }

  #ring(channel: string): Ring {
    let ring = this.#rings.get(channel);
    if (!ring) {
      ring = { epoch: this.#epoch(channel), offset: 0, items: [], head: 0 };
      this.#rings.set(channel, ring);
    }
    return ring;
  }

  #trim(ring: Ring, now: number): void {
    const items = ring.items;
    while (ring.head < items.length && now - items[ring.head]!.at > this.#maxAge) ring.head++;
    // Drop the dead prefix once it is most of the array: amortised O(1) per append.
    if (ring.head > 32 && ring.head * 2 > items.length) {
      ring.items = items.slice(ring.head);
      ring.head = 0;
    }
  }
}
