/**
 * `DenoTransport`: Deno's WebSocket (server sockets from `Deno.upgradeWebSocket`, client
 * sockets from `new WebSocket`) as a core `Transport`. It only translates events; every
 * semantic (close rules, heartbeat, limits, backpressure bound) is core's.
 */
import type { Transport, TransportCapabilities, TransportSink } from '@anyws/core';
import { unrefTimeout } from './runtime.ts';

/**
 * What Deno's server WebSocket (`Deno.upgradeWebSocket`) does by itself, measured on Deno 2.9
 * (test/runtime.test.ts proves each line against raw TCP peers).
 */
export const DENO_SERVER_CAPABILITIES: TransportCapabilities = Object.freeze({
  // No ping() in the WebSocket API and pongs are not reported: core's application-level heartbeat.
  pingFrames: false,
  // Deno answers protocol pings itself, with their payload.
  forcedAutoPong: true,
  // Deno echoes the peer's close frame itself before the 'close' event.
  forcedCloseReply: true,
  // Deno answers an invalid close code with 1002 and reports an error.
  validatesCloseCodes: true,
  // Deno has no maximum message size: core checks and closes with 1009.
  enforcesMaxMessageSize: false,
  // `bufferedAmount` counts bytes not yet written to the socket; drain is found by polling it.
  backpressure: true,
  // No permessage-deflate in Deno's WebSocket, either side: `compress: true` is refused.
  deflate: false,
  // The WebSocket API cannot stop reading.
  pauseReading: false,
  // A server socket's close() takes any code.
  restrictedCloseCodes: false,
});

/** Deno's client WebSocket (`new WebSocket`): the same, but `close()` follows the WHATWG rule. */
export const DENO_CLIENT_CAPABILITIES: TransportCapabilities = Object.freeze({
  ...DENO_SERVER_CAPABILITIES,
  // close() throws for anything but 1000 and 3000–4999: core sends a frame without a body then.
  restrictedCloseCodes: true,
});

const OPEN = 1;
const PROTOCOL_ERROR = 1002;
const ABNORMAL_CLOSURE = 1006;
/** Deno's error message when it answered a peer's invalid close code with 1002. */
const INVALID_CLOSE_CODE = 'Invalid close code';
/** Longest pause between two looks at `bufferedAmount` while it does not go down. */
const MAX_POLL_MS = 20;

/** Which end a socket is: Deno lets a client close only with 1000 and 3000–4999. */
export type DenoSocketRole = 'server' | 'client';

/** Options of a {@link DenoTransport}. */
export interface DenoTransportOptions {
  /**
   * While `bufferedAmount` is at most this many bytes nobody waits for it to go down, so no
   * drain is reported: give the connection's `highWaterMark`. Default 0: a drain is reported
   * for every decrease after `bufferedAmount` was read above 0.
   */
  drainThreshold?: number;
}

/**
 * A Deno WebSocket as a core transport. Listens from construction and replays what came
 * before `start()`, so no event between the socket's `open` and the connection is lost.
 */
export class DenoTransport implements Transport {
  readonly capabilities: TransportCapabilities;
  readonly runtime = 'deno';
  /** Deno negotiates no extensions (no permessage-deflate). */
  readonly extensions = '';
  readonly #ws: WebSocket;
  #sink: TransportSink | undefined;
  /** Events that came before `start()`, in order. */
  #early: ((sink: TransportSink) => void)[] | null = [];
  /** After `terminate()` nothing more is reported. */
  #detached = false;
  /** In the set of transports whose buffer is watched. */
  #watched = false;
  /** `bufferedAmount` at the last look. */
  #lastBuffered = 0;
  readonly #drainThreshold: number;

  /**
   * @param ws an open (client) or just upgraded (server) Deno WebSocket
   * @param url the URL the connection was opened with or requested at
   * @param protocol the negotiated subprotocol, '' for none
   * @param role which end this socket is
   */
  constructor(
    ws: WebSocket,
    readonly url: string,
    readonly protocol: string,
    role: DenoSocketRole,
    options: DenoTransportOptions = {},
  ) {
    this.#ws = ws;
    this.capabilities = role === 'server' ? DENO_SERVER_CAPABILITIES : DENO_CLIENT_CAPABILITIES;
    this.#drainThreshold = options.drainThreshold ?? 0;
    ws.binaryType = 'arraybuffer';
    ws.addEventListener('message', this.#onMessage);
    ws.addEventListener('error', this.#onError);
    ws.addEventListener('close', this.#onClose);
  }

  /**
   * Deno's own count. Whoever sees it above the drain threshold (core, right after a send, to
   * decide whether the send waits) is told of each decrease from then on: the watch starts here.
   */
  get bufferedAmount(): number {
    const amount = this.#ws.bufferedAmount;
    if (amount > this.#drainThreshold && !this.#watched) this.#watch();
    return amount;
  }

  start(sink: TransportSink): void {
    this.#sink = sink;
    const early = this.#early;
    this.#early = null;
    if (early) for (const replay of early) replay(sink);
  }

  sendText(data: string): void {
    this.#ws.send(data);
  }

  sendBytes(data: Uint8Array): void {
    // Deno copies the bytes before `send` returns, so the caller's buffer may be reused. A
    // view of a whole ArrayBuffer (every received message) goes as the buffer: Deno's faster path.
    const buffer = data.buffer;
    if (
      data.byteOffset === 0 &&
      data.byteLength === buffer.byteLength &&
      buffer instanceof ArrayBuffer
    ) {
      this.#ws.send(buffer);
    } else {
      // Deno sends any view; lib.dom types `send` for ArrayBuffer-backed views only.
      this.#ws.send(data as Uint8Array<ArrayBuffer>);
    }
  }

  close(code: number | undefined, reason: string): void {
    const ws = this.#ws;
    if (ws.readyState !== OPEN) return;
    // With no argument Deno sends a close frame without a body; `close(1005)` would put 1005 on the wire.
    if (code === undefined) ws.close();
    else ws.close(code, reason);
  }

  /**
   * Deno has no way to drop a WebSocket without its closing handshake (neither the socket
   * nor the TCP connection underneath is reachable). The nearest it allows: a close frame
   * without a body, and nothing more reported. Deno releases the socket when the peer
   * answers, sends anything else (server sockets), or goes away.
   */
  terminate(): void {
    if (this.#detached) return;
    this.#detached = true;
    if (this.#ws.readyState === OPEN) this.#ws.close();
  }

  /** Reports `event` now, or after `start()` when it came before. */
  #deliver(event: (sink: TransportSink) => void): void {
    if (this.#detached) return;
    const sink = this.#sink;
    if (sink) event(sink);
    else this.#early?.push(event);
  }

  #onMessage = (event: MessageEvent): void => {
    const data: unknown = event.data;
    const sink = this.#sink;
    // The hot path: no closure per message once started.
    if (sink === undefined || this.#detached) {
      this.#deliver((late) => this.#message(late, data));
      return;
    }
    this.#message(sink, data);
  };

  #message(sink: TransportSink, data: unknown): void {
    if (typeof data === 'string') sink.text(data);
    else if (data instanceof ArrayBuffer) sink.binary(new Uint8Array(data));
  }

  #onError = (event: Event): void => {
    const detail = event as ErrorEvent;
    const message = detail.message || 'WebSocket error';
    const error = detail.error instanceof Error ? detail.error : new Error(message);
    // The one fault Deno answers on the wire itself: an invalid close code gets its 1002.
    const sent = message === INVALID_CLOSE_CODE ? PROTOCOL_ERROR : undefined;
    this.#deliver((sink) => sink.error(error, sent));
  };

  #onClose = (event: CloseEvent): void => {
    // Deno reports its own endings (an error, a dropped connection, its idle timeout) as unclean,
    // with code 0 or its own 1001: none of them carries a close frame from the peer.
    const fromPeer = event.wasClean && event.code !== 0;
    const code = fromPeer ? event.code : ABNORMAL_CLOSURE;
    const reason = fromPeer ? event.reason : '';
    this.#deliver((sink) => sink.closed(code, reason));
  };

  // ---- drain ------------------------------------------------------------------------
  // Deno has no drain event and lowers `bufferedAmount` only once its write task has run, on a
  // later turn of the event loop. A transport is watched from the moment its `bufferedAmount`
  // is seen above the drain threshold (only then may a sender wait) until its buffer is
  // empty. The watched ones are looked at together: one timer per turn for the whole process,
  // each decrease reported. While no buffer goes down the looks back off to MAX_POLL_MS apart.

  static readonly #watching = new Set<DenoTransport>();
  static #timer: ReturnType<typeof setTimeout> | undefined;
  static #delay = 0;

  #watch(): void {
    this.#watched = true;
    // Unknown until the first look: that look reports a drain, which core ignores if none is due.
    this.#lastBuffered = Number.POSITIVE_INFINITY;
    DenoTransport.#watching.add(this);
    if (DenoTransport.#timer === undefined) {
      DenoTransport.#delay = 0;
      DenoTransport.#timer = unrefTimeout(DenoTransport.#look, 0);
    }
  }

  static #look = (): void => {
    DenoTransport.#timer = undefined;
    const watching = DenoTransport.#watching;
    let moved = false;
    for (const transport of watching) {
      const buffered = transport.#detached ? 0 : transport.#ws.bufferedAmount;
      if (buffered < transport.#lastBuffered) {
        moved = true;
        transport.#lastBuffered = buffered;
        if (!transport.#detached) transport.#sink?.drain();
      }
      if (buffered === 0) {
        transport.#watched = false;
        watching.delete(transport);
      }
    }
    if (watching.size === 0) return;
    DenoTransport.#delay = moved ? 0 : Math.min(MAX_POLL_MS, DenoTransport.#delay * 2 || 1);
    DenoTransport.#timer = unrefTimeout(DenoTransport.#look, DenoTransport.#delay);
  };
}
