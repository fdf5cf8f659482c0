/**
 * One channel's live feed in this process, and the replay that joins a connection to it with
 * no gap and no duplicate.
 *
 * The topic bus delivers a channel's publications to one tap per process (an in-process
 * connection without a socket); the feed hands each to its members in offset order, framed once
 * for all. A member that joins (or finds a gap) is "catching up": live publications are buffered
 * for it while the history is read from its position; the history's entries go out first, then
 * the buffer, each offset at most once, and then it is live.
 */
import { WebSocketConnection } from '../connection.js';
import { prepare, type TopicBus } from '../topics.js';
import type {
  PreparedMessage,
  Transport,
  TransportCapabilities,
  TransportSink,
} from '../transport.js';
import { ChannelError } from './errors.js';
import type { ChannelHistory, HistoryRead } from './history.js';
import { encodeFrame, errorFrame, type StreamPosition } from './wire.js';

/** A live publication as the tap got it. */
interface Live {
  readonly epoch: string;
  readonly offset: number;
  readonly message: PreparedMessage;
}

/** Most live publications held for one member while it catches up; past it, the history refills. */
const MAX_HELD = 1000;
/** History reads that may try to fill a gap before the feed accepts it (see `#drain`). */
const MAX_REFILLS = 3;

/** A connection in a channel. */
export interface Member {
  readonly conn: WebSocketConnection<unknown>;
  /** The position delivered up to (null until the first read). */
  epoch: string | null;
  last: number;
  /** Non-null while catching up: live publications held meanwhile. */
  held: Live[] | null;
  /** More was held than fits: read the history again after the buffer. */
  overflowed: boolean;
}

const TAP_CAPABILITIES: TransportCapabilities = Object.freeze({
  pingFrames: true,
  forcedAutoPong: false,
  forcedCloseReply: false,
  validatesCloseCodes: false,
  enforcesMaxMessageSize: false,
  backpressure: false,
  pauseReading: false,
});

/** The transport of a tap: what the bus sends to it goes to the feed. */
class TapTransport implements Transport {
  readonly capabilities = TAP_CAPABILITIES;
  readonly url = 'anyws://channel-tap';
  readonly protocol = '';
  readonly extensions = '';
  readonly bufferedAmount = 0;
  constructor(readonly feed: Feed) {}
  start(_sink: TransportSink): void {}
  sendText(data: string): void {
    this.feed.arrived(prepare(data));
  }
  sendPrepared(message: PreparedMessage): void {
    if (!message.binary) this.feed.arrived(message);
  }
  sendBytes(): void {}
  close(): void {}
  terminate(): void {}
}

/** Where a feed sends what it has to say besides publications. */
export interface FeedHost {
  readonly history: ChannelHistory;
  readonly bus: TopicBus;
  /** A feed with no members left. */
  emptied(feed: Feed): void;
  /** An error nobody waits for (a failed history read of a live member). */
  fault(conn: WebSocketConnection<unknown>, error: Error): void;
}

/** One channel in this process: its tap on the bus and its members. */
export class Feed {
  readonly #members = new Map<WebSocketConnection<unknown>, Member>();
  readonly #tap: WebSocketConnection<unknown>;

  constructor(
    readonly channel: string,
    readonly topic: string,
    readonly host: FeedHost,
  ) {
    this.#tap = new WebSocketConnection({ transport: new TapTransport(this), side: 'server' });
    host.bus.subscribe(this.#tap, topic);
  }

  /** How many connections are in the channel here. */
  get size(): number {
    return this.#members.size;
  }

  /**
   * Joins `conn` from `since` (none: from now). Resolves once the `joined` answer (carrying
   * `id`) and the replay are sent; rejects when the history cannot be read (the member is gone).
   */
  async join(
    conn: WebSocketConnection<unknown>,
    id: number,
    since?: StreamPosition,
  ): Promise<void> {
    // In the feed (holding live publications) before the history is read: nothing falls between.
    const member: Member = { conn, epoch: null, last: 0, held: [], overflowed: false };
    // A join again replaces the member: its earlier catch-up sees that and stops.
    this.#members.set(conn, member);
    try {
      await this.#catchUp(member, since, id);
    } catch (error) {
      if (this.#members.get(conn) === member) this.leave(conn);
      throw error;
    }
  }

  /** Removes `conn`; the last one out takes the tap off the bus. */
  leave(conn: WebSocketConnection<unknown>): boolean {
    if (!this.#members.delete(conn)) return false;
    if (this.#members.size === 0) {
      this.host.bus.unsubscribe(this.#tap, this.topic);
      this.host.emptied(this);
    }
    return true;
  }

  /** Whether `conn` is in the channel here. */
  has(conn: WebSocketConnection<unknown>): boolean {
    return this.#members.has(conn);
  }

  /** A publication from the bus. */
  arrived(message: PreparedMessage): void {
    const position = positionOf(message.data as string);
    if (!position) return;
    const live: Live = { epoch: position.epoch, offset: position.offset, message };
    for (const member of this.#members.values()) {
      if (member.held) this.#hold(member, live);
      else if (!this.#deliver(member, live)) {
        // A gap or another epoch: catch up from where the member is, holding this one.
        member.held = [live];
        this.#catchUp(member, { epoch: member.epoch ?? '', offset: member.last }).catch(
          (error: unknown) => this.#failed(member, error),
        );
      }
    }
  }

  #hold(member: Member, live: Live): void {
    const held = member.held!;
    if (held.length < MAX_HELD) held.push(live);
    else member.overflowed = true;
  }

  /** Sends `live` if it is the member's next; false when it is past a gap or of another epoch. */
  #deliver(member: Member, live: Live): boolean {
    if (live.epoch !== member.epoch) return false;
    if (live.offset <= member.last) return true; // had it already (from the history)
    if (live.offset !== member.last + 1) return false;
    member.last = live.offset;
    member.conn.sendPrepared(live.message);
    return true;
  }

  /**
   * Reads the history from `since` and sends what the member missed, then what was held; repeats
   * while held publications are past a gap. `id` set: this is a join, answered with `joined`.
   */
  async #catchUp(member: Member, since: StreamPosition | undefined, id?: number): Promise<void> {
    let from = since;
    let joinId = id;
    for (let attempt = 0; ; attempt++) {
      const read: HistoryRead = await this.host.history.read(this.channel, from);
      if (this.#members.get(member.conn) !== member) return; // left meanwhile
      const conn = member.conn;
      const offset = read.recovered ? (from?.offset ?? 0) : read.offset;
      if (joinId !== undefined || !read.recovered) {
        // Without id: a live member's position could not be kept (trimmed or new epoch).
        const joined = {
          t: 'joined',
          ch: this.channel,
          epoch: read.epoch,
          offset,
          recovered: read.recovered,
        } as const;
        send(conn, encodeFrame(joinId === undefined ? joined : { ...joined, id: joinId }));
        joinId = undefined;
      }
      member.epoch = read.epoch;
      member.last = offset;
      if (read.recovered) {
        for (const entry of read.entries) {
          if (entry.offset <= member.last) continue;
          member.last = entry.offset;
          const pub = {
            t: 'pub',
            ch: this.channel,
            epoch: read.epoch,
            offset: entry.offset,
            kind: entry.kind,
            data: entry.data,
          } as const;
          send(conn, encodeFrame(pub));
        }
      }
      const held = member.held ?? [];
      const rest = member.overflowed ? 0 : this.#drain(member, held, attempt);
      member.overflowed = false;
      if (rest === -1) {
        member.held = null; // live from here
        return;
      }
      // Keep what is past the gap; the next read fills it.
      member.held = held.slice(rest);
      from = { epoch: member.epoch, offset: member.last };
    }
  }

  /**
   * Delivers held publications in order; returns the index of the first one past a gap, or -1
   * when all went. After a few reads that did not fill a gap (a bus ahead of the history, a
   * stale publication of an old epoch), it stops waiting: stale epochs are dropped, gaps accepted.
   */
  #drain(member: Member, held: readonly Live[], attempt: number): number {
    for (let i = 0; i < held.length; i++) {
      const live = held[i]!;
      if (this.#deliver(member, live)) continue;
      if (attempt < MAX_REFILLS) return i;
      if (live.epoch !== member.epoch) continue;
      member.last = live.offset;
      member.conn.sendPrepared(live.message);
    }
    return -1;
  }

  #failed(member: Member, error: unknown): void {
    if (this.#members.get(member.conn) !== member) return;
    this.leave(member.conn);
    const failure = new ChannelError(
      'history_unavailable',
      `channel '${this.channel}': the history could not be read`,
      undefined,
      this.channel,
    );
    send(member.conn, encodeFrame(errorFrame(failure)));
    this.host.fault(member.conn, error instanceof Error ? error : failure);
  }
}

function send(conn: WebSocketConnection<unknown>, text: string): void {
  conn.sendText(text).catch(() => undefined);
}

/** The epoch and offset of a `pub` frame's text (the feed only reads what it needs). */
function positionOf(text: string): StreamPosition | null {
  try {
    const frame = JSON.parse(text) as Partial<Record<'t' | 'epoch' | 'offset', unknown>>;
    if (frame.t === 'pub' && typeof frame.epoch === 'string' && Number.isSafeInteger(frame.offset))
      return { epoch: frame.epoch, offset: frame.offset as number };
  } catch {
    // Not ours: something else published on the channel's topic.
  }
  return null;
}
