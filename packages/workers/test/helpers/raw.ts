/**
 * Raw TCP peers, for what no well-behaved client does: a client that completes the handshake
 * and then never reads, and close frames with any code.
 */
import { createHash, randomBytes } from 'node:crypto';
import { type AddressInfo, createServer, type Socket, connect as tcpConnect } from 'node:net';

/** A raw client after a completed opening handshake. */
export interface RawClient {
  socket: Socket;
  /** Bytes that came after the 101 response. */
  rest: Buffer;
}

/** Opens a TCP connection and performs the opening handshake by hand. */
export function rawHandshake(url: string, timeout = 5000): Promise<RawClient> {
  const target = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = tcpConnect({ host: target.hostname, port: Number(target.port) });
    let received = Buffer.alloc(0);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no handshake answer from ${url} within ${timeout} ms`));
    }, timeout);
    socket.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.on('connect', () => {
      const key = randomBytes(16).toString('base64');
      socket.write(
        `GET ${target.pathname}${target.search} HTTP/1.1\r\nHost: ${target.host}\r\nUpgrade: websocket\r\n` +
          `Connection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      );
    });
    const onData = (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      const end = received.indexOf('\r\n\r\n');
      if (end < 0) return;
      clearTimeout(timer);
      socket.off('data', onData);
      const head = received.subarray(0, end).toString('latin1');
      if (!head.startsWith('HTTP/1.1 101')) {
        socket.destroy();
        reject(new Error(`handshake refused: ${head.split('\r\n')[0]}`));
        return;
      }
      resolve({ socket, rest: received.subarray(end + 4) });
    };
    socket.on('data', onData);
  });
}

/** A client that completes the handshake, then never reads nor answers anything. */
export async function openSilentClient(url: string): Promise<{ close(): void }> {
  const { socket } = await rawHandshake(url);
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
