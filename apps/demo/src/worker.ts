/**
 * The demo on Cloudflare Workers: `pnpm demo:workers` (wrangler dev). The same Hono app in a
 * Worker; `/ws/echo` is served by the Worker itself, and each chat room is a Durable Object on
 * the Hibernation API (`ChatRoom`) running the same chat handlers as Node and Deno.
 */
import { WebSocketRoom } from '@anyws/workers';
import { upgradeWebSocket } from '@anyws/workers/hono';
import type { Hono } from 'hono';
import { createApp } from './app.js';
import { resolveSecret, secretNotice, verifyToken } from './auth.js';
import {
  type ChatConnection,
  type ChatContext,
  createChatHandler,
  type Roster,
  roomTopic,
} from './chat.js';
import { echoHandler } from './echo.js';
import { type ChatUser, ROOM_PATTERN } from './protocol.js';

/** The Worker's bindings (wrangler.jsonc). */
export interface Env {
  ROOMS: DurableObjectNamespace<ChatRoom>;
  /** The HS256 secret of sign-in tokens: `wrangler secret put JWT_SECRET` (a dev default otherwise). */
  JWT_SECRET?: string;
}

const MEMBER = 'member:';

/**
 * Who is in a room that may have hibernated since they came: each connection subscribes a
 * topic naming it and its user, which the room keeps as a socket tag, so the tags of the room's
 * open sockets answer after any number of wake-ups. A connection still in its `open` hook is
 * not accepted yet (not among `getWebSockets`), and one in its `close` hook may still look
 * open: both are known here, in memory, for the short time that matters.
 */
class TaggedRoster implements Roster {
  readonly #joining = new Set<ChatConnection>();
  readonly #gone = new Set<string>();

  constructor(private readonly ctx: DurableObjectState) {}

  add(conn: ChatConnection): void {
    const { id, user } = conn.context;
    conn.subscribe(`${MEMBER}${JSON.stringify([id, user.id, user.name])}`);
    this.#joining.add(conn);
  }

  remove(conn: ChatConnection): void {
    this.#joining.delete(conn);
    this.#gone.add(conn.context.id);
  }

  *members(room: string): Iterable<ChatUser> {
    const seen = new Set<string>();
    for (const ws of this.ctx.getWebSockets(roomTopic(room))) {
      if (ws.readyState !== WebSocket.OPEN) continue;
      for (const tag of this.ctx.getTags(ws)) {
        if (!tag.startsWith(MEMBER)) continue;
        const [id, userId, name] = JSON.parse(tag.slice(MEMBER.length)) as [string, string, string];
        if (this.#gone.has(id)) continue;
        seen.add(id);
        yield { id: userId, name };
      }
    }
    for (const conn of this.#joining) {
      if (conn.state === 'open' && !seen.has(conn.context.id)) yield conn.context.user;
    }
  }
}

/** One chat room: a Durable Object whose connections hibernate with the room. */
export class ChatRoom extends WebSocketRoom<Env, ChatContext> {
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    // Once per life of the object: at a room's first connection, and at each wake-up after
    // hibernation (its connections stayed open meanwhile).
    console.log(`chat room object ${ctx.id.toString().slice(0, 12)} started`);
    const { secret } = resolveSecret(env.JWT_SECRET);
    this.handler = createChatHandler({
      verifyToken: (token) => verifyToken(secret, token),
      roster: new TaggedRoster(ctx),
    });
  }
}

let app: Hono | undefined;

function build(env: Env): Hono {
  const { secret, isDefault } = resolveSecret(env.JWT_SECRET);
  // A Worker has no start of its own: its first request is when it hears of its settings.
  console.log(secretNotice(isDefault));
  return createApp({
    runtime: 'workers',
    secret,
    echo: upgradeWebSocket(echoHandler),
    chat: upgradeWebSocket({
      namespace: () => env.ROOMS,
      room: (c) => {
        const room = c.req.param('room') ?? '';
        return ROOM_PATTERN.test(room) ? room : null;
      },
    }),
  });
}

export default {
  fetch(request, env, ctx) {
    app ??= build(env);
    return app.fetch(request, env, ctx);
  },
} satisfies ExportedHandler<Env>;
