/**
 * Raw TCP peers for tests: a WebSocket handshake done by hand, then nothing (a silent peer
 * that never reads), or hand-built frames that no conforming client would send.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

function accept(key: string): string {
  return createHash('sha1')
    .update(key + GUID)
    .digest('base64');
}

/** Reads from `socket` until the end of an HTTP head; resolves with the head and what followed. */
function readHead(socket: Socket, timeout = 5000): Promise<{ head: string; rest: Buffer }> {
  return new Promise((resolve, reject) => {
    let buffer = Buffer.alloc(0);
    const timer = setTimeout(() => done(new Error('no HTTP head within the timeout')), timeout);
    const onData = (chunk: Buffer): void => {
      buffer = Buffer.concat([buffer, chunk]);
      const end = buffer.indexOf('\r\n\r\n');
      if (end !== -1) done(null, end);
    };
    const onEnd = (): void =>
      done(new Error(`connection ended before the HTTP head: ${buffer.toString('latin1')}`));
    function done(error: Error | null, end = 0): void {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('error', onEnd);
      if (error) reject(error);
      else
        resolve({
          head: buffer.subarray(0, end).toString('latin1'),
          rest: buffer.subarray(end + 4),
        });
    }
    socket.on('data', onData);
    socket.on('end', onEnd);
    socket.on('error', onEnd);
  });
}

/** A server that completes every WebSocket handshake, then never reads nor answers. */
export function silentServer(): Promise<{ url: string; close(): Promise<void> }> {
  return handshakingServer((socket) => socket.pause());
}

/** A server that completes every WebSocket handshake, then hands the socket to `opened`. */
export async function handshakingServer(
  opened: (socket: Socket) => void,
): Promise<{ url: string; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
    readHead(socket).then(
      ({ head }) => {
        const key = /^sec-websocket-key:\s*(\S+)/im.exec(head)?.[1] ?? '';
        socket.write(
          `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept(key)}\r\n\r\n`,
        );
        opened(socket);
      },
      () => socket.destroy(),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    url: `ws://127.0.0.1:${String(port)}/silent`,
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Sends a WebSocket opening handshake by hand; resolves with the answer's HTTP head, whatever it is. */
export async function handshake(
  url: string,
  extraHeaders = '',
): Promise<{ socket: Socket; head: string; rest: Buffer; key: string }> {
  const target = new URL(url);
  const socket = netConnect(Number(target.port), target.hostname);
  socket.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const key = randomBytes(16).toString('base64');
  socket.write(
    `GET ${target.pathname}${target.search} HTTP/1.1\r\nHost: ${target.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n${extraHeaders}\r\n`,
  );
  const { head, rest } = await readHead(socket);
  return { socket, head, rest, key };
}

/** A raw client after a successful handshake at `url` (ws://127.0.0.1:port/path). */
export async function rawClient(url: string): Promise<{ socket: Socket; rest: Buffer }> {
  const { socket, head, rest, key } = await handshake(url);
  if (!head.startsWith('HTTP/1.1 101')) {
    socket.destroy();
    throw new Error(`handshake refused: ${head.split('\r\n')[0] ?? ''}`);
  }
  if (!head.toLowerCase().includes(`sec-websocket-accept: ${accept(key).toLowerCase()}`)) {
    socket.destroy();
    throw new Error('bad Sec-WebSocket-Accept');
  }
  return { socket, rest };
}

/** A client that completes the handshake, then never reads nor answers. */
export async function silentClient(url: string): Promise<{ close(): void }> {
  const { socket } = await rawClient(url);
  socket.pause();
  return { close: () => socket.destroy() };
}

/** A masked client frame built by hand (FIN set), payload under 64 KiB. */
export function clientFrame(opcode: number, payload: Uint8Array): Buffer {
  const mask = randomBytes(4);
  const length = payload.byteLength;
  const header =
    length < 126
      ? Buffer.from([0x80 | opcode, 0x80 | length])
      : Buffer.from([0x80 | opcode, 0x80 | 126, length >> 8, length & 0xff]);
  const body = Buffer.alloc(length);
  for (let i = 0; i < length; i++) body[i] = payload[i]! ^ mask[i & 3]!;
  return Buffer.concat([header, mask, body]);
}

/**
 * The unmasked frame at the start of `buffer` (its opcode, payload and where it ends), or
 * undefined while the buffer holds less than a whole frame.
 */
export function frameAt(
  buffer: Buffer,
): { opcode: number; payload: Buffer; end: number } | undefined {
  if (buffer.length < 2) return undefined;
  let length = buffer[1]! & 0x7f;
  let offset = 2;
  if (length === 126) {
    if (buffer.length < 4) return undefined;
    length = buffer.readUInt16BE(2);
    offset = 4;
  } else if (length === 127) {
    if (buffer.length < 10) return undefined;
    length = Number(buffer.readBigUInt64BE(2));
    offset = 10;
  }
  if (buffer.length < offset + length) return undefined;
  const end = offset + length;
  return { opcode: buffer[0]! & 0x0f, payload: buffer.subarray(offset, end), end };
}

/** Reads server frames (unmasked) from a raw socket until a close frame; resolves with its code. */
export function readUntilClose(
  socket: Socket,
  initial: Buffer = Buffer.alloc(0),
  timeout = 5000,
): Promise<number> {
  return new Promise((resolve, reject) => {
    let buffer = initial;
    const timer = setTimeout(() => finish(new Error('no close frame within the timeout')), timeout);
    function finish(error: Error | null, code = 0): void {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onClose);
      if (error) reject(error);
      else resolve(code);
    }
    function parse(): void {
      for (;;) {
        const frame = frameAt(buffer);
        if (frame === undefined) return;
        const { opcode, payload } = frame;
        buffer = buffer.subarray(frame.end);
        if (opcode === 0x8) {
          finish(null, payload.length >= 2 ? payload.readUInt16BE(0) : 1005);
          return;
        }
      }
    }
    function onData(chunk: Buffer): void {
      buffer = Buffer.concat([buffer, chunk]);
      parse();
    }
    function onClose(): void {
      finish(new Error('socket closed without a close frame'));
    }
    socket.on('data', onData);
    socket.on('close', onClose);
    parse();
  });
}

/**
 * The contract's `handshake`: sends `method` and exactly `headers` (plus Host) to `url`, reads
 * the answer's head (status, lowercase headers) and closes the socket.
 */
export async function rawHandshakeHead(
  url: string,
  request: { method: string; headers: Record<string, string> },
): Promise<{ status: number; headers: Record<string, string> }> {
  const target = new URL(url);
  const socket = netConnect(Number(target.port), target.hostname);
  socket.on('error', () => undefined);
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    const lines = [`${request.method} ${target.pathname}${target.search} HTTP/1.1`];
    lines.push(`Host: ${target.host}`);
    for (const [name, value] of Object.entries(request.headers)) lines.push(`${name}: ${value}`);
    socket.write(`${lines.join('\r\n')}\r\n\r\n`);
    const { head } = await readHead(socket);
    const [statusLine = '', ...fields] = head.split('\r\n');
    const headers: Record<string, string> = {};
    for (const field of fields) {
      const colon = field.indexOf(':');
      if (colon > 0)
        headers[field.slice(0, colon).trim().toLowerCase()] = field.slice(colon + 1).trim();
    }
    return { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(statusLine)?.[1] ?? 0), headers };
  } finally {
    socket.destroy();
  }
}
