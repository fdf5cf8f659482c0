/**
 * Everything this package reads or overrides of ws beyond its public API, in one module.
 * Each use is a speed-up with a public fallback, so a ws release that moves a private field
 * costs speed, never correctness:
 *
 * - `_socket` (the `net.Socket`): corking a socket's writes for a tick, and writing frames
 *   made here. Without it every frame goes through `ws.send`, and drains are reported by its
 *   send callbacks.
 * - `_sender._queue`, `_sender._state`: whether ws still holds frames (or is compressing one)
 *   that must leave before a frame written here.
 * - `_isServer`: a server socket sends unmasked frames, the only ones made here.
 * - `_extensions['permessage-deflate']` (`params`, `_threshold`): whether a compressed frame
 *   can be shared by every socket without context takeover.
 * - `_receiver._totalPayloadLength`: the size ws saw when it refused a message over
 *   `maxPayload` (else the error reports the limit plus one).
 * - `_receiver._fragments` and `_fin`: {@link guardFragments} copies a small fragment out of
 *   the socket read it arrived in, so that a fragmented message cannot hold a read per byte.
 * - {@link DirectWebSocket}'s `emit` override: events go straight to the transport.
 *
 * At start-up {@link checkWsShape} looks at the installed ws. When a field is missing, or
 * when the environment sets `ANYWS_WS_INTERNALS=off`, nothing here reads private state: the
 * accessors answer "unknown", the transport uses ws's public API only, and the first case
 * says so once with a process warning (code `ANYWS_WS_INTERNALS`).
 */
import type { Socket } from 'node:net';
import WebSocket, * as wsModule from 'ws';

/** The fields of ws's objects read here; typed here because ws keeps them private. */
interface WsPrivate {
  _socket: Socket | null;
  /** `_state` 0 is ws's DEFAULT: not deflating, not reading a Blob. */
  _sender: { _queue: unknown[]; _state: number } | null;
  _receiver: ReceiverPrivate | null;
  _isServer: boolean;
  _extensions: Record<string, { params?: Record<string, unknown>; _threshold?: unknown }>;
}

/** What is read of ws's Receiver. */
interface ReceiverPrivate {
  _totalPayloadLength?: unknown;
  /** The fragments of the message under way (views into socket reads), replaced per message. */
  _fragments: Buffer[];
  /** Whether the frame being read is its message's last. */
  _fin: boolean;
}

/** The classes of a ws module that {@link checkWsShape} looks at. */
export interface WsClasses {
  WebSocket: new (address: null, protocols?: undefined, options?: object) => unknown;
  Sender?: unknown;
  Receiver?: unknown;
}

/**
 * Why the ws given does not have the shape this module reads, or undefined when it does.
 * Builds a server-side WebSocket, a Sender and a Receiver without a socket: nothing is opened.
 */
export function checkWsShape(ws: WsClasses): string | undefined {
  try {
    const socket = new ws.WebSocket(null, undefined, {}) as Partial<
      Record<keyof WsPrivate, unknown>
    >;
    for (const field of ['_socket', '_sender', '_receiver'] as const) {
      if (!(field in socket)) return `WebSocket has no ${field}`;
    }
    if (socket._isServer !== true) return 'WebSocket has no _isServer';
    if (typeof socket._extensions !== 'object' || socket._extensions === null)
      return 'WebSocket has no _extensions';
    const SenderClass = ws.Sender as (new (socket: unknown) => unknown) | undefined;
    const ReceiverClass = ws.Receiver as (new (options: object) => unknown) | undefined;
    if (typeof SenderClass !== 'function' || typeof ReceiverClass !== 'function')
      return 'ws exports no Sender or Receiver';
    const sender = new SenderClass({}) as Partial<NonNullable<WsPrivate['_sender']>>;
    if (!Array.isArray(sender._queue) || typeof sender._state !== 'number')
      return 'Sender has no _queue or _state';
    const receiver = new ReceiverClass({ isServer: true }) as Partial<ReceiverPrivate>;
    if (typeof receiver._totalPayloadLength !== 'number')
      return 'Receiver has no _totalPayloadLength';
    if (!Array.isArray(receiver._fragments) || typeof receiver._fin !== 'boolean')
      return 'Receiver has no _fragments or _fin';
    if (typeof (receiver as { getData?: unknown }).getData !== 'function')
      return 'Receiver has no getData';
    return undefined;
  } catch (error) {
    return `checking ws failed: ${String(error)}`;
  }
}

/** Whether ws's private state is read (`active`), and if not, why. */
export interface WsInternalsState {
  readonly active: boolean;
  readonly reason: string | undefined;
}

/**
 * Decides once whether to read ws's private state: not when `flag` is `off`, nor when
 * {@link checkWsShape} finds `classes` unlike what this module reads; that case is told to
 * `warn` (the only time it is told).
 */
export function decideInternals(
  flag: string | undefined,
  classes: WsClasses,
  warn: (message: string) => void,
): WsInternalsState {
  if (flag === 'off') return Object.freeze({ active: false, reason: 'ANYWS_WS_INTERNALS=off' });
  const reason = checkWsShape(classes);
  if (reason === undefined) return Object.freeze({ active: true, reason: undefined });
  warn(
    `@anyws/node: the installed ws differs from what it expects (${reason}); ` +
      "using ws's public API only: correct, slower",
  );
  return Object.freeze({ active: false, reason });
}

/**
 * Whether this process reads ws's private state, and if not, why. Decided when the module
 * loads: a mismatch is reported once, as a process warning with code `ANYWS_WS_INTERNALS`.
 */
export const wsInternals: WsInternalsState = decideInternals(
  process.env.ANYWS_WS_INTERNALS,
  {
    WebSocket: WebSocket as unknown as WsClasses['WebSocket'],
    // @types/ws does not declare the Sender and Receiver that ws exports.
    Sender: (wsModule as unknown as WsClasses).Sender,
    Receiver: (wsModule as unknown as WsClasses).Receiver,
  },
  (message) => process.emitWarning(message, { code: 'ANYWS_WS_INTERNALS' }),
);
const active = wsInternals.active;

function inner(ws: WebSocket): WsPrivate {
  return ws as unknown as WsPrivate;
}

/** The socket under `ws`, or undefined when it is not known (fallback, or not a socket). */
export function socketOf(ws: WebSocket): Socket | undefined {
  if (!active) return undefined;
  const socket = inner(ws)._socket;
  return socket !== null && typeof socket.cork === 'function' ? socket : undefined;
}

/** Whether `ws` is the server end (its frames unmasked); false when not known. */
export function isServerEnd(ws: WebSocket): boolean {
  return active && inner(ws)._isServer === true;
}

/** Whether ws holds no frame that must leave before one written to the socket directly. */
export function senderIdle(ws: WebSocket): boolean {
  const sender = inner(ws)._sender;
  return sender === null || sender._queue.length === 0;
}

/** {@link senderIdle}, and ws is not compressing a frame either. */
export function senderIdleNotDeflating(ws: WebSocket): boolean {
  const sender = inner(ws)._sender;
  return sender === null || (sender._queue.length === 0 && sender._state === 0);
}

/**
 * The permessage-deflate parameters agreed on `ws` and ws's compression threshold, or
 * undefined when none were agreed or they cannot be read.
 */
export function deflateAgreement(
  ws: WebSocket,
): { params: Record<string, unknown>; threshold: number } | undefined {
  if (!active) return undefined;
  const extension = inner(ws)._extensions['permessage-deflate'];
  if (extension?.params === undefined) return undefined;
  const threshold = extension._threshold;
  return { params: extension.params, threshold: typeof threshold === 'number' ? threshold : 1024 };
}

/**
 * The agreed extensions with their parameters, as a `Sec-WebSocket-Extensions` header writes
 * them (`permessage-deflate; server_no_context_takeover; client_max_window_bits=15`): ws's
 * public `extensions` names them only. Without the internals, the names.
 */
export function negotiatedExtensions(ws: WebSocket): string {
  if (!active) return ws.extensions;
  const agreed = inner(ws)._extensions;
  const parts: string[] = [];
  for (const name of Object.keys(agreed)) {
    let item = name;
    for (const [key, value] of Object.entries(agreed[name]?.params ?? {})) {
      if (value === false || value === undefined) continue;
      item += value === true ? `; ${key}` : `; ${key}=${String(value)}`;
    }
    parts.push(item);
  }
  return parts.join(', ');
}

/** The message size ws had seen when it failed the connection for `maxPayload`, if known. */
export function payloadSeen(ws: WebSocket): number | undefined {
  if (!active) return undefined;
  const seen = inner(ws)._receiver?._totalPayloadLength;
  return typeof seen === 'number' ? seen : undefined;
}

/**
 * ws keeps each fragment of a message as a view into the socket read it arrived in, until the
 * message completes. A peer that sends 1-byte fragments, each in a read filled up with control
 * frames, would make a connection hold a 64 KiB read per payload byte (65,536 fragments: about
 * 4 GiB, measured at 60 KB per fragment). A guarded receiver copies a non-final fragment that
 * is less than half of its read as soon as ws stored it, so what a fragment holds is at most
 * twice its bytes. Single-frame messages and the final fragment (concatenated at once) are
 * never copied: the copy costs only fragmented messages, and at most their size.
 *
 * The receiver gets its own `getData` (one function shared by all), which keeps its object
 * shape fast; an accessor on `_fragments` would turn every receiver into a dictionary (half
 * the speed of small messages, measured).
 */
function guardedGetData(this: ReceiverPrivate, cb: unknown): void {
  receiverGetData.call(this, cb);
  if (this._fin) return;
  const list = this._fragments;
  const last = list.length - 1;
  if (last < 0) return;
  const fragment = list[last]!;
  if (fragment.buffer.byteLength > 2 * fragment.length) list[last] = copyOut(fragment);
}

/** ws's own `getData` of the Receiver this package imports. */
const receiverGetData = ((
  wsModule as unknown as { Receiver?: { prototype: { getData?: unknown } } }
).Receiver?.prototype.getData ?? (() => undefined)) as (this: ReceiverPrivate, cb: unknown) => void;

/**
 * `fragment` in memory of its own: not from Buffer's shared pool, whose 8 KiB slabs the
 * allocations between two fragments (the answers to control frames) would spread them over.
 */
function copyOut(fragment: Buffer): Buffer {
  const copy = Buffer.allocUnsafeSlow(fragment.length);
  fragment.copy(copy);
  return copy;
}

/**
 * Installs the copy of small fragments described at {@link guardedGetData} on the receiver of
 * `ws`, when that receiver is the ws this package imports (another copy of ws is left alone).
 */
export function guardFragments(ws: WebSocket): void {
  if (!active) return;
  const receiver = inner(ws)._receiver as (ReceiverPrivate & { getData?: unknown }) | null;
  if (receiver === null || receiver.getData !== receiverGetData) return;
  receiver.getData = guardedGetData;
}

/**
 * Takes an event of a {@link DirectWebSocket} for its target; returns false for an event it
 * does not take (then listeners hear it as usual).
 */
export type DirectDispatch = (
  target: unknown,
  event: string | symbol,
  a: unknown,
  b: unknown,
) => boolean;

/** The field of a {@link DirectWebSocket} that holds its target. */
const TARGET = Symbol('anyws.direct');
let dispatch: DirectDispatch = () => false;

/**
 * ws's WebSocket for the servers of this package (its `WebSocket` server option): once
 * {@link routeEvents} gave it a target, its events go straight to that target instead of
 * through listeners. That spares each connection five listener entries and the emitter
 * lookups per message. Listeners added by others still hear every event.
 */
export class DirectWebSocket extends WebSocket {
  [TARGET]: unknown = undefined;

  override emit(event: string | symbol, a?: unknown, b?: unknown): boolean {
    const target = this[TARGET];
    if (target === undefined || !dispatch(target, event, a, b)) {
      return super.emit(event, a, b);
    }
    // 'error' without a listener must not throw: the target took it.
    return this.listenerCount(event) === 0 || super.emit(event, a, b);
  }
}

/** Sets the one function that hands a {@link DirectWebSocket}'s events to its target. */
export function setDirectDispatch(fn: DirectDispatch): void {
  dispatch = fn;
}

/**
 * Sends the events of `ws` to `target` when `ws` is a {@link DirectWebSocket} and ws is as
 * expected; returns false otherwise (the caller then listens as usual).
 */
export function routeEvents(ws: WebSocket, target: unknown): boolean {
  if (!active || !(ws instanceof DirectWebSocket)) return false;
  ws[TARGET] = target;
  return true;
}

/** The `WebSocket` class for ws servers of this package: {@link DirectWebSocket} when usable. */
export function serverWebSocketClass(): typeof WebSocket {
  return active ? DirectWebSocket : WebSocket;
}
