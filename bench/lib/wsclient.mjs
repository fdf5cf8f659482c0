// A deliberately small WebSocket client for the load generator: raw `net`, masked frames
// built once and reused, many frames per write, and a parser that counts messages without
// copying payloads. It exists so that the generator costs far less than the servers it
// measures; it is not a general client (no fragmentation on send, no inflate).
import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
/**
 * Every connection reads into this one buffer (`onread`): no Buffer and no stream event per
 * read, which halves what reading thousands of sockets costs the generator. Each read is
 * parsed before the next one starts, and nothing keeps a view of it past its callback.
 */
const READ_BUFFER = Buffer.allocUnsafe(256 * 1024);
const HEADER_END = Buffer.from('\r\n\r\n');

export const OP_TEXT = 1;
export const OP_BINARY = 2;
const OP_CLOSE = 8;
const OP_PING = 9;

function headerLength(len, masked) {
  return (len < 126 ? 2 : len < 65536 ? 4 : 10) + (masked ? 4 : 0);
}

/** One frame: masked with a fresh random key (client side), or unmasked (as a server writes it). */
export function frame(opcode, payload, { masked = true, rsv1 = false } = {}) {
  const len = payload.length;
  const h = headerLength(len, masked);
  const buf = Buffer.allocUnsafe(h + len);
  buf[0] = 0x80 | (rsv1 ? 0x40 : 0) | opcode;
  const maskBit = masked ? 0x80 : 0;
  if (len < 126) buf[1] = maskBit | len;
  else if (len < 65536) {
    buf[1] = maskBit | 126;
    buf.writeUInt16BE(len, 2);
  } else {
    buf[1] = maskBit | 127;
    buf.writeUInt32BE(Math.floor(len / 2 ** 32), 2);
    buf.writeUInt32BE(len >>> 0, 6);
  }
  if (!masked) {
    payload.copy(buf, h);
    return buf;
  }
  const mask = randomBytes(4);
  mask.copy(buf, h - 4);
  for (let i = 0; i < len; i++) buf[h + i] = payload[i] ^ mask[i & 3];
  return buf;
}

/** `count` masked frames of the same payload back to back, each with its own key. */
export function frameBatch(opcode, payload, count) {
  const frames = [];
  for (let i = 0; i < count; i++) frames.push(frame(opcode, payload));
  return Buffer.concat(frames);
}

/**
 * One client connection. `onMessage(opcode, length, compressed)` runs per complete data
 * message, `onChunk()` after each network read (so replies to one read leave in one write).
 */
export class Conn {
  constructor(socket) {
    this.socket = socket;
    this.onMessage = null;
    this.onChunk = null;
    this.onClose = null;
    this.closed = false;
    this.extensions = '';
    /** Unparsed bytes of a frame header split across reads. */
    this.rest = null;
    /** Payload bytes of the current frame still to come. */
    this.left = 0;
    this.op = 0;
    this.fin = false;
    this.rsv1 = false;
    this.msgOp = 0;
    this.msgRsv1 = false;
    this.msgLen = 0;
    /** Control-frame payload being collected (pings are answered with it). */
    this.ctl = null;
  }

  write(buf) {
    if (!this.closed) this.socket.write(buf);
  }

  destroy() {
    this.closed = true;
    this.socket.destroy();
  }

  feed(input) {
    let chunk = input;
    if (this.rest !== null) {
      chunk = Buffer.concat([this.rest, chunk]);
      this.rest = null;
    }
    const n = chunk.length;
    let i = 0;
    while (i < n) {
      if (this.left > 0) {
        const take = Math.min(this.left, n - i);
        if (this.ctl !== null) this.ctl.push(Buffer.from(chunk.subarray(i, i + take)));
        i += take;
        this.left -= take;
        if (this.left === 0) this.#end();
        continue;
      }
      if (n - i < 2) {
        this.rest = Buffer.from(chunk.subarray(i));
        break;
      }
      const b0 = chunk[i];
      const b1 = chunk[i + 1];
      let len = b1 & 0x7f;
      const h = headerLength(len === 126 ? 126 : len === 127 ? 65536 : 0, (b1 & 0x80) !== 0);
      if (n - i < h) {
        this.rest = Buffer.from(chunk.subarray(i));
        break;
      }
      if (len === 126) len = chunk.readUInt16BE(i + 2);
      else if (len === 127) len = chunk.readUInt32BE(i + 2) * 2 ** 32 + chunk.readUInt32BE(i + 6);
      i += h;
      this.op = b0 & 0x0f;
      this.fin = (b0 & 0x80) !== 0;
      this.rsv1 = (b0 & 0x40) !== 0;
      this.ctl = this.op >= 8 ? [] : null;
      this.left = len;
      if (this.op < 8) {
        if (this.op !== 0) {
          this.msgOp = this.op;
          this.msgRsv1 = this.rsv1;
          this.msgLen = 0;
        }
        this.msgLen += len;
      }
      if (len === 0) this.#end();
    }
    if (this.onChunk !== null) this.onChunk();
  }

  #end() {
    if (this.ctl !== null) {
      const payload = Buffer.concat(this.ctl);
      this.ctl = null;
      if (this.op === OP_PING) this.write(frame(0x0a, payload));
      else if (this.op === OP_CLOSE) {
        this.write(frame(OP_CLOSE, payload.subarray(0, 2)));
        this.socket.end();
        this.closed = true;
      }
      return;
    }
    if (this.fin && this.onMessage !== null) this.onMessage(this.msgOp, this.msgLen, this.msgRsv1);
  }
}

/**
 * Opens one connection to 127.0.0.1:`port`. `raw`: plain TCP, no handshake (the ceiling
 * server echoes bytes; it is spoken to as if it had answered the upgrade).
 */
export function open({ port, path = '/', deflate = false, raw = false, timeoutMs = 30_000 }) {
  return new Promise((resolve, reject) => {
    let onBytes = null;
    const socket = net.connect({
      host: '127.0.0.1',
      port,
      noDelay: true,
      onread: {
        buffer: READ_BUFFER,
        callback(length, buffer) {
          onBytes?.(buffer.subarray(0, length));
        },
      },
    });
    const conn = new Conn(socket);
    let settled = false;
    const fail = (error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      reject(error);
    };
    const timer = setTimeout(() => fail(new Error(`open ${path}: timeout`)), timeoutMs);
    socket.on('error', (error) => {
      if (!settled) fail(error);
    });
    socket.on('close', () => {
      conn.closed = true;
      if (!settled) fail(new Error(`open ${path}: closed during handshake`));
      else conn.onClose?.();
    });
    const done = () => {
      settled = true;
      clearTimeout(timer);
      resolve(conn);
    };
    if (raw) {
      socket.once('connect', () => {
        onBytes = (chunk) => conn.feed(chunk);
        done();
      });
      return;
    }
    const key = randomBytes(16).toString('base64');
    const extensions = deflate
      ? 'Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n'
      : '';
    socket.write(
      `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n${extensions}\r\n`,
    );
    let head = Buffer.alloc(0);
    // The read buffer is reused: the response is copied out of it.
    onBytes = (chunk) => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf(HEADER_END);
      if (end < 0) {
        if (head.length > 16_384) fail(new Error('handshake response too large'));
        return;
      }
      const text = head.subarray(0, end).toString('latin1');
      if (!text.startsWith('HTTP/1.1 101')) {
        fail(new Error(`open ${path}: ${text.split('\r\n')[0]}`));
        return;
      }
      const expected = createHash('sha1')
        .update(key + GUID)
        .digest('base64');
      const headers = new Map();
      for (const line of text.split('\r\n').slice(1)) {
        const colon = line.indexOf(':');
        if (colon > 0)
          headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
      }
      if (headers.get('sec-websocket-accept') !== expected) {
        fail(new Error(`open ${path}: bad Sec-WebSocket-Accept`));
        return;
      }
      conn.extensions = headers.get('sec-websocket-extensions') ?? '';
      onBytes = (data) => conn.feed(data);
      done();
      const leftover = head.subarray(end + 4);
      if (leftover.length > 0) conn.feed(leftover);
    };
  });
}

/** Opens `count` connections, at most `concurrency` handshakes at a time. */
export async function openMany(count, concurrency, options) {
  const conns = new Array(count);
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const index = next++;
      conns[index] = await open(options);
    }
  };
  const workers = [];
  for (let w = 0; w < Math.min(concurrency, count); w++) workers.push(worker());
  try {
    await Promise.all(workers);
  } catch (error) {
    for (const conn of conns) conn?.destroy();
    throw error;
  }
  return conns;
}
