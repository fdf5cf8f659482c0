/**
 * workerd's server-side WebSocket as a core `Transport`, in its two forms: a socket accepted
 * with `accept()` (events by listener; a plain Worker, or a room's session connection), and a
 * socket accepted with `ctx.acceptWebSocket()` (events by the Durable Object's handler methods).
 */
import {
  type Transport,
  type TransportCapabilities,
  type TransportSink,
  WSCloseCode,
} from '@anyws/core';

/**
 * What workerd does by itself, measured on workerd 1.20260426 (compatibility date 2026-04-26):
 * it answers protocol pings and never reports them, so core's application-level heartbeat is
 * used; with `allowHalfOpen` (and on the Hibernation API) it leaves the answer to a close frame,
 * and any close code, valid or not, to the adapter; it accepts messages up to 32 MiB before it
 * closes with 1009 itself, so smaller limits are core's; `send()` never pushes back and there
 * is no `bufferedAmount`; reading cannot be paused.
 */
export const WORKERD_CAPABILITIES: TransportCapabilities = Object.freeze({
  pingFrames: false,
  forcedAutoPong: true,
  forcedCloseReply: false,
  validatesCloseCodes: false,
  enforcesMaxMessageSize: false,
  backpressure: false,
  pauseReading: false,
});

/**
 * workerd has no way to drop a connection without a close frame: `terminate()` sends a close
 * frame without a body (when no close frame went out yet) and forgets the socket, so the peer
 * sees this code, 1005, as on every runtime that cannot drop a socket (see `Transport.terminate`).
 */
export const TERMINATE_CODE = WSCloseCode.NO_STATUS;

const CROSS_REQUEST = 'on behalf of a different request';

/** True for workerd's refusal to touch an I/O object from another request's context. */
function isCrossRequestError(error: unknown): boolean {
  return error instanceof Error && error.message.includes(CROSS_REQUEST);
}

/**
 * The close-handshake bookkeeping both forms share: a close event from workerd becomes
 * `closeFrame` (core answers through `close()`), and `closed` once both frames are exchanged.
 */
abstract class WorkerdTransportBase implements Transport {
  readonly capabilities = WORKERD_CAPABILITIES;
  readonly runtime = 'workerd';
  readonly bufferedAmount = 0;
  protected sink: TransportSink | undefined;
  /** Set once the socket is gone (or forgotten by `terminate`): later events are dropped. */
  protected down = false;
  protected sentClose = false;
  protected peerClose: { code: number; reason: string } | null = null;

  constructor(
    protected readonly ws: WebSocket,
    readonly url: string,
    readonly protocol: string,
    readonly extensions: string,
  ) {}

  start(sink: TransportSink): void {
    if (this.sink) throw new Error('a transport is started once');
    this.sink = sink;
  }

  /** Runs a socket operation (send, close). Overridden where the socket belongs to another context. */
  protected abstract run(op: () => void): void;

  sendText(data: string): void {
    if (this.down || this.sentClose) return;
    this.send(data);
  }

  sendBytes(data: Uint8Array): void {
    if (this.down || this.sentClose) return;
    this.send(data);
  }

  /** Sends a message on the socket, through `run`. */
  protected send(data: string | Uint8Array): void {
    this.run(() => this.ws.send(data));
  }

  close(code: number | undefined, reason: string): void {
    if (this.down || this.sentClose) return;
    this.sentClose = true;
    // A close without a body: workerd throws on close(1005), so the code is left out.
    this.run(() => (code === undefined ? this.ws.close() : this.ws.close(code, reason)));
    this.onCloseSent(code, reason);
    const peer = this.peerClose;
    if (peer) this.end(peer.code, peer.reason);
  }

  terminate(): void {
    if (this.down) return;
    const sent = this.sentClose;
    this.sentClose = true;
    this.down = true;
    if (!sent) {
      // No argument: workerd throws on close(1005), and a frame without a body is what 1005 is.
      this.run(() => this.ws.close());
      this.onCloseSent(undefined, '');
    }
    this.sink = undefined;
  }

  /** Hook for the hibernatable form, which records the close in the attachment. */
  protected onCloseSent(_code: number | undefined, _reason: string): void {}

  protected message(data: string | ArrayBuffer | ArrayBufferView): void {
    const sink = this.sink;
    if (!sink || this.down) return;
    if (typeof data === 'string') sink.text(data);
    else if (data instanceof ArrayBuffer) sink.binary(new Uint8Array(data));
    else sink.binary(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  }

  /** workerd reported the end of the connection: a close frame, or a drop (1006). */
  protected closeEvent(code: number, reason: string, wasClean: boolean): void {
    if (!this.sink || this.down) return;
    // Not clean: no close frame came (workerd reports 1006). A clean 1006 or 1015 is a peer's
    // frame with a code that may not be sent, which core answers with 1002.
    if (!wasClean) {
      this.end(WSCloseCode.ABNORMAL_CLOSURE, '');
      return;
    }
    if (this.peerClose) return;
    this.peerClose = { code, reason };
    this.sink.closeFrame(code, reason);
    // Our close went first (or core answered just now): both frames are exchanged.
    if (this.sentClose) this.end(code, reason);
  }

  protected errorEvent(error: Error): void {
    if (!this.sink || this.down) return;
    this.sink.error(error);
  }

  protected end(code: number, reason: string): void {
    const sink = this.sink;
    if (this.down && !sink) return;
    this.down = true;
    this.sink = undefined;
    sink?.closed(code, reason);
  }
}

/**
 * A socket accepted with `accept({ allowHalfOpen: true })`: a plain Worker's, or a room's
 * session connection.
 *
 * In a plain Worker every request runs in its own I/O context, and workerd refuses to use a
 * socket from another one (a topic publish, or `aggregate`/`mux` reaching a peer's socket).
 * Such an operation is queued and handed to the socket's own context through a promise that
 * context created: workerd runs the continuation there.
 */
export class AcceptedSocketTransport extends WorkerdTransportBase {
  #outbox: (() => void)[] = [];
  #wake: (() => void) | undefined;

  /**
   * `ws` must come from a `WebSocketPair` and not be accepted yet; the transport accepts it.
   * Create it in the request that owns the socket.
   */
  constructor(ws: WebSocket, url: string, protocol: string) {
    ws.accept({ allowHalfOpen: true });
    ws.binaryType = 'arraybuffer';
    super(ws, url, protocol, ws.extensions ?? '');
    this.#arm();
  }

  override start(sink: TransportSink): void {
    super.start(sink);
    const ws = this.ws;
    ws.addEventListener('message', (event) => this.message(event.data as string | ArrayBuffer));
    ws.addEventListener('close', (event) =>
      this.closeEvent(event.code, event.reason, event.wasClean),
    );
    ws.addEventListener('error', (event) => {
      const error = (event as ErrorEvent).error;
      this.errorEvent(
        error instanceof Error
          ? error
          : new Error((event as ErrorEvent).message || 'WebSocket error'),
      );
    });
  }

  protected run(op: () => void): void {
    if (this.#outbox.length > 0) {
      this.#outbox.push(op);
      return;
    }
    try {
      op();
    } catch (error) {
      if (isCrossRequestError(error)) {
        this.#outbox.push(op);
        this.#wake?.();
      }
      // Anything else is a socket that is already closing: its close event follows.
    }
  }

  /** A promise of this socket's own context whose continuation flushes the outbox. */
  #arm(): void {
    new Promise<void>((resolve) => {
      this.#wake = resolve;
    }).then(() => this.#flush());
  }

  #flush(): void {
    this.#wake = undefined;
    const ops = this.#outbox;
    this.#outbox = [];
    for (const op of ops) {
      try {
        op();
      } catch {
        // The socket closed meanwhile; its close event reports it.
      }
    }
    this.#arm();
  }
}

/** What a hibernatable transport tells its room. */
export interface HibernatableHost {
  /** Our close frame went out (kept in the attachment: a woken object must not answer twice). */
  closeSent(ws: WebSocket, code: number | undefined): void;
}

/**
 * A socket accepted with `ctx.acceptWebSocket()`. Its events come from the room's
 * `webSocketMessage`/`webSocketClose`/`webSocketError`; sends before the socket is accepted
 * (the `open` hook runs first, so its subscriptions become tags) wait for `accepted()`.
 */
export class HibernatableTransport extends WorkerdTransportBase {
  #pending: (() => void)[] | undefined;

  constructor(
    ws: WebSocket,
    url: string,
    protocol: string,
    private readonly host: HibernatableHost,
    options: { accepted: boolean; closeSent: boolean },
  ) {
    super(ws, url, protocol, '');
    if (!options.accepted) this.#pending = [];
    this.sentClose = options.closeSent;
  }

  /** The socket is now accepted: runs what waited for it, in order. */
  accepted(): void {
    const pending = this.#pending;
    this.#pending = undefined;
    if (!pending) return;
    for (const op of pending) this.#try(op);
  }

  protected run(op: () => void): void {
    if (this.#pending) this.#pending.push(op);
    else this.#try(op);
  }

  /** Once accepted, without a closure per message: a publish sends to every subscriber. */
  protected override send(data: string | Uint8Array): void {
    if (this.#pending) {
      super.send(data);
      return;
    }
    try {
      this.ws.send(data);
    } catch {
      // The socket is already closing or gone: webSocketClose reports it.
    }
  }

  #try(op: () => void): void {
    try {
      op();
    } catch {
      // The socket is already closing or gone: webSocketClose reports it.
    }
  }

  protected override onCloseSent(code: number | undefined): void {
    this.host.closeSent(this.ws, code);
  }

  /** From `webSocketMessage`. */
  deliver(message: string | ArrayBuffer): void {
    this.message(message);
  }

  /** From `webSocketClose`. */
  deliverClose(code: number, reason: string, wasClean: boolean): void {
    this.closeEvent(code, reason, wasClean);
  }

  /** An error found by the room (a dead peer): to the connection's `error` listeners. */
  reportError(error: Error): void {
    this.errorEvent(error);
  }

  /** From `webSocketError`: the error, then the end of the connection. */
  deliverError(error: unknown): void {
    this.errorEvent(error instanceof Error ? error : new Error(String(error)));
    this.end(WSCloseCode.ABNORMAL_CLOSURE, '');
  }
}
