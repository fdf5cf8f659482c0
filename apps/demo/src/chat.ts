/**
 * The chat, written once against core's `WebSocketHandler` and run unchanged on Node, Deno and
 * in a Durable Object. Type imports only: nothing here touches a runtime, so each entry point
 * hands in what differs (how tokens are checked, who is in a room).
 */
import type {
  ControlMessage,
  DataMessage,
  WebSocketConnection,
  WebSocketHandler,
  WSCloseCode,
  WSMsgType,
} from '@anyws/core';
import {
  type ChatErrorCode,
  type ChatUser,
  LIMITS,
  roomFromPath,
  type ServerMessage,
} from './protocol.js';

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

/**
 * The chat handler: `/ws/chat/:room?token=…`. The upgrade refuses a missing, expired or forged
 * token with 401 (over HTTP, before upgrading). Messages are typed JSON; a malformed one gets an
 * `error` message and the connection stays open; flooding past the rate limit closes with 1008.
 */
export function createChatHandler(options: ChatOptions): WebSocketHandler<ChatContext> {
  const roster = options.roster ?? new MemoryRoster();
  const now = options.now ?? Date.now;
  // By connection id, not object: a runtime may rebuild the connection object between events.
  // Lost with the memory of a hibernating room, which only sleeps once the bucket is full again.
  const buckets = new Map<string, Bucket>();

  const send = (conn: ChatConnection, message: ServerMessage): void => {
    conn.sendJson(message).catch(() => undefined);
  };
  const broadcast = (
    conn: ChatConnection,
    message: ServerMessage,
    exclude?: ChatConnection,
  ): void => {
    conn.publish(roomTopic(conn.context.room), JSON.stringify(message), exclude ? { exclude } : {});
  };
  const fail = (conn: ChatConnection, code: ChatErrorCode, message: string): void => {
    send(conn, { type: 'error', code, message });
  };
  const presence = (room: string, users: Iterable<ChatUser>): ServerMessage => ({
    type: 'presence',
    room,
    users: distinctUsers(users),
  });
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

  const onText = (conn: ChatConnection, text: string): void => {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      fail(conn, 'invalid_json', 'messages are JSON text');
      return;
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      fail(conn, 'invalid_message', 'a message is a JSON object with a "type"');
      return;
    }
    const message = parsed as { type?: unknown; text?: unknown };
    switch (message.type) {
      case 'message': {
        if (typeof message.text !== 'string') {
          fail(conn, 'invalid_message', 'a "message" has a "text" string');
          return;
        }
        const body = message.text.trim();
        if (body === '') {
          fail(conn, 'empty', 'an empty message is not sent');
          return;
        }
        if (body.length > LIMITS.maxTextLength) {
          fail(conn, 'too_long', `a message has at most ${LIMITS.maxTextLength} characters`);
          return;
        }
        const { room, user } = conn.context;
        broadcast(conn, {
          type: 'message',
          room,
          id: crypto.randomUUID(),
          user,
          text: body,
          at: now(),
        });
        return;
      }
      case 'leave':
        conn.close(OK, 'left the room').catch(() => undefined);
        return;
      default:
        fail(
          conn,
          'unknown_type',
          `unknown message type ${JSON.stringify(String(message.type)).slice(0, 40)}`,
        );
    }
  };

  return {
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
      send(conn, { type: 'system', room, text: `Welcome to #${room}, ${user.name}.`, at: now() });
      withMembers(room, (users) => {
        // This connection is among them: the user was here already with another one.
        if (connectionsOf(users, user) <= 1)
          broadcast(conn, { type: 'join', room, user, at: now() }, conn);
        // The newcomer directly: a runtime may make its socket a subscriber only after `open`.
        const list = presence(room, users);
        send(conn, list);
        broadcast(conn, list, conn);
      });
    },

    message(conn, message: DataMessage | ControlMessage) {
      if (message.type !== TEXT && message.type !== BINARY) return;
      if (!allow(conn)) {
        conn.close(POLICY_VIOLATION, 'rate limit exceeded').catch(() => undefined);
        return;
      }
      if (message.type === BINARY) {
        fail(conn, 'invalid_message', 'messages are JSON text, not binary');
        return;
      }
      onText(conn, message.data);
    },

    close(conn) {
      const { room, user } = conn.context;
      buckets.delete(conn.context.id);
      roster.remove(conn);
      withMembers(room, (users) => {
        if (connectionsOf(users, user) === 0)
          broadcast(conn, { type: 'leave', room, user, at: now() });
        broadcast(conn, presence(room, users));
      });
    },
  };
}
