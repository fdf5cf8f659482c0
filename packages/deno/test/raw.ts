/**
 * Raw TCP peers for the tests: a handshake by hand, frames by hand, and a reader of what
 * comes back. They let the tests see the wire (what Deno answers by itself) and play the
 * silent peers of the contract suite (handshake done, then never a read).
 */

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

export const OP = { text: 0x1, binary: 0x2, close: 0x8, ping: 0x9, pong: 0xa } as const;

export interface Frame {
  op: number;
  payload: Uint8Array;
}

/** One frame, FIN set; masked as a client must, unmasked as a server does. */
export function encodeFrame(op: number, payload: Uint8Array | string, masked: boolean): Uint8Array {
  const data = typeof payload === 'string' ? encoder.encode(payload) : payload;
  const length = data.byteLength;
  const header: number[] = [0x80 | op];
  const maskBit = masked ? 0x80 : 0;
  if (length < 126) header.push(maskBit | length);
  else if (length < 65536) header.push(maskBit | 126, length >> 8, length & 0xff);
  else {
    header.push(maskBit | 127, 0, 0, 0, 0);
    header.push(
      (length >>> 24) & 0xff,
      (length >>> 16) & 0xff,
      (length >>> 8) & 0xff,
      length & 0xff,
    );
  }
  const key = masked ? crypto.getRandomValues(new Uint8Array(4)) : new Uint8Array(0);
  const out = new Uint8Array(header.length + key.length + length);
  out.set(header);
  out.set(key, header.length);
  const start = header.length + key.length;
  for (let i = 0; i < length; i++) out[start + i] = masked ? data[i]! ^ key[i & 3]! : data[i]!;
  return out;
}

/** A close frame's payload: code and UTF-8 reason, or nothing. */
export function closePayload(code?: number, reason = ''): Uint8Array {
  if (code === undefined) return new Uint8Array(0);
  const text = encoder.encode(reason);
  const out = new Uint8Array(2 + text.byteLength);
  out[0] = code >> 8;
  out[1] = code & 0xff;
  out.set(text, 2);
  return out;
}

/** The code of a close frame's payload, or undefined for an empty one. */
export function closeCodeOf(frame: Frame): number | undefined {
  if (frame.payload.byteLength < 2) return undefined;
  return (frame.payload[0]! << 8) | frame.payload[1]!;
}

export function textOf(bytes: Uint8Array): string {
  return decoder.decode(bytes);
}

/** Sec-WebSocket-Accept for `key`. */
export async function acceptFor(key: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-1', encoder.encode(key + GUID));
  return btoa(String.fromCharCode(...new Uint8Array(digest)));
}

export function randomKey(): string {
  return btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16))));
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Reads a TCP connection in the background, on demand only: nothing is read before
 * `start()`, so a peer that never calls it never reads.
 */
export class RawPeer {
  readonly conn: Deno.Conn;
  #buffer = new Uint8Array(0);
  #ended = false;
  #reading = false;

  constructor(conn: Deno.Conn) {
    this.conn = conn;
  }

  /** Whether the other end closed the TCP connection. */
  get ended(): boolean {
    return this.#ended;
  }

  start(): void {
    if (this.#reading) return;
    this.#reading = true;
    void (async () => {
      const chunk = new Uint8Array(64 * 1024);
      try {
        for (;;) {
          const n = await this.conn.read(chunk);
          if (n === null) break;
          const next = new Uint8Array(this.#buffer.byteLength + n);
          next.set(this.#buffer);
          next.set(chunk.subarray(0, n), this.#buffer.byteLength);
          this.#buffer = next;
        }
      } catch {
        // Closed under the reader: the same as an end for the tests.
      }
      this.#ended = true;
    })();
  }

  write(bytes: Uint8Array): Promise<number> {
    return this.conn.write(bytes);
  }

  /** Waits (bounded) until `take` finds what it needs in the buffer; it returns how much it used. */
  async #until<T>(
    take: (buffer: Uint8Array) => { value: T; used: number } | undefined,
    timeout: number,
  ): Promise<T | undefined> {
    this.start();
    const deadline = performance.now() + timeout;
    for (;;) {
      const found = take(this.#buffer);
      if (found) {
        this.#buffer = this.#buffer.slice(found.used);
        return found.value;
      }
      if (this.#ended || performance.now() > deadline) return undefined;
      await sleep(2);
    }
  }

  /** The HTTP response head (status line and headers), or undefined on timeout. */
  readHead(timeout = 3000): Promise<Head | undefined> {
    return this.#until((buffer) => {
      const text = textOf(buffer);
      const end = text.indexOf('\r\n\r\n');
      if (end === -1) return undefined;
      const head = text.slice(0, end + 4);
      return { value: parseHead(head), used: encoder.encode(head).byteLength };
    }, timeout);
  }

  /** The next whole frame (unmasked when masked), or undefined on timeout or end. */
  readFrame(timeout = 3000): Promise<Frame | undefined> {
    return this.#until((buffer) => {
      if (buffer.byteLength < 2) return undefined;
      const op = buffer[0]! & 0x0f;
      const masked = (buffer[1]! & 0x80) !== 0;
      let length = buffer[1]! & 0x7f;
      let at = 2;
      if (length === 126) {
        if (buffer.byteLength < 4) return undefined;
        length = (buffer[2]! << 8) | buffer[3]!;
        at = 4;
      } else if (length === 127) {
        if (buffer.byteLength < 10) return undefined;
        length = Number(new DataView(buffer.buffer, buffer.byteOffset + 2, 8).getBigUint64(0));
        at = 10;
      }
      const key = masked ? buffer.slice(at, at + 4) : undefined;
      if (masked) at += 4;
      if (buffer.byteLength < at + length) return undefined;
      const payload = buffer.slice(at, at + length);
      if (key) for (let i = 0; i < payload.byteLength; i++) payload[i]! ^= key[i & 3]!;
      return { value: { op, payload }, used: at + length };
    }, timeout);
  }

  /** Resolves true once the other end closed the TCP connection (bounded). */
  async waitEnd(timeout = 3000): Promise<boolean> {
    this.start();
    const deadline = performance.now() + timeout;
    while (!this.#ended && performance.now() < deadline) await sleep(5);
    return this.#ended;
  }

  close(): void {
    try {
      this.conn.close();
    } catch {
      // Already closed.
    }
  }
}

/** Sends a request head by hand and returns the peer (not yet reading). */
export async function rawRequest(port: number, lines: string[]): Promise<RawPeer> {
  const conn = await Deno.connect({ hostname: '127.0.0.1', port });
  const peer = new RawPeer(conn);
  await peer.write(encoder.encode(`${lines.join('\r\n')}\r\n\r\n`));
  return peer;
}

/** The lines of a valid client handshake for `path`, plus `extra` header lines. */
export function handshakeLines(
  port: number,
  path: string,
  extra: string[] = [],
  key = randomKey(),
): string[] {
  return [
    `GET ${path} HTTP/1.1`,
    `Host: 127.0.0.1:${String(port)}`,
    'Upgrade: websocket',
    'Connection: Upgrade',
    `Sec-WebSocket-Key: ${key}`,
    'Sec-WebSocket-Version: 13',
    ...extra,
  ];
}

/**
 * A raw client that completed the handshake at `path` (asserted: 101 with the right accept),
 * and the response head. It reads nothing more unless told to (`start()`, `readFrame()`).
 */
export async function rawHandshake(
  port: number,
  path: string,
  extra: string[] = [],
): Promise<{ peer: RawPeer; head: Head }> {
  const key = randomKey();
  const peer = await rawRequest(port, handshakeLines(port, path, extra, key));
  // Read a byte at a time up to the end of the head, so that nothing after it is consumed.
  const head = await readHeadOnly(peer.conn);
  if (head.status !== 101) throw new Error(`expected 101, got ${head.text}`);
  if (head.headers.get('sec-websocket-accept') !== (await acceptFor(key))) {
    throw new Error('wrong Sec-WebSocket-Accept');
  }
  return { peer, head };
}

/** {@link rawHandshake}'s peer alone. */
export async function rawClient(
  port: number,
  path: string,
  extra: string[] = [],
): Promise<RawPeer> {
  return (await rawHandshake(port, path, extra)).peer;
}

/**
 * A TCP server that answers each WebSocket handshake by hand (101 with the accept, or what
 * `answer` says) and hands the connection over without reading any further: a peer that
 * nobody reads from is a silent server.
 */
export class RawServer {
  readonly #listener: Deno.Listener;
  readonly #peers = new Set<RawPeer>();
  readonly #waiting: ((accepted: { peer: RawPeer; request: Head }) => void)[] = [];
  readonly #ready: { peer: RawPeer; request: Head }[] = [];
  readonly port: number;

  /** @param answer the response head lines for a request; default: 101 with the accept. */
  constructor(readonly answer?: (request: Head, accept: string) => string[]) {
    this.#listener = Deno.listen({ hostname: '127.0.0.1', port: 0 });
    this.port = (this.#listener.addr as Deno.NetAddr).port;
    void this.#accept();
  }

  async #accept(): Promise<void> {
    try {
      for await (const conn of this.#listener) void this.#handshake(new RawPeer(conn));
    } catch {
      // The listener was closed.
    }
  }

  async #handshake(peer: RawPeer): Promise<void> {
    this.#peers.add(peer);
    const request = await readHeadOnly(peer.conn).catch(() => undefined);
    if (!request) return;
    const accept = await acceptFor(request.headers.get('sec-websocket-key') ?? '');
    const lines = this.answer?.(request, accept) ?? [
      'HTTP/1.1 101 Switching Protocols',
      'Upgrade: websocket',
      'Connection: Upgrade',
      `Sec-WebSocket-Accept: ${accept}`,
    ];
    await peer.write(encoder.encode(`${lines.join('\r\n')}\r\n\r\n`)).catch(() => 0);
    const accepted = { peer, request };
    const waiter = this.#waiting.shift();
    if (waiter) waiter(accepted);
    else this.#ready.push(accepted);
  }

  /** The next connection whose handshake was answered, and its request head. */
  accepted(timeout = 3000): Promise<{ peer: RawPeer; request: Head }> {
    const ready = this.#ready.shift();
    if (ready) return Promise.resolve(ready);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no connection came')), timeout);
      this.#waiting.push((accepted) => {
        clearTimeout(timer);
        resolve(accepted);
      });
    });
  }

  close(): void {
    this.#listener.close();
    for (const peer of this.#peers) peer.close();
    this.#peers.clear();
  }
}

/** Reads exactly up to the end of an HTTP head, a byte at a time (handshakes are short). */
export async function readHeadOnly(conn: Deno.Conn): Promise<Head> {
  const bytes: number[] = [];
  const one = new Uint8Array(1);
  const deadline = performance.now() + 3000;
  while (performance.now() < deadline) {
    const n = await conn.read(one);
    if (n === null) break;
    bytes.push(one[0]!);
    const len = bytes.length;
    if (
      len >= 4 &&
      bytes[len - 4] === 13 &&
      bytes[len - 3] === 10 &&
      bytes[len - 2] === 13 &&
      bytes[len - 1] === 10
    ) {
      break;
    }
  }
  return parseHead(decoder.decode(new Uint8Array(bytes)));
}

/** An HTTP response head: status and headers. */
export interface Head {
  status: number;
  headers: Headers;
  text: string;
}

function parseHead(text: string): Head {
  const lines = text.trimEnd().split('\r\n');
  // A response's status; 0 for a request head.
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '')?.[1] ?? 0);
  const headers = new Headers();
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon > 0) headers.append(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
  }
  return { status, headers, text };
}

/**
 * The contract's `handshake`: sends `method` and exactly `headers` (plus Host) to `url`, reads
 * the answer's head (status, lowercase headers) and closes the connection.
 */
export async function rawHandshakeHead(
  url: string,
  request: { method: string; headers: Record<string, string> },
): Promise<{ status: number; headers: Record<string, string> }> {
  const target = new URL(url);
  const lines = [`${request.method} ${target.pathname}${target.search} HTTP/1.1`];
  lines.push(`Host: ${target.host}`);
  for (const [name, value] of Object.entries(request.headers)) lines.push(`${name}: ${value}`);
  const peer = await rawRequest(Number(target.port), lines);
  try {
    const head = await readHeadOnly(peer.conn);
    const headers: Record<string, string> = {};
    head.headers.forEach((value, name) => {
      headers[name] = value;
    });
    return { status: head.status, headers };
  } finally {
    peer.close();
  }
}
