/**
 * The `Transport` over a `ws` WebSocket, for both sides. It only translates: ws events go to
 * the sink, sends go to ws. Two Node-specific things live here because they concern the
 * socket and not the protocol: write coalescing (one write per socket per tick) and framing
 * messages here, a published one once for every subscriber. Both need ws's socket and sender
 * state, which only ./ws-internals.ts reads; without them every frame goes through `ws.send`.
 */
import type { Socket } from 'node:net';
import { deflateRawSync, constants as zlibConstants } from 'node:zlib';
import {
  MessageTooBigError,
  type PreparedMessage,
  type Transport,
  type TransportCapabilities,
  type TransportSink,
  WebSocketError,
} from '@anyws/core';
import type { ServerOptions } from 'ws';
import WebSocket from 'ws';
import {
  type DirectDispatch,
  DirectWebSocket,
  deflateAgreement,
  guardFragments,
  isServerEnd,
  negotiatedExtensions,
  payloadSeen,
  routeEvents,
  senderIdle,
  senderIdleNotDeflating,
  serverWebSocketClass,
  setDirectDispatch,
  socketOf,
} from './ws-internals.js';

export { DirectWebSocket };

const OPEN = WebSocket.OPEN;
const EMPTY = Buffer.alloc(0);
/** The key under which a `PreparedMessage` keeps its unmasked, uncompressed frame. */
const FRAME_KEY = {};

const TEXT = { binary: false } as const;
const TEXT_COMPRESS = { binary: false, compress: true } as const;
const TEXT_PLAIN = { binary: false, compress: false } as const;
const BINARY = { binary: true } as const;
const BINARY_COMPRESS = { binary: true, compress: true } as const;
const BINARY_PLAIN = { binary: true, compress: false } as const;

/** The close code ws sends when it fails a connection itself, by its error code. */
const FAIL_CODES: Record<string, number> = {
  WS_ERR_UNSUPPORTED_MESSAGE_LENGTH: 1009,
  WS_ERR_UNSUPPORTED_DATA_PAYLOAD_LENGTH: 1009,
  WS_ERR_INVALID_UTF8: 1007,
  WS_ERR_TOO_MANY_BUFFERED_PARTS: 1008,
};

/**
 * ws's `perMessageDeflate` for servers that compress. Without context takeover every message
 * is compressed on its own, so a publish compresses once for all subscribers (and no socket
 * keeps a compression window between messages); threshold 0 compresses every message, as
 * context takeover did, unless a send asks `compress: false`.
 */
export const SERVER_DEFLATE = Object.freeze({ serverNoContextTakeover: true, threshold: 0 });

/** What differs between the ws servers of `serve`/`attach` and of the Hono helper. */
export interface WsServerSettings {
  maxPayload: number;
  autoPong: boolean;
  compress: boolean;
  /** ws's own close timer, a backstop behind core's `closeTimeout`. */
  closeTimeout: number;
  handleProtocols: NonNullable<ServerOptions['handleProtocols']>;
}

/**
 * The fewest fragments of one message ws accepts on any connection of this package (ws's own
 * default is 16,384). The count includes empty fragments, so it bounds what a peer can make
 * ws hold per message in fragment entries, whatever their size.
 */
export const MIN_MAX_FRAGMENTS = 65_536;

/**
 * ws's `maxFragments` for a `maxPayload`: a message within the size limit is accepted in any
 * fragmentation whose fragments average at least 64 bytes, and in 65,536 fragments at least.
 * What one message can hold is then bounded by `maxPayload` bytes of payload (twice that at
 * worst: a fragment keeps at most twice its size of its socket read, see `guardFragments`),
 * plus a few hundred bytes of objects per fragment, of which there are at most this many.
 * `maxPayload` 0 (no limit ws can enforce) counts as the largest limit ws can enforce.
 */
export function maxFragmentsFor(maxPayload: number): number {
  const limit = maxPayload > 0 ? maxPayload : MAX_ENFORCEABLE_PAYLOAD;
  return Math.max(MIN_MAX_FRAGMENTS, Math.ceil(limit / 64));
}

/**
 * The options of every ws server this package makes: upgrades handed in (`noServer`), no
 * client set (the adapters keep their own), {@link SERVER_DEFLATE} when compressing, the
 * fragment bound of {@link maxFragmentsFor}, and {@link DirectWebSocket} sockets (unless ws's
 * internals are not used).
 */
export function wsServerOptions(settings: WsServerSettings): ServerOptions {
  // `closeTimeout` and `maxFragments` are newer than @types/ws 8.18: typed here.
  const options: ServerOptions & { closeTimeout: number; maxFragments: number } = {
    noServer: true,
    clientTracking: false,
    autoPong: settings.autoPong,
    maxPayload: settings.maxPayload,
    maxFragments: maxFragmentsFor(settings.maxPayload),
    perMessageDeflate: settings.compress ? { ...SERVER_DEFLATE } : false,
    WebSocket: serverWebSocketClass(),
    closeTimeout: settings.closeTimeout,
    handleProtocols: settings.handleProtocols,
  };
  return options;
}

/** The largest `maxPayload` ws can enforce: it reads the option as a 32-bit integer. */
export const MAX_ENFORCEABLE_PAYLOAD = 0x7fffffff;

/**
 * The capabilities of the transports `serve`, `attach` and `connect` make: ws sends ping
 * frames and reports pongs, answers close frames and validates them itself, refuses messages
 * over `maxPayload` before buffering, reports `bufferedAmount` and can pause reading.
 */
export const WS_CAPABILITIES: TransportCapabilities = Object.freeze({
  pingFrames: true,
  forcedAutoPong: false,
  forcedCloseReply: true,
  validatesCloseCodes: true,
  enforcesMaxMessageSize: true,
  backpressure: true,
  pauseReading: true,
});

/** How a {@link WsTransport} was set up. */
export interface WsTransportOptions {
  /**
   * The URL reported as `conn.url`, or what gives it on first read; default `ws.url` (set on
   * clients).
   */
  url?: string | { readonly url: string };
  /**
   * Frames sent to this socket in one tick leave in one write (cork until `process.nextTick`).
   * Default true; false writes each frame at once, as ws does.
   */
  coalesce?: boolean;
  /** The `maxPayload` ws was created with (0: none). */
  maxPayload?: number;
  /**
   * ws's `maxPayload` is the connection's `maxMessageSize`, so ws refuses larger messages
   * before buffering them. Default: `maxPayload` is set and within what ws can enforce.
   */
  enforcesMaxMessageSize?: boolean;
  /** ws was created with `autoPong: true` (then `autoping: false` cannot hold pongs back). */
  autoPong?: boolean;
}

/** The property under which a ws WebSocket and its socket keep their transport. */
const OWNER = Symbol('anyws.transport');
interface Owned {
  [OWNER]: WsTransport;
}
/**
 * The capabilities of each (forcedAutoPong, enforcesMaxMessageSize) pair, frozen once and
 * shared by every transport that has them.
 */
const capabilitySets: TransportCapabilities[] = [false, true].flatMap((forcedAutoPong) =>
  [false, true].map((enforcesMaxMessageSize) =>
    Object.freeze({ ...WS_CAPABILITIES, forcedAutoPong, enforcesMaxMessageSize }),
  ),
);

function capabilitiesFor(forcedAutoPong: boolean, enforces: boolean): TransportCapabilities {
  return capabilitySets[(forcedAutoPong ? 2 : 0) + (enforces ? 1 : 0)]!;
}

/** The ws and socket listeners of every transport; `this` is the emitter. */
interface Listeners {
  message(this: unknown, data: Buffer, isBinary: boolean): void;
  ping(this: unknown, data: Buffer): void;
  pong(this: unknown, data: Buffer): void;
  error(this: unknown, error: Error): void;
  close(this: unknown, code: number, reason: Buffer): void;
  drain(this: unknown): void;
}
// Assigned by WsTransport's static block, the one place with access to its private fields.
let listeners: Listeners;
let dispatch: (transport: WsTransport, event: string | symbol, a: unknown, b: unknown) => boolean;

/** Transports corked in this tick, uncorked together by one `process.nextTick`. */
let dirty: WsTransport[] = [];
let flushScheduled = false;
/** Counts the ticks that wrote: a transport compares it to know whether it wrote in this one. */
let tick = 0;

function scheduleFlush(): void {
  if (!flushScheduled) {
    flushScheduled = true;
    process.nextTick(flushAll);
  }
}

function flushAll(): void {
  const list = dirty;
  dirty = [];
  flushScheduled = false;
  tick++;
  for (const transport of list) {
    try {
      transport.flush();
    } catch {
      // One broken socket must not leave the others corked.
    }
  }
}

function view(data: Buffer): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/**
 * Binary payloads up to this size are copied into the frame's one buffer; larger ones are
 * written as they are behind a header of their own (a copy would cost more than the write).
 */
const COPY_MAX = 8 * 1024;

/** Writes the header of an unmasked final frame into `frame`; returns the header's length. */
function writeHeader(frame: Buffer, opcode: number, length: number, rsv1: boolean): number {
  frame[0] = rsv1 ? 0xc0 | opcode : 0x80 | opcode;
  if (length < 126) {
    frame[1] = length;
    return 2;
  }
  if (length < 0x10000) {
    frame[1] = 126;
    frame.writeUInt16BE(length, 2);
    return 4;
  }
  frame[1] = 127;
  frame.writeUInt16BE(0, 2);
  frame.writeUIntBE(length, 4, 6);
  return 10;
}

function headerLength(length: number): number {
  return length < 126 ? 2 : length < 0x10000 ? 4 : 10;
}

/**
 * An unmasked, uncompressed, final frame of `opcode` (1 text, 2 binary) around `payload` of
 * `length` bytes, in one buffer. ws's own framing costs a header buffer, an options object and
 * two socket writes per frame (plus the string's encoding at write time): for small messages
 * that is most of the send.
 */
function frameDirect(
  opcode: number,
  payload: string | Uint8Array,
  length: number,
  rsv1 = false,
): Buffer {
  const frame = Buffer.allocUnsafe(headerLength(length) + length);
  const header = writeHeader(frame, opcode, length, rsv1);
  if (typeof payload === 'string') frame.write(payload, header, 'utf8');
  else frame.set(payload, header);
  return frame;
}

/** The header alone of an unmasked, uncompressed, final frame: the payload follows unchanged. */
function headerOnly(opcode: number, length: number): Buffer {
  const frame = Buffer.allocUnsafe(headerLength(length));
  writeHeader(frame, opcode, length, false);
  return frame;
}

/** A published message's frame, made once for every subscriber (`PreparedMessage.cached`). */
function plainFrame(message: PreparedMessage): Uint8Array {
  return frameDirect(message.binary ? 2 : 1, message.data, message.size);
}

/**
 * Payloads up to this size are compressed once, synchronously, for every subscriber; larger
 * ones go through ws, which compresses per socket off the main thread (a 1 MiB deflate takes
 * about 10 ms: longer would stall every other connection of the process).
 */
export const COMPRESS_ONCE_MAX = 1024 * 1024;

/**
 * How the server compresses for sockets that negotiated `server_no_context_takeover`: each
 * message is a DEFLATE stream of its own, so one compressed frame is valid for all of them.
 * One object per window size, shared by its sockets and used as the frame's cache key.
 */
interface SharedDeflate {
  readonly windowBits: number;
  readonly threshold: number;
}
/** By threshold, then window size (8–15): a few entries, looked up without a string key. */
const sharedDeflates = new Map<number, (SharedDeflate | undefined)[]>();

function sharedDeflateOf(ws: WebSocket): SharedDeflate | undefined {
  const agreed = deflateAgreement(ws);
  if (agreed?.params.server_no_context_takeover !== true) return undefined;
  const bits = agreed.params.server_max_window_bits;
  const windowBits = typeof bits === 'number' ? bits : 15;
  const threshold = agreed.threshold;
  let byBits = sharedDeflates.get(threshold);
  if (!byBits) {
    byBits = [];
    sharedDeflates.set(threshold, byBits);
  }
  let shared = byBits[windowBits];
  if (!shared) {
    shared = Object.freeze({ windowBits, threshold });
    byBits[windowBits] = shared;
  }
  return shared;
}

/**
 * The message compressed as RFC 7692 says (DEFLATE with a sync flush, its 4-byte
 * `00 00 ff ff` tail removed) and framed with RSV1: what ws sends for it on any socket of
 * `shared`'s window size.
 */
function deflatedFrame(message: PreparedMessage, shared: SharedDeflate): Uint8Array {
  const data = message.data;
  const compressed = deflateRawSync(typeof data === 'string' ? Buffer.from(data, 'utf8') : data, {
    windowBits: shared.windowBits,
    finishFlush: zlibConstants.Z_SYNC_FLUSH,
  });
  const length = compressed.length - 4;
  return frameDirect(message.binary ? 2 : 1, compressed.subarray(0, length), length, true);
}

/**
 * A ws `WebSocket` (already open) as a core `Transport`. Create it and hand it to
 * `new WebSocketConnection({ transport, ... })` in the same tick.
 */
export class WsTransport implements Transport {
  readonly capabilities: TransportCapabilities;

  readonly #url: string | { readonly url: string };
  readonly #ws: WebSocket;
  /** ws's socket; undefined when ws's internals are not used (then everything goes via ws). */
  readonly #socket: Socket | undefined;
  readonly #coalesce: boolean;
  readonly #maxPayload: number;
  /** Frames written straight to the socket are valid: server side, no permessage-deflate. */
  readonly #direct: boolean;
  /** Set on server sockets whose compressed frames can be shared (no context takeover). */
  readonly #shared: SharedDeflate | undefined;
  #sink: TransportSink | undefined;
  /** Events that came before `start`, replayed in order (made by the first one). */
  #early: ((sink: TransportSink) => void)[] | undefined;
  #corked = false;
  #watching = false;
  /** The `tick` in which a published frame was last written uncorked. */
  #wroteIn = -1;

  constructor(ws: WebSocket, options: WsTransportOptions = {}) {
    if (ws.readyState !== OPEN) throw new TypeError('WsTransport needs an open ws WebSocket');
    const socket = socketOf(ws);
    this.#ws = ws;
    this.#socket = socket;
    this.#coalesce = socket !== undefined && (options.coalesce ?? true);
    this.#maxPayload = options.maxPayload ?? 0;
    this.#url = options.url ?? ws.url ?? '';
    const deflate = ws.extensions.includes('permessage-deflate');
    const server = socket !== undefined && isServerEnd(ws);
    this.#direct = server && !deflate;
    this.#shared = server && deflate ? sharedDeflateOf(ws) : undefined;
    // Frames that ws compresses, or all of them without the socket, leave ws later than the
    // send: its callback is where the buffer may have emptied.
    if (deflate || socket === undefined) this.#afterSend = () => this.#sink?.drain();
    this.capabilities = capabilitiesFor(
      options.autoPong ?? false,
      options.enforcesMaxMessageSize ??
        (this.#maxPayload > 0 && this.#maxPayload <= MAX_ENFORCEABLE_PAYLOAD),
    );
    ws.binaryType = 'nodebuffer';
    guardFragments(ws);
    // Listeners shared by every transport find theirs on the emitter: no closures per socket.
    if (socket !== undefined) {
      (socket as unknown as Owned)[OWNER] = this;
      socket.on('drain', listeners.drain);
    }
    if (routeEvents(ws, this)) return;
    (ws as unknown as Owned)[OWNER] = this;
    ws.on('message', listeners.message);
    ws.on('ping', listeners.ping);
    ws.on('pong', listeners.pong);
    ws.on('error', listeners.error);
    ws.on('close', listeners.close);
  }

  get url(): string {
    const url = this.#url;
    return typeof url === 'string' ? url : url.url;
  }

  static {
    const owner = (emitter: unknown): WsTransport => (emitter as Owned)[OWNER];
    listeners = {
      message(data, isBinary) {
        dispatch(owner(this), 'message', data, isBinary);
      },
      ping(data) {
        dispatch(owner(this), 'ping', data, undefined);
      },
      pong(data) {
        dispatch(owner(this), 'pong', data, undefined);
      },
      error(error) {
        dispatch(owner(this), 'error', error, undefined);
      },
      close(code, reason) {
        dispatch(owner(this), 'close', code, reason);
      },
      drain() {
        owner(this).#sink?.drain();
      },
    };
    dispatch = (transport, event, a, b) => {
      switch (event) {
        case 'message':
          transport.#onMessage(a as Buffer, b as boolean);
          return true;
        case 'ping':
          if (transport.#sink) transport.#sink.ping(view(a as Buffer));
          else transport.#keep((sink) => sink.ping(view(a as Buffer)));
          return true;
        case 'pong':
          if (transport.#sink) transport.#sink.pong(view(a as Buffer));
          else transport.#keep((sink) => sink.pong(view(a as Buffer)));
          return true;
        case 'error':
          transport.#onError(a as Error);
          return true;
        case 'close':
          transport.#onClose(a as number, b as Buffer);
          return true;
        default:
          return false;
      }
    };
    // A DirectWebSocket's target is always the transport that routed its events.
    setDirectDispatch(dispatch as unknown as DirectDispatch);
  }

  get bufferedAmount(): number {
    return this.#ws.bufferedAmount;
  }

  /** The subprotocol ws agreed (read from ws: nothing kept per connection). */
  get protocol(): string {
    return this.#ws.protocol;
  }

  /** The extensions ws agreed, with their parameters (see `negotiatedExtensions`). */
  get extensions(): string {
    return negotiatedExtensions(this.#ws);
  }

  start(sink: TransportSink): void {
    if (this.#sink) throw new Error('WsTransport.start() was called twice');
    this.#sink = sink;
    const early = this.#early;
    this.#early = undefined;
    if (early) for (const event of early) event(sink);
  }

  sendText(data: string, compress: boolean | undefined): void {
    if (this.#ws.readyState !== OPEN) return;
    this.#beforeWrite();
    if (this.#canWriteDirect()) {
      const length = Buffer.byteLength(data, 'utf8');
      if (length <= COPY_MAX) this.#socket!.write(frameDirect(1, data, length));
      else this.#writeNow(frameDirect(1, data, length));
      return;
    }
    const options = compress === undefined ? TEXT : compress ? TEXT_COMPRESS : TEXT_PLAIN;
    this.#ws.send(data, options, this.#afterSend);
  }

  sendBytes(data: Uint8Array, compress: boolean | undefined): void {
    if (this.#ws.readyState !== OPEN) return;
    this.#beforeWrite();
    if (this.#canWriteDirect()) {
      const socket = this.#socket!;
      const length = data.byteLength;
      if (length <= COPY_MAX) socket.write(frameDirect(2, data, length));
      else this.#writeNow(headerOnly(2, length), data);
      return;
    }
    const options = compress === undefined ? BINARY : compress ? BINARY_COMPRESS : BINARY_PLAIN;
    this.#ws.send(data, options, this.#afterSend);
  }

  /**
   * Writes the frame the message was given once for all sockets where this socket takes
   * frames made here (`#canWriteDirect`, `#canWriteShared`): compressed once for every socket
   * without context takeover, as ws would compress it. Otherwise ws frames it for this socket.
   */
  sendPrepared(message: PreparedMessage): void {
    if (this.#ws.readyState !== OPEN) return;
    let frame: Uint8Array;
    if (this.#canWriteDirect()) {
      frame = message.cached(FRAME_KEY, plainFrame);
    } else if (this.#canWriteShared(message)) {
      const shared = this.#shared!;
      // ws's rule: compress unless asked not to, and only from its threshold on.
      frame =
        message.compress !== false && message.size >= shared.threshold
          ? message.cached(shared, deflatedFrame)
          : message.cached(FRAME_KEY, plainFrame);
    } else {
      if (message.binary) this.sendBytes(message.data as Uint8Array, message.compress);
      else this.sendText(message.data as string, message.compress);
      return;
    }
    // Both branches above need the socket.
    const socket = this.#socket!;
    if (!this.#corked && this.#wroteIn !== tick) {
      // A subscriber mostly gets one frame per tick: it leaves at once, which costs less than
      // corking for it. Frames after it in this tick are corked and leave together.
      this.#wroteIn = tick;
      scheduleFlush();
      socket.write(frame);
      return;
    }
    this.#beforeWrite();
    socket.write(frame);
  }

  ping(data: Uint8Array): void {
    if (this.#ws.readyState !== OPEN) return;
    this.#beforeWrite();
    this.#ws.ping(data, undefined, this.#afterSend);
  }

  pong(data: Uint8Array): void {
    if (this.#ws.readyState !== OPEN) return;
    this.#beforeWrite();
    this.#ws.pong(data, undefined, this.#afterSend);
  }

  close(code: number | undefined, reason: string): void {
    const ws = this.#ws;
    if (ws.readyState !== OPEN) return;
    this.#beforeWrite();
    if (code === undefined) ws.close();
    else ws.close(code, reason);
  }

  terminate(): void {
    this.#ws.terminate();
  }

  pause(): void {
    this.#ws.pause();
  }

  resume(): void {
    this.#ws.resume();
  }

  /**
   * Ends the tick's cork, then makes sure a `drain` will be reported once the buffer empties.
   * @internal Called once per tick for the transports that wrote in it.
   */
  flush(): void {
    const socket = this.#socket;
    if (socket === undefined) return;
    if (this.#corked) {
      this.#corked = false;
      socket.uncork();
    }
    if (socket.writableLength === 0) {
      this.#sink?.drain();
      return;
    }
    // The socket emits 'drain' only after a write returned false; below its own high-water
    // mark a buffer can still be over the connection's, so an empty write reports the flush.
    if (this.#watching || socket.destroyed || socket.writableNeedDrain) return;
    this.#watching = true;
    this.#afterFlushFn ??= () => this.#afterFlush();
    socket.write(EMPTY, this.#afterFlushFn);
  }

  /**
   * Frames this adapter makes itself are exactly what ws would send: a server socket (no
   * mask), without permessage-deflate, with nothing waiting in ws's sender to go first.
   */
  #canWriteDirect(): boolean {
    return this.#direct && senderIdle(this.#ws);
  }

  /**
   * A shared compressed frame can go straight to the socket: no context to carry over, and ws
   * is neither deflating nor holding frames that must leave first.
   */
  #canWriteShared(message: PreparedMessage): boolean {
    return (
      this.#shared !== undefined &&
      message.size <= COMPRESS_ONCE_MAX &&
      senderIdleNotDeflating(this.#ws)
    );
  }

  /**
   * Writes a large frame (one buffer, or a header and the payload as it is) at once, with
   * whatever this tick corked before it, in one system call. Holding it to the tick's end
   * would save no write, and once the socket took it all the send settles without waiting
   * for a drain: with messages larger than the high-water mark that wait was a tick and a
   * promise per message. Frames after it in this tick are corked again.
   */
  #writeNow(frame: Buffer, payload?: Uint8Array): void {
    const socket = this.#socket!;
    if (!this.#corked) socket.cork();
    this.#corked = false;
    socket.write(frame);
    if (payload !== undefined) socket.write(payload);
    socket.uncork();
  }

  /** Corks the socket for the rest of the tick (coalescing) and schedules the flush. */
  #beforeWrite(): void {
    if (this.#socket === undefined) return;
    if (this.#coalesce && !this.#corked) {
      this.#corked = true;
      this.#socket.cork();
    }
    if (dirty.length === 0 || dirty[dirty.length - 1] !== this) dirty.push(this);
    scheduleFlush();
  }

  /** `#afterFlush` as a write callback, made by the first flush that has to wait. */
  #afterFlushFn: (() => void) | undefined;

  #afterFlush(): void {
    this.#watching = false;
    this.#sink?.drain();
    this.flush();
  }

  /** The callback of sends that leave ws later (compressed, or all without the socket). */
  readonly #afterSend: (() => void) | undefined;

  #emit(event: (sink: TransportSink) => void): void {
    const sink = this.#sink;
    if (sink) event(sink);
    else this.#keep(event);
  }

  #keep(event: (sink: TransportSink) => void): void {
    this.#early ??= [];
    this.#early.push(event);
  }

  #onMessage(data: Buffer, isBinary: boolean): void {
    const sink = this.#sink;
    if (sink) {
      if (isBinary) sink.binary(view(data));
      else sink.text(data.toString('utf8'));
      return;
    }
    const text = isBinary ? undefined : data.toString('utf8');
    this.#keep((s) => (text === undefined ? s.binary(view(data)) : s.text(text)));
  }

  /**
   * A `WS_ERR_*` error means ws failed the connection itself: it sent the close frame with the
   * failure's code and stopped reading, so core hears that code with the error.
   */
  #onError(error: Error): void {
    const code = (error as Error & { code?: unknown }).code;
    let reported = error;
    let failCode: number | undefined;
    if (typeof code === 'string' && code.startsWith('WS_ERR_')) {
      failCode = FAIL_CODES[code] ?? 1002;
      if (failCode === 1009) {
        const seen = payloadSeen(this.#ws);
        const limit = this.#maxPayload;
        // ws stops at the frame header that takes the message past the limit: the size it saw.
        reported = new MessageTooBigError(
          seen !== undefined && seen > limit ? seen : limit + 1,
          limit,
        );
      } else {
        reported = new WebSocketError(error.message, { cause: error });
      }
    }
    this.#emit((sink) => sink.error(reported, failCode));
  }

  #onClose(code: number, reason: Buffer): void {
    const text = reason.length === 0 ? '' : reason.toString('utf8');
    this.#emit((sink) => sink.closed(code, text));
  }
}
