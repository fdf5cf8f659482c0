/**
 * `WebSocketRoom`: a Durable Object base class on the WebSocket Hibernation API. Idle rooms
 * cost nothing: connections are accepted with `ctx.acceptWebSocket`, what a connection needs
 * across hibernation lives in its attachment, and the heartbeat is answered by the runtime.
 */

import { DurableObject } from 'cloudflare:workers';
import {
  APP_PING,
  APP_PONG,
  acceptUpgrade,
  type ConnectionOptions,
  HeartbeatTimeoutError,
  isValidReceivedCloseCode,
  type PublishOptions,
  type ResolvedOptions,
  resolveOptions,
  runHandler,
  type TopicBus,
  WebSocketConnection,
  WebSocketError,
  type WebSocketHandler,
  WSCloseCode,
} from '@anyws/core';
import { RoomTopics, type TopicSocket, tagsFor } from './topics.js';
import {
  AcceptedSocketTransport,
  HibernatableTransport,
  WORKERD_CAPABILITIES,
} from './transport.js';
import { switchingProtocols, toWebSocketUrl } from './upgrade.js';

/** The attachment of a room connection: everything it needs after the object wakes. */
interface Attachment {
  /** Marks the attachment as ours, and its format. */
  anyws: 1;
  url: string;
  protocol: string;
  context: unknown;
  topics: string[];
  /** The handler's options at upgrade time (core fills the defaults again on wake). */
  options: ConnectionOptions | null;
  /** When the connection was opened (ms since epoch). */
  since: number;
  /** The client offered `HEARTBEAT_PROTOCOL` (`ConnectionInit.appHeartbeat`). */
  appHeartbeat?: true;
  /** Our close frame went out. */
  closing?: true;
  /** The connection is over (terminated while the socket lingers): later events are not its. */
  ended?: true;
  /** Heartbeat: when a message last came, and when the room's unanswered ping went out. */
  seen?: number;
  ping?: number;
}

/** What the room holds of a hibernatable socket in this life of the object. */
interface SocketRecord extends TopicSocket {
  readonly ws: WebSocket;
  readonly attachment: Attachment;
  readonly topics: string[];
  tags: readonly string[] | null;
  conn: WebSocketConnection<unknown> | undefined;
  transport: HibernatableTransport | undefined;
  closing: boolean;
  /**
   * Promises of hooks called since an event last took them: the event that called them waits
   * for them before it returns (null: none, and the event returns without a promise).
   */
  pending: Promise<unknown>[] | null;
  /** The handler's heartbeat, which the room keeps (null: none). */
  heartbeat: ResolvedOptions['heartbeat'];
  /** The upgrade request, in the life of the object that accepted the socket. */
  request?: Request;
}

/**
 * A connection's context, topics and options do not fit the attachment that carries them
 * across hibernation (the platform's limit: 16 KiB in workerd 1.20260426), or do not clone.
 */
export class AttachmentError extends WebSocketError {
  override name = 'AttachmentError';
}

const OPEN = 1;

/** Connections whose context {@link saveContext} persists, and how. */
const contextSavers = new WeakMap<WebSocketConnection<unknown>, () => void>();

/**
 * Persists `conn.context` after a hook changed it, so the next event (after the object woke)
 * sees the change. Only room connections on the Hibernation API need it; for any other
 * connection it does nothing. Throws an {@link AttachmentError} when the context no longer fits.
 */
export function saveContext(conn: WebSocketConnection<unknown>): void {
  contextSavers.get(conn)?.();
}

function attachmentError(error: unknown): AttachmentError {
  const detail = error instanceof Error ? error.message : String(error);
  return new AttachmentError(
    `a room connection keeps its context, topics and options in its WebSocket attachment to survive hibernation, and they do not fit: ${detail} ` +
      'Keep large or non-cloneable data in this.ctx.storage and put its key in the context.',
    { cause: error },
  );
}

function isAttachment(value: unknown): value is Attachment {
  return typeof value === 'object' && value !== null && (value as { anyws?: unknown }).anyws === 1;
}

/** The room's own answer to a close frame, for a socket no handler serves any more. */
function answerClose(ws: WebSocket, code: number, wasClean: boolean): void {
  if (!wasClean) return;
  try {
    if (code === WSCloseCode.NO_STATUS) ws.close();
    else ws.close(isValidReceivedCloseCode(code) ? code : WSCloseCode.PROTOCOL_ERROR, '');
  } catch {
    // Already closed.
  }
}

/**
 * A Durable Object that serves WebSocket connections on the Hibernation API.
 *
 * Give it a `handler` (or override {@link WebSocketRoom.handlerFor} to serve several by URL) and
 * route upgrades to it (`routeToRoom`). Every connection is accepted with
 * `ctx.acceptWebSocket`; topics subscribed in the `open` hook become the socket's tags, and
 * `publish` finds subscribers by tag. The context from the `upgrade` hook, the topics and the
 * options are kept in the socket's attachment, so after the object was evicted from memory the
 * next event rebuilds the same `WebSocketConnection` and calls the hooks with it.
 *
 * Hooks must keep nothing in memory between events: the object may be a fresh instance each
 * time. Persist context changes with {@link saveContext}, anything else in `this.ctx.storage`.
 *
 * The application-level heartbeat ping is answered by the runtime while the object sleeps
 * (`setWebSocketAutoResponse`); the auto-response matches the text before the room sees it, so in
 * a room the ping text is answered for every client, agreed or not (see `HEARTBEAT_PROTOCOL`).
 * A client that offered the heartbeat token gets the hello when it is accepted. With
 * `options.heartbeat`, the room finds dead peers itself among the clients that agreed (workerd
 * cannot ping the others): an alarm pings connections that were silent for `interval` and ends
 * those that stay silent for `timeout` (ERROR to the `error` hook, then `close` with 1006).
 * A subclass that also uses the alarm must call `super.alarm()` from its own.
 *
 * A `session` handler (pull API) holds the connection in memory, so such a connection is
 * accepted the standard way and keeps the object awake while it is open: refused unless
 * {@link WebSocketRoom.allowSessions} is set.
 */
export abstract class WebSocketRoom<Env = unknown, C = unknown> extends DurableObject<Env> {
  /** The handler of this room's connections (see {@link WebSocketRoom.handlerFor}). */
  protected handler: WebSocketHandler<C> | undefined;
  /**
   * Opt-in for `session` handlers: each such connection keeps the object in memory (and
   * billed) for as long as it is open. Hook-style handlers never do.
   */
  protected allowSessions = false;
  /**
   * The most connections this room holds at once (hibernating ones count). Past it an upgrade
   * is refused with 503 and `Retry-After` before upgrading. Default: no limit.
   */
  protected maxConnections: number | undefined = undefined;
  /** Session (pull API) connections open, and upgrades under way: not in `getWebSockets()`. */
  #unlisted = 0;
  readonly #sessionClosed = (): void => {
    this.#unlisted--;
  };

  readonly #records = new Map<WebSocket, SocketRecord>();
  readonly #byConn = new WeakMap<WebSocketConnection<unknown>, SocketRecord>();
  /** Sockets whose connection is over, in this life of the object (the attachment says so after). */
  readonly #ended = new WeakSet<WebSocket>();
  /**
   * The last hook promise seen fulfilled. A promise settles once, so when a hook returns it
   * again (core's `send` returns one shared resolved promise where nothing can wait, as on
   * workerd) there is nothing to wait for: the event ends without a promise, which workerd
   * completes at once, where waiting for a pending one costs it a turn of its loop.
   */
  #fulfilled: Promise<unknown> | undefined = undefined;
  readonly #topics: RoomTopics;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair(APP_PING, APP_PONG));
    this.#topics = new RoomTopics({
      tagged: (tag) => this.ctx.getWebSockets(tag),
      all: () => this.ctx.getWebSockets(),
      record: (ws) => this.#record(ws),
      recordOf: (conn) => this.#byConn.get(conn),
      saveTopics: (record) => this.#save(record as SocketRecord),
    });
  }

  /**
   * The handler for a connection requested at `url`; called at upgrade and again when a
   * woken object rebuilds the connection. Default: {@link WebSocketRoom.handler}.
   * `undefined` refuses the upgrade with 404.
   */
  protected handlerFor(_url: URL): WebSocketHandler<C> | undefined {
    return this.handler;
  }

  /** The room's topic bus, for publishing from `fetch`, `alarm` or RPC methods. */
  protected get topics(): TopicBus {
    return this.#topics;
  }

  /**
   * Sends `data` to every subscriber of `topic` in this room and returns how many it went to.
   * Callable over RPC: `env.ROOMS.getByName('lobby').publish('news', 'hello')`.
   */
  publish(topic: string, data: string | Uint8Array, options?: PublishOptions): number {
    return this.#topics.publish(topic, data, options);
  }

  /** Serves WebSocket upgrades. Override to answer other requests and call `acceptUpgrade` for upgrades. */
  override async fetch(request: Request): Promise<Response> {
    return this.acceptUpgrade(request);
  }

  /**
   * Decides the upgrade with core's `acceptUpgrade` (handshake, options, origins,
   * {@link WebSocketRoom.maxConnections}, `upgrade` hook, subprotocol), accepts the socket
   * and runs the `open` hook. Answers 101, or the refusal (404 without a handler for the URL).
   */
  protected async acceptUpgrade(request: Request): Promise<Response> {
    const handler = this.handlerFor(new URL(request.url));
    if (!handler) return new Response('no WebSocket handler here', { status: 404 });
    if (handler.session && !this.allowSessions) {
      const message =
        'this room has a session (pull API) handler, which keeps the Durable Object awake: set `allowSessions = true` in the room to allow it, or use hooks';
      console.error(`anyws: ${message}`);
      return new Response(message, { status: 500 });
    }
    this.#unlisted++;
    let decision: Awaited<ReturnType<typeof acceptUpgrade<C>>>;
    try {
      decision = await acceptUpgrade(request, handler, {
        runtime: 'workers',
        capabilities: WORKERD_CAPABILITIES,
        // This upgrade is counted in `#unlisted` already.
        connections: this.ctx.getWebSockets().length + this.#unlisted - 1,
        maxConnections: this.maxConnections,
      });
    } finally {
      this.#unlisted--;
    }
    if (!decision.accept) return decision.response;
    const pair = new WebSocketPair();
    const [client, server] = [pair[0], pair[1]];
    const protocol = decision.protocol ?? '';
    if (handler.session) {
      const transport = new AcceptedSocketTransport(server, toWebSocketUrl(request.url), protocol);
      const conn = new WebSocketConnection<C>({
        transport,
        side: 'server',
        options: decision.options,
        context: decision.context,
        topics: this.#topics,
        request,
        appHeartbeat: decision.heartbeat,
        onClosed: this.#sessionClosed,
      });
      this.#unlisted++;
      this.ctx.waitUntil(runHandler(conn, handler));
      return switchingProtocols(client, decision.protocol, decision.headers);
    }

    const attachment: Attachment = {
      anyws: 1,
      url: request.url,
      protocol,
      context: decision.context,
      topics: [],
      options: handler.options ?? null,
      since: Date.now(),
    };
    if (decision.heartbeat) attachment.appHeartbeat = true;
    try {
      server.serializeAttachment(attachment);
    } catch (error) {
      const refused = attachmentError(error);
      console.error(`anyws: upgrade refused: ${refused.message}`);
      return new Response(refused.message, { status: 500 });
    }
    const record = this.#newRecord(server, attachment, false);
    const conn = record.conn!;
    // At upgrade the whole request; after a wake only its URL (see `#build`).
    record.request = request;
    // The open hook runs before the socket is accepted: what it subscribes becomes tags.
    // Its promise lasts as long as the connection and is not waited for: only the open hook is.
    void runHandler(conn, this.#tracked(handler, record, true));
    record.tags = tagsFor(record.topics);
    this.ctx.acceptWebSocket(server, [...record.tags]);
    this.#topics.accepted(record);
    record.transport!.accepted();
    const settling = this.#settled(record);
    if (settling) this.ctx.waitUntil(settling);
    const heartbeat = record.heartbeat;
    if (heartbeat && !conn.closed) await this.#scheduleAlarm(Date.now() + heartbeat.interval);
    return switchingProtocols(client, decision.protocol, decision.headers);
  }

  /**
   * The Hibernation API's message event: to the connection, rebuilt when the object woke.
   * Not async: when the hooks it ran returned no promise, the event ends without one (workerd
   * then completes it at once instead of waiting for a promise).
   */
  override webSocketMessage(
    ws: WebSocket,
    message: string | ArrayBuffer,
  ): Promise<void> | undefined {
    const record = this.#record(ws);
    if (!record) return undefined;
    this.#noteAlive(record);
    const transport = this.#connect(record);
    if (!transport) return undefined;
    transport.deliver(message);
    return this.#settled(record);
  }

  /** The close event: core answers (with the peer's code, 1002 for an invalid one), then the `close` hook. */
  override async webSocketClose(
    ws: WebSocket,
    code: number,
    reason: string,
    wasClean: boolean,
  ): Promise<void> {
    const record = this.#record(ws);
    const transport = record && this.#connect(record);
    if (!record || !transport) {
      answerClose(ws, code, wasClean);
      this.#forget(ws);
      return;
    }
    transport.deliverClose(code, reason, wasClean);
    await this.#settled(record);
  }

  /** The error event: the `error` hook, then the connection ends (1006). */
  override async webSocketError(ws: WebSocket, error: unknown): Promise<void> {
    const record = this.#record(ws);
    const transport = record && this.#connect(record);
    if (!record || !transport) {
      this.#forget(ws);
      return;
    }
    transport.deliverError(error);
    await this.#settled(record);
  }

  /**
   * Finds dead peers of connections with `options.heartbeat`. A peer is alive when it sent a
   * message, or a heartbeat ping the runtime answered (`getWebSocketAutoResponseTimestamp`),
   * within `interval`; otherwise the room pings it, and ends it after `timeout` of silence.
   */
  override async alarm(): Promise<void> {
    const now = Date.now();
    let next = Number.POSITIVE_INFINITY;
    for (const ws of this.ctx.getWebSockets()) {
      const record = this.#record(ws);
      if (!record || record.closing || ws.readyState !== OPEN) continue;
      const heartbeat = record.heartbeat;
      if (!heartbeat) continue;
      const attachment = record.attachment;
      const answered = this.ctx.getWebSocketAutoResponseTimestamp(ws)?.getTime() ?? 0;
      const seen = Math.max(attachment.seen ?? 0, answered, attachment.since);
      const ping = attachment.ping;
      if (ping !== undefined && seen < ping) {
        if (now - ping < heartbeat.timeout) {
          next = Math.min(next, ping + heartbeat.timeout);
          continue;
        }
        // As core's own heartbeat does: ERROR to the reader and hooks, then 1006.
        const transport = this.#connect(record);
        if (transport) {
          transport.reportError(new HeartbeatTimeoutError(heartbeat.timeout));
          record.conn?.terminate();
          await this.#settled(record);
        }
        continue;
      }
      if (now - seen >= heartbeat.interval) {
        try {
          ws.send(APP_PING);
        } catch {
          continue;
        }
        attachment.ping = now;
        this.#trySave(record);
        next = Math.min(next, now + heartbeat.timeout);
      } else {
        next = Math.min(next, seen + heartbeat.interval);
      }
    }
    if (next !== Number.POSITIVE_INFINITY) await this.ctx.storage.setAlarm(next);
  }

  async #scheduleAlarm(at: number): Promise<void> {
    const current = await this.ctx.storage.getAlarm();
    if (current === null || current > at) await this.ctx.storage.setAlarm(at);
  }

  /** Heartbeat bookkeeping on a message: persisted when it answers a ping, else at most twice an interval. */
  #noteAlive(record: SocketRecord): void {
    const heartbeat = record.heartbeat;
    if (!heartbeat) return;
    const attachment = record.attachment;
    const now = Date.now();
    if (attachment.ping === undefined && now - (attachment.seen ?? 0) < heartbeat.interval / 2)
      return;
    attachment.ping = undefined;
    attachment.seen = now;
    this.#trySave(record);
  }

  /** The record of a socket: from memory, or from its attachment after the object woke. */
  #record(ws: WebSocket): SocketRecord | undefined {
    const known = this.#records.get(ws);
    if (known) return known;
    if (this.#ended.has(ws)) return undefined;
    let attachment: unknown;
    try {
      attachment = ws.deserializeAttachment();
    } catch {
      return undefined;
    }
    if (!isAttachment(attachment) || attachment.ended) return undefined;
    return this.#newRecord(ws, attachment, true);
  }

  #newRecord(ws: WebSocket, attachment: Attachment, accepted: boolean): SocketRecord {
    const record: SocketRecord = {
      ws,
      attachment,
      topics: attachment.topics,
      tags: null,
      conn: undefined,
      transport: undefined,
      closing: attachment.closing === true,
      pending: null,
      // workerd has no ping frames: the room pings only a client that agreed to the
      // application-level heartbeat (it offered HEARTBEAT_PROTOCOL); others it cannot ping.
      heartbeat:
        attachment.appHeartbeat === true
          ? resolveOptions(attachment.options ?? undefined).heartbeat
          : null,
    };
    if (accepted) {
      try {
        record.tags = this.ctx.getTags(ws);
      } catch {
        record.tags = [];
      }
    } else {
      this.#build(record, false);
    }
    this.#records.set(ws, record);
    return record;
  }

  /** The record's transport, with its connection built (and its hooks attached) if need be. */
  #connect(record: SocketRecord): HibernatableTransport | undefined {
    if (record.transport) return record.transport;
    const handler = this.handlerFor(new URL(record.attachment.url));
    if (!handler || handler.session) return undefined;
    const conn = this.#build(record, true);
    // The open hook ran when the connection was opened, in an earlier life of the object.
    void runHandler(conn, this.#tracked(handler, record, false));
    return record.transport;
  }

  #build(record: SocketRecord, accepted: boolean): WebSocketConnection<unknown> {
    const attachment = record.attachment;
    const transport = new HibernatableTransport(
      record.ws,
      toWebSocketUrl(attachment.url),
      attachment.protocol,
      { closeSent: (ws) => this.#closeSent(ws) },
      { accepted, closeSent: record.closing },
    );
    const conn = new WebSocketConnection<unknown>({
      transport,
      side: 'server',
      // The room keeps the heartbeat (alarm + auto-response): a timer would keep the object awake.
      options: { ...attachment.options, heartbeat: null },
      context: attachment.context,
      topics: this.#topics,
      // Headers do not survive hibernation (the attachment keeps the URL only): after a wake,
      // `conn.request` is a GET of that URL.
      request: () => record.request ?? new Request(attachment.url),
      appHeartbeat: attachment.appHeartbeat === true,
      // After a wake the connection was opened in an earlier life: no second hello.
      resumed: accepted,
    });
    record.conn = conn;
    record.transport = transport;
    this.#byConn.set(conn, record);
    contextSavers.set(conn, () => {
      const previous = attachment.context;
      attachment.context = conn.context;
      try {
        this.#save(record);
      } catch (error) {
        attachment.context = previous;
        throw error;
      }
    });
    void conn.whenClosed.then(() => {
      attachment.ended = true;
      this.#trySave(record);
      this.#ended.add(record.ws);
      this.#forget(record.ws);
    });
    return conn;
  }

  /**
   * The handler's hooks, with their promises tracked so that the event that called them waits
   * for them (an object is not evicted in the middle of a hook). `open` only at upgrade.
   */
  #tracked(
    handler: WebSocketHandler<C>,
    record: SocketRecord,
    withOpen: boolean,
  ): WebSocketHandler<unknown> {
    const track = (result: void | Promise<void>): void | Promise<void> => {
      if (!(result instanceof Promise)) return result;
      // Fulfilled already: it cannot reject, so core need not watch it either.
      if (result === this.#fulfilled) return undefined;
      if (record.pending) record.pending.push(result);
      else record.pending = [result];
      return result;
    };
    type Conn = WebSocketConnection<C>;
    const tracked: WebSocketHandler<unknown> = {};
    if (handler.options) tracked.options = handler.options;
    const { open, message, close, error } = handler;
    if (withOpen && open) tracked.open = (conn) => track(open.call(handler, conn as Conn));
    if (message) tracked.message = (conn, msg) => track(message.call(handler, conn as Conn, msg));
    if (close)
      tracked.close = (conn, code, reason) =>
        track(close.call(handler, conn as Conn, code, reason));
    if (error) tracked.error = (conn, err) => track(error.call(handler, conn as Conn, err));
    return tracked;
  }

  /**
   * Waits for the hook promises the record holds, and for those the hooks add meanwhile;
   * undefined when there are none. An event takes the promises of the hooks it ran.
   */
  #settled(record: SocketRecord): Promise<void> | undefined {
    const pending = record.pending;
    if (pending === null) return undefined;
    record.pending = null;
    return Promise.allSettled(pending).then((results) => {
      const last = results.length - 1;
      if (results[last]!.status === 'fulfilled') this.#fulfilled = pending[last];
      return this.#settled(record);
    });
  }

  #closeSent(ws: WebSocket): void {
    const record = this.#records.get(ws);
    if (!record || record.closing) return;
    record.closing = true;
    record.attachment.closing = true;
    this.#trySave(record);
  }

  #save(record: SocketRecord): void {
    try {
      record.ws.serializeAttachment(record.attachment);
    } catch (error) {
      throw attachmentError(error);
    }
  }

  /** Saves bookkeeping that may be lost without harm (the socket may be closing). */
  #trySave(record: SocketRecord): void {
    try {
      record.ws.serializeAttachment(record.attachment);
    } catch {
      // A closed socket keeps no attachment; nothing to keep.
    }
  }

  #forget(ws: WebSocket): void {
    this.#records.delete(ws);
    this.#topics.forget(ws);
  }
}
