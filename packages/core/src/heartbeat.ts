/**
 * Keepalive: the connection's heartbeat (a ping after `interval` of silence, a dead peer when
 * no pong comes within `timeout`), and the application-level ping for ends without ping frames.
 *
 * ## The application-level heartbeat: wire form
 *
 * Browsers, Deno's client and workerd cannot send protocol ping frames. Between two anyws ends
 * the heartbeat then travels as two fixed text messages, fixed so that a Durable Object's
 * `setWebSocketAutoResponse` can answer it while the object sleeps:
 *
 * - ping: the text `"\u0000anyws:ping"` ({@link APP_PING}: a NUL character, then `anyws:ping`);
 * - pong: the text `"\u0000anyws:pong"` ({@link APP_PONG}).
 *
 * They carry no payload: `ping(data)` with data rejects where the end has no ping frames.
 *
 * ## Negotiation
 *
 * Text messages belong to the application, so the heartbeat travels as text only between ends
 * that agreed to it; otherwise no text is ever taken for it (an application message equal to
 * `APP_PING` is delivered as TEXT).
 *
 * 1. A client without ping frames offers the subprotocol token {@link HEARTBEAT_PROTOCOL}
 *    (`anyws.heartbeat`), last in `Sec-WebSocket-Protocol`. An anyws server never matches the
 *    application's subprotocols against it; its 101 selects the token only where no application
 *    subprotocol is chosen (clients fail an opening that selects none of their offer). A server
 *    that is not anyws may select it too (ws picks the first offer): it says no hello, so
 *    nothing is agreed.
 * 2. An anyws server whose client offered it (`ConnectionInit.appHeartbeat`) sends one
 *    `APP_PING`, the hello, right after opening, and from then on answers application pings
 *    and may send them. A server whose client did not offer it treats both texts as data.
 * 3. The client decides at the server's first message. The hello (`APP_PING`, or an `APP_PONG`):
 *    agreed. Anything else: not an anyws server (one says hello before anything else), so the
 *    heartbeat stays off for good and both texts are data. Before that it sends no heartbeat
 *    ping, and a `ping()` waits for the decision (sent on agreement, else rejected with
 *    `UnsupportedOptionError`; a quiet server leaves it waiting until its `timeout` or the end):
 *    against a server that is not anyws it never sends stray text nor takes a quiet connection
 *    for a dead one.
 *
 * Where an end has protocol ping frames its heartbeat uses them whatever was agreed; it still
 * answers application pings once agreed. An end without ping frames whose peer did not agree
 * runs no heartbeat on that connection (it has no way to ping). A `WebSocketRoom` (Durable Object) answers `APP_PING` by the runtime's
 * auto-response, which matches the text before the object sees it: in a room the ping text is
 * answered for every client.
 *
 * Package-internal apart from the constants.
 */
import { HeartbeatTimeoutError } from './errors.js';

/** The subprotocol token by which a client offers the application-level heartbeat. */
export const HEARTBEAT_PROTOCOL = 'anyws.heartbeat';
/** The application-level ping: a text message, see the module's documentation. */
export const APP_PING = '\u0000anyws:ping';
/** The answer to {@link APP_PING}. */
export const APP_PONG = '\u0000anyws:pong';

/** `appControl`'s answers. */
export const NOT_CONTROL = 0;
export const IS_APP_PING = 1;
export const IS_APP_PONG = 2;

/** Whether `text` is the application-level ping or pong (a cheap test first: most text is not). */
export function appControl(text: string): number {
  if (text.length !== APP_PING.length || text.charCodeAt(0) !== 0) return NOT_CONTROL;
  if (text === APP_PING) return IS_APP_PING;
  if (text === APP_PONG) return IS_APP_PONG;
  return NOT_CONTROL;
}

/** A ping awaiting its pong; pongs answer pings in order. */
export interface PendingPing {
  start: number;
  resolve: (rtt: number) => void;
  reject: (error: Error) => void;
}

/**
 * What the heartbeat needs of its connection: one object for every connection (the connection
 * comes as `owner`), so a heartbeat costs no closure per need.
 */
export interface HeartbeatHost<T> {
  /** The connection is open (a closing one is not pinged). */
  isOpen(owner: T): boolean;
  /** Reading is paused because the application is behind. */
  readingPaused(owner: T): boolean;
  /** Sends a ping, queued as `entry` with the application's pings so that its pong does not resolve one of theirs. */
  sendPing(owner: T, entry: PendingPing): void;
  /** Withdraws `entry` from the pings awaiting a pong. */
  forgetPing(owner: T, entry: PendingPing): void;
  /** No pong in time: the peer is dead. */
  dead(owner: T, error: HeartbeatTimeoutError): void;
}

export const now = (): number => performance.now();
function ignore(): void {}

/**
 * A running heartbeat: pings after `interval` of silence; any traffic from the peer, not only
 * the pong, proves it alive. Stopped for good when the connection starts closing.
 */
export class Heartbeat<T> {
  // `declare`d and assigned in the constructor: parameter properties would also emit field
  // definitions, bytes in every page that bundles core.
  declare readonly owner: T;
  declare readonly host: HeartbeatHost<T>;
  declare readonly interval: number;
  declare readonly timeout: number;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #stopped = false;
  /** When the peer last showed a sign of life. */
  #lastActivity = 0;
  /** The heartbeat's own ping awaiting its pong. */
  #ping: PendingPing | null = null;
  readonly #tick = (): void => this.#onTick();

  constructor(owner: T, host: HeartbeatHost<T>, interval: number, timeout: number) {
    this.owner = owner;
    this.host = host;
    this.interval = interval;
    this.timeout = timeout;
  }

  /** Starts pinging (at once for an end with ping frames, on agreement for the others). */
  start(): void {
    if (this.#stopped || this.#timer !== undefined) return;
    this.#lastActivity = now();
    this.#timer = setTimeout(this.#tick, this.interval);
  }

  /** Stops for good: the connection is closing. */
  stop(): void {
    this.#stopped = true;
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
  }

  /** Traffic from the peer, while the heartbeat runs. */
  alive(): void {
    if (this.#timer !== undefined) this.#lastActivity = now();
  }

  /** A pong answered `entry`: if it was the heartbeat's ping, none is outstanding any more. */
  answered(entry: PendingPing | undefined): void {
    if (entry === this.#ping) this.#ping = null;
  }

  #onTick(): void {
    const host = this.host;
    const owner = this.owner;
    if (!host.isOpen(owner)) {
      this.#timer = undefined;
      return;
    }
    const t = now();
    if (host.readingPaused(owner)) {
      // Reading is paused because the application is behind: the peer's pong waits unread
      // behind its messages, so its silence proves nothing.
      this.#lastActivity = t;
    }
    const ping = this.#ping;
    if (ping) {
      if (this.#lastActivity < ping.start) {
        this.#timer = undefined;
        host.dead(owner, new HeartbeatTimeoutError(this.timeout));
        return;
      }
      // Other traffic proved the peer alive before the pong came: forget the ping.
      this.#ping = null;
      host.forgetPing(owner, ping);
    }
    const idle = t - this.#lastActivity;
    if (idle < this.interval) {
      this.#timer = setTimeout(this.#tick, this.interval - idle);
      return;
    }
    const entry: PendingPing = { start: t, resolve: ignore, reject: ignore };
    this.#ping = entry;
    host.sendPing(owner, entry);
    this.#timer = setTimeout(this.#tick, this.timeout);
  }
}
