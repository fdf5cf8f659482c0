import {
  assertSupported,
  type ConnectionOptions,
  clientProtocols,
  clientUrl,
  guardOpening,
  HandshakeError,
  HEARTBEAT_PROTOCOL,
  type HeartbeatOfferOptions,
  negotiatedProtocol,
  type OpenOptions,
  resolveOptions,
  type Transport,
  type TransportCapabilities,
  type TransportSink,
  WebSocketConnection,
  WebSocketError,
} from '@anyws/core';

/**
 * What the browser's WebSocket does by itself. It hides ping frames (answering them itself)
 * and answers close frames itself; Chromium 156 echoes even an invalid close code (1004) as it
 * came. It has no message size limit and no way to stop reading; `bufferedAmount` is real but
 * nothing reports a drain. `close()` takes only 1000 and 3000–4999 (InvalidAccessError
 * otherwise): core sends other codes as a close frame without a body.
 */
export const BROWSER_CAPABILITIES: TransportCapabilities = Object.freeze({
  pingFrames: false,
  forcedAutoPong: true,
  forcedCloseReply: true,
  validatesCloseCodes: false,
  enforcesMaxMessageSize: false,
  backpressure: true,
  pauseReading: false,
  restrictedCloseCodes: true,
});

/** How often `bufferedAmount` is polled while it is above 0: the browser has no drain event. */
const DRAIN_POLL_MS = 10;

/** A browser `WebSocket` that is already open, as core sees it. */
export class BrowserTransport implements Transport {
  readonly capabilities = BROWSER_CAPABILITIES;
  readonly runtime = 'browser';
  #sink: TransportSink | undefined;
  #poll: ReturnType<typeof setTimeout> | undefined;

  constructor(readonly socket: WebSocket) {}

  get url(): string {
    return this.socket.url;
  }
  get protocol(): string {
    return negotiatedProtocol(this.socket.protocol);
  }
  get extensions(): string {
    return this.socket.extensions;
  }
  get bufferedAmount(): number {
    return this.socket.bufferedAmount;
  }

  start(sink: TransportSink): void {
    const ws = this.socket;
    this.#sink = sink;
    ws.onmessage = (event: MessageEvent<string | ArrayBuffer>) => {
      const data = event.data;
      if (typeof data === 'string') sink.text(data);
      else sink.binary(new Uint8Array(data));
    };
    // The browser gives no detail; a close event always follows.
    ws.onerror = () => sink.error(new WebSocketError('the browser reported a WebSocket error'));
    ws.onclose = (event) => {
      clearTimeout(this.#poll);
      sink.closed(event.code, event.reason);
    };
  }

  sendText(data: string): void {
    this.socket.send(data);
    this.#watch();
  }

  sendBytes(data: Uint8Array): void {
    this.socket.send(data);
    this.#watch();
  }

  close(code: number | undefined, reason: string): void {
    // Only 1000 and 3000–4999 come here (restrictedCloseCodes), and reasons core checked.
    if (code === undefined) this.socket.close();
    else this.socket.close(code, reason);
  }

  /**
   * A page cannot drop a TCP connection: the socket is detached (no event reaches core any
   * more) and asked to close; the browser lets it go after its own closing timeout.
   */
  terminate(): void {
    const ws = this.socket;
    clearTimeout(this.#poll);
    ws.onmessage = ws.onerror = ws.onclose = null;
    ws.close();
  }

  /** Polls `bufferedAmount` while data waits, reporting every decrease as a drain. */
  #watch(): void {
    const ws = this.socket;
    if (this.#poll !== undefined || ws.bufferedAmount === 0) return;
    let last = ws.bufferedAmount;
    const tick = (): void => {
      const buffered = ws.bufferedAmount;
      this.#poll =
        buffered > 0 && ws.readyState === 1 ? setTimeout(tick, DRAIN_POLL_MS) : undefined;
      if (buffered < last) this.#sink?.drain();
      last = buffered;
    };
    this.#poll = setTimeout(tick, DRAIN_POLL_MS);
  }
}

/**
 * Options of {@link connect}: core's connection options and the opening's (`openTimeout`, ms,
 * default 10,000; `signal`), as on every runtime, and `offerHeartbeat`. No `headers`: a page
 * cannot set them.
 */
export interface ConnectOptions extends ConnectionOptions, OpenOptions, HeartbeatOfferOptions {}

/**
 * Opens a socket and builds the connection inside the `open` event, so that no message can
 * arrive before core listens. Resolves with the connection and its socket.
 * @internal
 */
export function open(
  url: string | URL,
  options: ConnectOptions = {},
): Promise<[WebSocketConnection, WebSocket]> {
  // An option the browser cannot honour is refused here, before anything opens.
  assertSupported(resolveOptions(options), BROWSER_CAPABILITIES, 'browser');
  return new Promise((resolve, reject) => {
    // A URL the browser would refuse is a SyntaxError here too (not retried by a client).
    const target = clientUrl(url).ws;
    // Throws (so rejects) before anything opens for a bad openTimeout or an aborted signal.
    const disarm = guardOpening(target, options, (error) => {
      done();
      ws.close();
      reject(error);
    });
    let ws: WebSocket;
    // No ping frames in a page: the heartbeat token goes last (see clientProtocols).
    const protocols = clientProtocols(
      options.protocols ?? [],
      BROWSER_CAPABILITIES,
      options.offerHeartbeat,
    );
    try {
      ws = new WebSocket(target, protocols);
    } catch (error) {
      disarm();
      throw error;
    }
    ws.binaryType = 'arraybuffer';
    const done = (): void => {
      disarm();
      ws.onopen = ws.onclose = null;
    };
    ws.onclose = (event) => {
      done();
      // Browsers never show the HTTP status of a refused handshake, so there is none to give.
      reject(
        new HandshakeError(
          `could not open ${target}: refused or unreachable (${String(event.code)})`,
        ),
      );
    };
    ws.onopen = () => {
      done();
      resolve([
        new WebSocketConnection({
          transport: new BrowserTransport(ws),
          side: 'client',
          options,
          // Offered: agreed once the server's hello comes (an anyws server), never otherwise.
          appHeartbeat: protocols.includes(HEARTBEAT_PROTOCOL),
        }),
        ws,
      ]);
    };
  });
}

/**
 * Opens one WebSocket connection from the browser: core's `WebSocketConnection`, with the
 * application-level heartbeat where the server agrees to it (browsers have no ping frames, so the
 * subprotocol `anyws.heartbeat` is offered last). `url` is `ws:`, `wss:`, `http:` or `https:`
 * (`conn.url` reports the WebSocket scheme); another is a `SyntaxError`. Rejects with a
 * `HandshakeError` (without `status`: browsers hide it) when the server refuses or cannot be
 * reached, when `openTimeout` passes, or when `signal` aborts (its reason is the `cause`).
 */
export async function connect(
  url: string | URL,
  options?: ConnectOptions,
): Promise<WebSocketConnection> {
  return (await open(url, options))[0];
}
