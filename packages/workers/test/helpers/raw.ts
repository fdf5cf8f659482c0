/**
 * Raw TCP peers, for what no well-behaved client does: a client that completes the handshake
 * and then never reads, and close frames with any code.
 */
import { createHash, randomBytes } from 'node:crypto';
import { type AddressInfo, createServer, type Socket, connect as tcpConnect } from 'node:net';
import { HEARTBEAT_PROTOCOL } from '@anyws/core';

/** A raw client after a completed opening handshake. */
export interface RawClient {
  socket: Socket;
  /** Bytes that came after the 101 response. */
  rest: Buffer;
}

/**
 * Writes a hand-written request and reads until `answer` (given the bytes so far, and whether
 * the socket closed) returns the result. It may throw to reject.
 */
function exchange<T>(
  url: string,
  request: (target: URL) => string,
  answer: (received: Buffer, socket: Socket, closed: boolean) => T | undefined,
  timeout: number,
): Promise<T> {
  const target = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = tcpConnect({ host: target.hostname, port: Number(target.port) });
    let received = Buffer.alloc(0);
    let settled = false;
    const settle = (closed: boolean) => {
      if (settled) return;
      let result: T | undefined;
      try {
        result = answer(received, socket, closed);
      } catch (error) {
        result = undefined;
        settled = true;
        socket.destroy();
        reject(error);
      }
      if (result === undefined && !closed) return;
      settled = true;
      clearTimeout(timer);
      socket.off('data', onData);
      if (result === undefined) reject(new Error(`${url} closed without an answer`));
      else resolve(result);
    };
    const onData = (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      settle(false);
    };
    const timer = setTimeout(() => {
      settled = true;
      socket.destroy();
      reject(new Error(`no answer from ${url} within ${timeout} ms`));
    }, timeout);
    socket.on('error', (error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      reject(error);
    });
    socket.on('connect', () => socket.write(request(target)));
    socket.on('data', onData);
    socket.on('close', () => settle(true));
  });
}

/** Opens a TCP connection and performs the opening handshake by hand, offering `protocols` if any. */
export function rawHandshake(url: string, timeout = 5000, protocols?: string): Promise<RawClient> {
  const key = randomBytes(16).toString('base64');
  const offer = protocols === undefined ? '' : `Sec-WebSocket-Protocol: ${protocols}\r\n`;
  return exchange(
    url,
    (target) =>
      `GET ${target.pathname}${target.search} HTTP/1.1\r\nHost: ${target.host}\r\nUpgrade: websocket\r\n` +
      `Connection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n${offer}\r\n`,
    (received, socket) => {
      const end = received.indexOf('\r\n\r\n');
      if (end < 0) return undefined;
      const head = received.subarray(0, end).toString('latin1');
      if (!head.startsWith('HTTP/1.1 101'))
        throw new Error(`handshake refused: ${head.split('\r\n')[0]}`);
      return { socket, rest: received.subarray(end + 4) };
    },
    timeout,
  );
}

/**
 * A client that completes the handshake, then never reads nor answers anything. It offers the
 * heartbeat token, as a client without ping frames does, so that a server without ping frames
 * (workerd) runs its heartbeat against it.
 */
export async function openSilentClient(url: string): Promise<{ close(): void }> {
  const { socket } = await rawHandshake(url, 5000, HEARTBEAT_PROTOCOL);
  socket.pause();
  return { close: () => socket.destroy() };
}

/** A masked client frame. */
export function clientFrame(opcode: number, payload: Buffer): Buffer {
  const mask = randomBytes(4);
  const masked = Buffer.from(payload.map((byte, i) => byte ^ mask[i % 4]!));
  let header: Buffer;
  if (payload.length < 126) header = Buffer.from([0x80 | opcode, 0x80 | payload.length]);
  else {
    header = Buffer.alloc(4);
    header[0] = 0x80 | opcode;
    header[1] = 0x80 | 126;
    header.writeUInt16BE(payload.length, 2);
  }
  return Buffer.concat([header, mask, masked]);
}

/** A close frame's payload: no body when `code` is undefined. */
export function closePayload(code: number | undefined, reason = ''): Buffer {
  if (code === undefined) return Buffer.alloc(0);
  const body = Buffer.alloc(2 + Buffer.byteLength(reason));
  body.writeUInt16BE(code, 0);
  body.write(reason, 2);
  return body;
}

/** A frame from the server (unmasked), parsed. */
export interface ServerFrame {
  opcode: number;
  payload: Buffer;
}

/** Reads server frames from a raw client until `until` says stop, the socket ends, or time runs out. */
export function readFrames(
  client: RawClient,
  until: (frame: ServerFrame) => boolean,
  timeout = 5000,
): Promise<ServerFrame[]> {
  const { socket } = client;
  let buffer = client.rest;
  client.rest = Buffer.alloc(0);
  const frames: ServerFrame[] = [];
  return new Promise((resolve) => {
    const finish = () => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', finish);
      // What came after the last frame wanted stays for the next reader.
      client.rest = buffer;
      resolve(frames);
    };
    const timer = setTimeout(finish, timeout);
    const parse = (): boolean => {
      for (;;) {
        if (buffer.length < 2) return false;
        let length = buffer[1]! & 0x7f;
        let offset = 2;
        if (length === 126) {
          if (buffer.length < 4) return false;
          length = buffer.readUInt16BE(2);
          offset = 4;
        } else if (length === 127) {
          if (buffer.length < 10) return false;
          length = Number(buffer.readBigUInt64BE(2));
          offset = 10;
        }
        if (buffer.length < offset + length) return false;
        const frame = {
          opcode: buffer[0]! & 0x0f,
          payload: buffer.subarray(offset, offset + length),
        };
        buffer = buffer.subarray(offset + length);
        frames.push(frame);
        if (until(frame)) return true;
      }
    };
    const onData = (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      if (parse()) finish();
    };
    socket.on('data', onData);
    socket.on('close', finish);
    if (parse()) finish();
  });
}

/** The code of a close frame's payload, 1005 without one. */
export function closeCodeOf(frame: ServerFrame): number {
  return frame.payload.length >= 2 ? frame.payload.readUInt16BE(0) : 1005;
}

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/**
 * A server that completes the opening handshake, then never reads nor answers anything (a
 * dead peer for the client's heartbeat and close timeout). workerd cannot be one: it answers
 * protocol pings itself.
 */
export async function startSilentServer(): Promise<{ url: string; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let head = '';
    const onData = (chunk: Buffer) => {
      head += chunk.toString('latin1');
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      socket.off('data', onData);
      socket.pause();
      const key = /^sec-websocket-key:\s*(\S+)/im.exec(head.slice(0, end))?.[1] ?? '';
      const accept = createHash('sha1').update(`${key}${GUID}`).digest('base64');
      socket.write(
        `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`,
      );
    };
    socket.on('data', onData);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `ws://127.0.0.1:${String(port)}/silent`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** The HTTP answer to a hand-written request (for refusals): status and body. */
export function rawRequest(
  url: string,
  headers: Record<string, string>,
  method = 'GET',
  timeout = 5000,
): Promise<{ status: number; body: string }> {
  return exchange(
    url,
    (target) => {
      const lines = Object.entries({ host: target.host, connection: 'close', ...headers }).map(
        ([name, value]) => `${name}: ${value}\r\n`,
      );
      return `${method} ${target.pathname}${target.search} HTTP/1.1\r\n${lines.join('')}\r\n`;
    },
    (received, socket, closed) => {
      // Parsed as latin1 (one char per byte, so lengths hold), the body decoded as UTF-8 after.
      const text = received.toString('latin1');
      const end = text.indexOf('\r\n\r\n');
      if (end < 0) return undefined;
      const head = text.slice(0, end);
      let body = text.slice(end + 4);
      const length = /^content-length:\s*(\d+)/im.exec(head)?.[1];
      const chunked = /^transfer-encoding:\s*chunked/im.test(head);
      const complete =
        length !== undefined
          ? body.length >= Number(length)
          : chunked && body.endsWith('0\r\n\r\n');
      if (!complete && !closed) return undefined;
      socket.destroy();
      if (chunked) body = unchunk(body);
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
      return { status, body: Buffer.from(body, 'latin1').toString('utf8') };
    },
    timeout,
  );
}

function unchunk(body: string): string {
  let out = '';
  let rest = body;
  for (let i = 0; i < 1000; i++) {
    const lineEnd = rest.indexOf('\r\n');
    if (lineEnd < 0) break;
    const size = Number.parseInt(rest.slice(0, lineEnd), 16);
    if (!size) break;
    out += rest.slice(lineEnd + 2, lineEnd + 2 + size);
    rest = rest.slice(lineEnd + 2 + size + 2);
  }
  return out;
}

/** A valid upgrade request's headers (the key is random). */
export function upgradeHeaders(): Record<string, string> {
  return {
    upgrade: 'websocket',
    connection: 'Upgrade',
    'sec-websocket-key': randomBytes(16).toString('base64'),
    'sec-websocket-version': '13',
  };
}
