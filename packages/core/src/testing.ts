/**
 * In-memory connections for tests: `createPair()` gives two connected `WebSocketConnection`s
 * whose transport behaves like a socket (ordered delivery, a closing handshake, bufferedAmount
 * that grows while the reader is paused), so every semantic can be exercised without a network.
 */
import { WebSocketConnection } from './connection.js';
import type { ConnectionOptions } from './options.js';
import { utf8ByteLength, WSCloseCode } from './protocol.js';
import type { TopicBus } from './topics.js';
import type { Transport, TransportCapabilities, TransportSink } from './transport.js';

type Frame =
  | { kind: 'text'; data: string }
  | { kind: 'binary'; data: Uint8Array }
  | { kind: 'ping' | 'pong'; data: Uint8Array }
  | { kind: 'close'; code: number | undefined; reason: string };

const MEMORY_CAPABILITIES: TransportCapabilities = Object.freeze({
  pingFrames: true,
  forcedAutoPong: false,
  forcedCloseReply: false,
  validatesCloseCodes: false,
  enforcesMaxMessageSize: false,
  backpressure: true,
  pauseReading: true,
});

/** Bytes the frame's payload takes on the wire, as a runtime counts its bufferedAmount. */
function frameSize(frame: Frame): number {
  if (frame.kind === 'text') return utf8ByteLength(frame.data);
  if (frame.kind === 'close') return 2 + utf8ByteLength(frame.reason);
  return frame.data.byteLength;
}

/** One end of an in-memory socket. `pause()` makes it a reader that never reads. */
export class MemoryTransport implements Transport {
  readonly capabilities: TransportCapabilities;
  readonly runtime = 'memory';
  /** The other end; set by `createPair` right after construction. */
  peer!: MemoryTransport;
  /** Every frame this end sent, for assertions on the wire. */
  readonly sent: Frame[] = [];
  #sink: TransportSink | undefined;
  #inbox: Frame[] = [];
  #inboxBytes = 0;
  #paused = false;
  #scheduled = false;
  #down = false;
  #sentClose = false;
  #peerClose: { code: number; reason: string } | null = null;

  constructor(
    readonly url: string,
    readonly protocol: string,
    capabilities: Partial<TransportCapabilities>,
  ) {
    this.capabilities = { ...MEMORY_CAPABILITIES, ...capabilities };
  }
  readonly extensions = '';

  get bufferedAmount(): number {
    return this.peer.#inboxBytes;
  }
  start(sink: TransportSink): void {
    this.#sink = sink;
    this.#schedule();
  }
  sendText(data: string): void {
    this.#send({ kind: 'text', data });
  }
  sendBytes(data: Uint8Array): void {
    this.#send({ kind: 'binary', data: data.slice() });
  }
  ping(data: Uint8Array): void {
    this.#send({ kind: 'ping', data: data.slice() });
  }
  pong(data: Uint8Array): void {
    this.#send({ kind: 'pong', data: data.slice() });
  }
  close(code: number | undefined, reason: string): void {
    if (
      this.capabilities.restrictedCloseCodes &&
      code !== undefined &&
      code !== WSCloseCode.OK &&
      (code < 3000 || code > 4999)
    ) {
      // As a browser's WebSocket.close() does (InvalidAccessError).
      throw new RangeError(`this runtime cannot send close code ${String(code)}`);
    }
    this.#close(code, reason);
  }
  #close(code: number | undefined, reason: string): void {
    if (this.#sentClose || this.#down) return;
    this.#send({ kind: 'close', code, reason });
    this.#sentClose = true;
    if (this.#peerClose) this.#end(this.#peerClose.code, this.#peerClose.reason);
  }
  terminate(): void {
    if (this.#down) return;
    this.#down = true;
    this.#inbox = [];
    this.#inboxBytes = 0;
    const peer = this.peer;
    if (!peer.#down) {
      peer.#inbox.length = 0;
      peer.#inboxBytes = 0;
      queueMicrotask(() => peer.#end(WSCloseCode.ABNORMAL_CLOSURE, ''));
    }
  }
  pause(): void {
    this.#paused = true;
  }
  resume(): void {
    this.#paused = false;
    this.#schedule();
  }

  #send(frame: Frame): void {
    if (this.#down || this.#sentClose) return;
    this.sent.push(frame);
    const peer = this.peer;
    if (peer.#down) return;
    peer.#inbox.push(frame);
    peer.#inboxBytes += frameSize(frame);
    peer.#schedule();
  }

  #schedule(): void {
    if (this.#scheduled || this.#paused || !this.#sink || this.#inbox.length === 0) return;
    this.#scheduled = true;
    queueMicrotask(() => this.#flush());
  }

  #flush(): void {
    this.#scheduled = false;
    const sink = this.#sink;
    if (!sink) return;
    let delivered = false;
    while (!this.#paused && !this.#down && this.#inbox.length > 0) {
      const frame = this.#inbox.shift()!;
      this.#inboxBytes -= frameSize(frame);
      delivered = true;
      switch (frame.kind) {
        case 'text':
          sink.text(frame.data);
          break;
        case 'binary':
          sink.binary(frame.data);
          break;
        case 'ping':
          sink.ping(frame.data);
          // A runtime that answers pings itself, as ws does by default.
          if (this.capabilities.forcedAutoPong) this.pong(frame.data);
          break;
        case 'pong':
          sink.pong(frame.data);
          break;
        case 'close': {
          const code = frame.code ?? WSCloseCode.NO_STATUS;
          this.#peerClose = { code, reason: frame.reason };
          if (this.capabilities.forcedCloseReply) {
            // A runtime that answers the close frame itself (echoing its code) and reports
            // only the end, as browsers and workerd do: core never sees closeFrame.
            this.#close(frame.code, '');
            this.#end(code, frame.reason);
            break;
          }
          sink.closeFrame(code, frame.reason);
          if (this.#sentClose) this.#end(code, frame.reason);
          break;
        }
      }
    }
    if (delivered) this.peer.#sink?.drain();
  }

  #end(code: number, reason: string): void {
    if (this.#down && this.#sink === undefined) return;
    this.#down = true;
    const sink = this.#sink;
    this.#sink = undefined;
    sink?.closed(code, reason);
  }
}

/** Options of {@link createPair}. */
export interface PairOptions {
  /** Options of the client connection. */
  client?: ConnectionOptions;
  /** Options of the server connection. */
  server?: ConnectionOptions;
  /** The negotiated subprotocol on both ends. */
  protocol?: string;
  /** The URL both ends report. Default `ws://memory/`. */
  url?: string;
  /**
   * Capabilities of both transports, e.g. `{ pingFrames: false }` to exercise the
   * application-level heartbeat. The memory transport behaves accordingly for `pingFrames`,
   * `forcedAutoPong`, `forcedCloseReply`, `backpressure`, `pauseReading` and
   * `restrictedCloseCodes` (`close()` throws for another code, as browsers do); it never checks
   * close codes nor message sizes itself, so leave `validatesCloseCodes` and
   * `enforcesMaxMessageSize` false (with true, nothing would check them).
   */
  capabilities?: Partial<TransportCapabilities>;
  /** Topic bus for the server end. */
  topics?: TopicBus;
  /** The server end's upgrade request (`conn.request`), or what builds it on first read. */
  request?: Request | (() => Request);
  /**
   * The client offered `HEARTBEAT_PROTOCOL` to an anyws server (`ConnectionInit.appHeartbeat`
   * on both ends): the server sends its hello and both speak the application-level heartbeat.
   * Default: when the capabilities have no ping frames, as an anyws client offers it then.
   */
  appHeartbeat?: boolean;
}

/** Two connected in-memory connections and their transports. */
export interface Pair {
  /** The client end. */
  client: WebSocketConnection<unknown>;
  /** The server end (with the topic bus, if one was given). */
  server: WebSocketConnection<unknown>;
  /** The client's transport: `pause()` it to make a client that never reads. */
  clientTransport: MemoryTransport;
  /** The server's transport: `pause()` it to make a server that never reads. */
  serverTransport: MemoryTransport;
}

/** Two connected in-memory connections: every semantic of core, without a socket. */
export function createPair(options: PairOptions = {}): Pair {
  const url = options.url ?? 'ws://memory/';
  const protocol = options.protocol ?? '';
  const caps = options.capabilities ?? {};
  const clientTransport = new MemoryTransport(url, protocol, caps);
  const serverTransport = new MemoryTransport(url, protocol, caps);
  clientTransport.peer = serverTransport;
  serverTransport.peer = clientTransport;
  const appHeartbeat = options.appHeartbeat ?? caps.pingFrames === false;
  const client = new WebSocketConnection({
    transport: clientTransport,
    side: 'client',
    options: options.client,
    appHeartbeat,
  });
  const server = new WebSocketConnection({
    transport: serverTransport,
    side: 'server',
    options: options.server,
    topics: options.topics,
    request: options.request,
    appHeartbeat,
  });
  return { client, server, clientTransport, serverTransport };
}
