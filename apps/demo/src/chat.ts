/**
 * The chat, written once against core's `WebSocketHandler` and channels (`@anyws/core/channels`),
 * and run unchanged on Node, Deno and in a Durable Object. Nothing here touches a runtime, so
 * each entry point hands in what differs (how tokens are checked, who is in a room, where a
 * room's history is kept and how publications travel between processes).
 *
 * A room's messages are publications on its channel (`room:<name>`): kept in the history, so a
 * page that was offline gets what it missed after its reconnect, in order and once. Presence,
 * joins and leaves are one-way typed messages on the room's topic.
 */
import type {
  ControlMessage,
  DataMessage,
  TopicBus,
  WebSocketConnection,
  WebSocketHandler,
  WSCloseCode,
  WSMsgType,
} from '@anyws/core';
import {
  type ChannelHistory,
  type ChannelHooks,
  ChannelServer,
  type DataIn,
  encodeFrame,
  type KindOf,
  type StreamPosition,
} from '@anyws/core/channels';
import {
  type ChatMessage,
  type ChatMessages,
  chatMessages,
  RECENT_MESSAGES,
  roomChannel,
} from './messages.js';
import { type ChatUser, LIMITS, roomFromPath } from './protocol.js';

/** What the `upgrade` hook attaches to each chat connection. */
export interface ChatContext {
  /** This connection's own id (one user may have several connections). */
  id: string;
  user: ChatUser;
  room: string;
}

/** A chat connection. */
export type ChatConnection = WebSocketConnection<ChatContext>;

/**
 * Who is in which room. The default keeps it in memory; a runtime whose connections outlive the
 * handler's memory (a hibernating Durable Object) answers from its own record instead, and a
 * cluster of processes from the topic bus's presence (Redis), asynchronously.
 */
export interface Roster {
  add(conn: ChatConnection): void;
  remove(conn: ChatConnection): void;
  /** The users of the open connections in `room`, once per connection (closing ones left out). */
  members(room: string): Iterable<ChatUser> | Promise<Iterable<ChatUser>>;
}

/** What differs between runtimes. */
export interface ChatOptions {
  /** The user a sign-in token stands for, or null for a missing, expired or forged one. */
  verifyToken(token: string): Promise<ChatUser | null>;
  /** Default: an in-memory roster. */
  roster?: Roster;
  /** The clock, in ms. Default `Date.now`. */
  now?: () => number;
  /**
   * Where rooms' messages are kept for recovery, for the default channels server. Default:
   * channels' `MemoryHistory` (this process; a restart starts new epochs). A cluster passes a
   * `RedisHistory`.
   */
  history?: ChannelHistory;
  /** The bus publications travel on. Default: channels' own, in this process; a cluster's Redis. */
  bus?: TopicBus;
  /**
   * Makes what serves channels from the chat's hooks. Default: core's `ChannelServer` with
   * `history` and `bus`; a Durable Object room passes `@anyws/workers`' `RoomChannels`, whose
   * members and history outlive the object's memory.
   */
  channels?: (hooks: ChatHooks) => ChatChannels;
}

/** The chat's channel hooks: who may join, the requests, the one-way messages. */
export type ChatHooks = ChannelHooks<ChatMessages, ChatContext>;

/** What serves the chat's channels: core's `ChannelServer`, or a room's `RoomChannels`. */
export interface ChatChannels {
  /** Where publications are kept. */
  readonly history: ChannelHistory;
  /** Publishes on a channel; resolves with the publication's position. */
  publish(channel: string, kind: 'message', data: ChatMessage): Promise<StreamPosition>;
  /** The handler serving channels, with the other hooks from `base`. */
  handler(
    base: Omit<WebSocketHandler<ChatContext>, 'message' | 'session'>,
  ): WebSocketHandler<ChatContext>;
}

// Literals typed against core's constants: this module stays free of runtime imports, and a
// change in core still fails the typecheck here.
const TEXT: typeof WSMsgType.TEXT = 0x1;
const BINARY: typeof WSMsgType.BINARY = 0x2;
const POLICY_VIOLATION: typeof WSCloseCode.POLICY_VIOLATION = 1008;
const OK: typeof WSCloseCode.OK = 1000;

/** The topic a room's connections are subscribed to. */
export function roomTopic(room: string): string {
  return `room:${room}`;
}

/** The in-memory roster, for runtimes whose connections live as long as the process. */
export class MemoryRoster implements Roster {
  readonly #rooms = new Map<string, Map<ChatConnection, ChatUser>>();

  add(conn: ChatConnection): void {
    const { room, user } = conn.context;
    const members = this.#rooms.get(room) ?? new Map<ChatConnection, ChatUser>();
    members.set(conn, user);
    this.#rooms.set(room, members);
  }

  remove(conn: ChatConnection): void {
    const members = this.#rooms.get(conn.context.room);
    if (members?.delete(conn) && members.size === 0) this.#rooms.delete(conn.context.room);
  }

  members(room: string): Iterable<ChatUser> {
    return this.#rooms.get(room)?.values() ?? [];
  }
}

/** One entry per user (several tabs of one user are one presence), in order of arrival. */
function distinctUsers(users: Iterable<ChatUser>): ChatUser[] {
  const seen = new Map<string, ChatUser>();
  for (const user of users) if (!seen.has(user.id)) seen.set(user.id, user);
  return [...seen.values()];
}

interface Bucket {
  tokens: number;
  at: number;
}

function refusal(status: number, message: string): Response {
  const headers: Record<string, string> = { 'content-type': 'application/json; charset=utf-8' };
  if (status === 401) headers['www-authenticate'] = 'Bearer realm="anyws-demo"';
  return new Response(JSON.stringify({ error: message }), { status, headers });
}

/** The envelope of a one-way typed message, for the room's topic or one connection. */
function envelope<K extends KindOf<ChatMessages>>(kind: K, data: DataIn<ChatMessages, K>): string {
  return encodeFrame({ t: 'msg', kind, data });
}

/**
 * The room's most recent messages that its history still holds (up to `RECENT_MESSAGES`). The
 * history answers "everything after a position" and not where it begins, so this looks for the
 * furthest position back it still holds: the whole count first, then by halves (at most
 * log2(RECENT_MESSAGES) + 2 reads, each as long as what it returns).
 */
async function recentMessages(
  history: ChannelHistory,
  channel: string,
): Promise<{ epoch: string; messages: { offset: number; message: ChatMessage }[] }> {
  const head = await history.read(channel);
  const back = (count: number) =>
    history.read(channel, { epoch: head.epoch, offset: head.offset - count });
  let low = 0;
  let high = Math.min(RECENT_MESSAGES, head.offset);
  let found = high > 0 ? await back(high) : null;
  if (found && !found.recovered) {
    found = null;
    high--;
    while (low < high) {
      const middle = Math.ceil((low + high) / 2);
      const read = await back(middle);
      if (read.recovered) {
        low = middle;
        found = read;
      } else high = middle - 1;
    }
  }
  if (!found?.recovered) return { epoch: head.epoch, messages: [] };
  const messages = found.entries
    .filter((entry) => entry.kind === 'message')
    .map((entry) => ({ offset: entry.offset, message: entry.data as ChatMessage }));
  return { epoch: found.epoch, messages };
}

/**
 * The chat handler: `/ws/chat/:room?token=…`. The upgrade refuses a missing, expired or forged
 * token with 401 (over HTTP, before upgrading). Every connection speaks channels: it may join its
 * room's channel only, and posts with the `say` request (the server publishes, with the user the
 * token names). Invalid data gets an `error` frame and the connection stays open; flooding past
 * the rate limit closes with 1008.
 */
export function createChatHandler(options: ChatOptions): WebSocketHandler<ChatContext> {
  const roster = options.roster ?? new MemoryRoster();
  const now = options.now ?? Date.now;
  // By connection id, not object: a runtime may rebuild the connection object between events.
  // Lost with the memory of a hibernating room, which only sleeps once the bucket is full again.
  const buckets = new Map<string, Bucket>();

  const hooks: ChatHooks = {
    messages: chatMessages,
    // A connection reads its own room and nothing else; only the server publishes.
    authorize: (peer, channel, action) =>
      action === 'join' && channel === roomChannel(peer.context.room),
    requests: {
      async say({ id, text }, peer) {
        // A message of a connection closed for flooding is not published.
        if (peer.conn.state !== 'open') throw new Error('closing');
        const { room, user } = peer.context;
        const message = { id: `${user.id}:${id}`, user, text, at: now() };
        await channels.publish(roomChannel(room), 'message', message);
        return { id: message.id };
      },
      recent: (_data, peer) => recentMessages(channels.history, roomChannel(peer.context.room)),
    },
    message(peer, message) {
      if (message.kind === 'bye') peer.conn.close(OK, 'left the room').catch(() => undefined);
    },
  };
  const channels: ChatChannels = options.channels
    ? options.channels(hooks)
    : new ChannelServer({
        ...hooks,
        ...(options.history ? { history: options.history } : {}),
        ...(options.bus ? { bus: options.bus } : {}),
      });

  const send = (conn: ChatConnection, text: string): void => {
    conn.sendText(text).catch(() => undefined);
  };
  const broadcast = (conn: ChatConnection, text: string, exclude?: ChatConnection): void => {
    conn.publish(roomTopic(conn.context.room), text, exclude ? { exclude } : {});
  };
  const presence = (users: Iterable<ChatUser>): string =>
    envelope('presence', { users: distinctUsers(users) });
  /**
   * Runs `then` with the room's users: at once from a roster that answers at once (so a
   * runtime that needs the hook's work done before it returns gets it), after the read from
   * one that answers later. A read that fails (the presence store unreachable) skips the update.
   */
  const withMembers = (room: string, then: (users: ChatUser[]) => void): void => {
    const users = roster.members(room);
    if (Symbol.iterator in users) then([...users]);
    else users.then((u) => then([...u])).catch(() => undefined);
  };
  /** How many of `users` are `user` (one per connection). */
  const connectionsOf = (users: Iterable<ChatUser>, user: ChatUser): number => {
    let n = 0;
    for (const u of users) if (u.id === user.id) n++;
    return n;
  };

  /** Token bucket: false once the connection has sent more than its share. */
  const allow = (conn: ChatConnection): boolean => {
    const t = now();
    const bucket = buckets.get(conn.context.id) ?? { tokens: LIMITS.rateBurst, at: t };
    bucket.tokens = Math.min(
      LIMITS.rateBurst,
      bucket.tokens + ((t - bucket.at) / 1000) * LIMITS.ratePerSecond,
    );
    bucket.at = t;
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    buckets.set(conn.context.id, bucket);
    return true;
  };

  const handler = channels.handler({
    options: {
      maxMessageSize: LIMITS.maxMessageBytes,
      // Browsers have no ping frames; the page's client answers core's heartbeat either way.
      heartbeat: { interval: 30_000, timeout: 15_000 },
    },

    async upgrade(request) {
      const url = new URL(request.url);
      const room = roomFromPath(url.pathname);
      if (room === null) return refusal(404, 'no such room: a room name is 1-32 of a-z, 0-9 and -');
      const token = url.searchParams.get('token');
      if (!token) return refusal(401, 'missing token: sign in first');
      const user = await options.verifyToken(token);
      if (!user) return refusal(401, 'invalid or expired token: sign in again');
      return { context: { id: crypto.randomUUID(), user, room } };
    },

    open(conn) {
      const { room, user } = conn.context;
      roster.add(conn);
      conn.subscribe(roomTopic(room));
      send(
        conn,
        envelope('welcome', { room, text: `Welcome to #${room}, ${user.name}.`, at: now() }),
      );
      withMembers(room, (users) => {
        // This connection is among them: the user was here already with another one.
        if (connectionsOf(users, user) <= 1)
          broadcast(conn, envelope('arrived', { user, at: now() }), conn);
        // The newcomer directly: a runtime may make its socket a subscriber only after `open`.
        const list = presence(users);
        send(conn, list);
        broadcast(conn, list, conn);
      });
    },

    close(conn) {
      const { room, user } = conn.context;
      buckets.delete(conn.context.id);
      roster.remove(conn);
      withMembers(room, (users) => {
        if (connectionsOf(users, user) === 0)
          broadcast(conn, envelope('departed', { user, at: now() }));
        broadcast(conn, presence(users));
      });
    },
  });
  const channelsMessage = handler.message;
  return {
    ...handler,
    // Before channels read it: the rate limit counts every message, envelope or not. (Core's
    // ChannelServer reads through its own listener, which comes after this hook's; a room's
    // RoomChannels through the `message` hook, called here.)
    message(conn, message: DataMessage | ControlMessage) {
      if (message.type === TEXT || message.type === BINARY) {
        if (!allow(conn)) {
          conn.close(POLICY_VIOLATION, 'rate limit exceeded').catch(() => undefined);
          return;
        }
      }
      return channelsMessage?.call(handler, conn, message);
    },
  };
}
