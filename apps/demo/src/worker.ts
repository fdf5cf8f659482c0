/**
 * The demo on Cloudflare Workers: `pnpm demo:workers` (wrangler dev). The same Hono app in a
 * Worker; `/ws/echo` is served by the Worker itself, and each chat room is a Durable Object on
 * the Hibernation API (`ChatRoom`) running the same chat handlers as Node and Deno, with its
 * channel served by `RoomChannels` and its history in the object's storage.
 */
import { DurableObjectHistory, RoomChannels, WebSocketRoom } from '@anyws/workers';
import { upgradeWebSocket } from '@anyws/workers/hono';
import type { Hono } from 'hono';
import { createApp } from './app.js';
import { DEV_SECRET, isLoopback, resolveSecret, secretNotice, verifyToken } from './auth.js';
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
  /**
   * The HS256 secret of sign-in tokens: `wrangler secret put JWT_SECRET`. Without it only
   * requests to a loopback host (`wrangler dev`) sign in, with the public development default.
   */
  JWT_SECRET?: string;
}

const MEMBER = 'member:';
/** Messages a page can recover per room (as `HISTORY_LENGTH`'s default on Node and Deno). */
const HISTORY_LENGTH = 1000;

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
    // The Worker refuses chat upgrades without a secret outside development before they get
    // here (a room is reached through the Worker only), so the default is a development one.
    const secret = env.JWT_SECRET || DEV_SECRET;
    this.handler = createChatHandler({
      verifyToken: (token) => verifyToken(secret, token),
      roster: new TaggedRoster(ctx),
      // The room's messages in its storage: kept across hibernation, eviction and restarts of
      // the object; its channel's members are its sockets' tags, as the presence is.
      channels: (hooks) =>
        new RoomChannels({
          ...hooks,
          history: new DurableObjectHistory(ctx.storage, { maxLength: HISTORY_LENGTH }),
          bus: this.topics,
        }),
    });
  }
}

let app: Hono | undefined;

function build(env: Env): Hono {
  // A Worker has no start of its own: its first request is when it hears of its settings.
  if (env.JWT_SECRET) console.log(secretNotice(false));
  return createApp({
    runtime: 'workers',
    secret: env.JWT_SECRET || DEV_SECRET,
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

/** The paths that sign or check tokens: refused while there is no secret outside development. */
const SIGNED = /^\/(?:api\/signin|api\/session|ws\/chat\/)/;
let told = false;

/**
 * Fails closed without JWT_SECRET: a request to a loopback host is `wrangler dev` on this
 * machine and may use the development default (a deployed Worker is only ever reached under
 * its own hostname); any other gets 503 on the token paths, with the reason.
 */
function refusal(request: Request, env: Env): Response | null {
  if (env.JWT_SECRET) return null;
  const url = new URL(request.url);
  const choice = resolveSecret(undefined, isLoopback(url.hostname));
  if (!told) {
    told = true;
    console.log(choice.ok ? secretNotice(true) : choice.message);
  }
  if (choice.ok || !SIGNED.test(url.pathname)) return null;
  return Response.json(
    { error: `${choice.message} On Workers: wrangler secret put JWT_SECRET.` },
    { status: 503 },
  );
}

export default {
  fetch(request, env, ctx) {
    const refused = refusal(request, env);
    if (refused) return refused;
    app ??= build(env);
    return app.fetch(request, env, ctx);
  },
} satisfies ExportedHandler<Env>;
