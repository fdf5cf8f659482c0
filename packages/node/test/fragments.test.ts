/**
 * Fragmented messages (issue 12): a message within `maxMessageSize` is accepted however it is
 * fragmented, down to 65,536 fragments (ws's own limit is 16,384), while a peer that sends
 * fragments without end is closed with 1008 once a message passes `maxFragmentsFor` its
 * size limit, holding a bounded amount of memory meanwhile; other connections keep being
 * served throughout.
 */
import type { Socket } from 'node:net';
import { WSMsgType } from '@anyws/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningServer, serve } from '../src/index.js';
import { maxFragmentsFor } from '../src/transport.js';
import { expectEcho } from './helpers.js';
import { frameAt, rawClient, readUntilClose } from './raw.js';

let server: RunningServer;

beforeAll(async () => {
  server = await serve({
    hostname: '127.0.0.1',
    handler: {
      async session(conn) {
        for await (const message of conn) {
          if (message.type === WSMsgType.TEXT || message.type === WSMsgType.BINARY)
            await conn.send(message.data);
        }
      },
    },
  });
});
afterAll(async () => {
  await server?.close();
});

/**
 * One masked client frame with FIN as given. The mask key is zero (valid: the key is the
 * client's choice), so the payload goes out as it is and the loops below stay cheap.
 */
function frame(opcode: number, fin: boolean, payload: Uint8Array): Buffer {
  const length = payload.byteLength;
  const header = length < 126 ? 2 : 4;
  const out = Buffer.alloc(header + 4 + length);
  out[0] = (fin ? 0x80 : 0) | opcode;
  if (header === 2) out[1] = 0x80 | length;
  else {
    out[1] = 0x80 | 126;
    out.writeUInt16BE(length, 2);
  }
  out.set(payload, header + 4);
  return out;
}

/** `message` as `count` fragments of equal size: binary first frame, continuations after. */
function fragmented(message: Uint8Array, count: number): Buffer {
  const size = message.byteLength / count;
  const frames: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    frames.push(
      frame(i === 0 ? 2 : 0, i === count - 1, message.subarray(i * size, (i + 1) * size)),
    );
  }
  return Buffer.concat(frames);
}

/** Reads one unfragmented server frame of any size; resolves with its opcode and payload. */
function readFrame(socket: Socket, initial: Buffer): Promise<{ opcode: number; payload: Buffer }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [initial];
    let have = initial.length;
    const timer = setTimeout(() => done(new Error('no frame within 15 s')), 15_000);
    function done(error: Error | null, result?: { opcode: number; payload: Buffer }): void {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onClose);
      if (error) reject(error);
      else resolve(result!);
    }
    function parse(): void {
      const buffer = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, have);
      chunks.length = 0;
      chunks.push(buffer);
      const frame = frameAt(buffer);
      if (frame !== undefined) done(null, frame);
    }
    function onData(chunk: Buffer): void {
      chunks.push(chunk);
      have += chunk.length;
      // Parse only once the header's length could be complete, not on every 64 KiB read.
      if (chunks.length > 64 || have >= 10) parse();
    }
    function onClose(): void {
      done(new Error('closed before the frame'));
    }
    socket.on('data', onData);
    socket.on('close', onClose);
    parse();
  });
}

/** Reads server frames until a data frame (pongs are skipped); resolves with it. */
function readMessage(
  socket: Socket,
  initial: Buffer,
): Promise<{ opcode: number; payload: Buffer }> {
  return new Promise((resolve, reject) => {
    let buffer = initial;
    const timer = setTimeout(() => done(new Error('no message within 20 s')), 20_000);
    function done(error: Error | null, result?: { opcode: number; payload: Buffer }): void {
      clearTimeout(timer);
      socket.off('data', onData);
      if (error) reject(error);
      else resolve(result!);
    }
    function onData(chunk: Buffer): void {
      buffer = buffer.length === 0 ? chunk : Buffer.concat([buffer, chunk]);
      for (let frame = frameAt(buffer); frame !== undefined; frame = frameAt(buffer)) {
        buffer = buffer.subarray(frame.end);
        if (frame.opcode === 1 || frame.opcode === 2) {
          done(null, frame);
          return;
        }
      }
    }
    socket.on('data', onData);
  });
}

describe('fragmented messages', () => {
  it('bounds fragments per message by the size limit, never under 65,536', () => {
    expect(maxFragmentsFor(4 * 1024 * 1024)).toBe(65_536);
    expect(maxFragmentsFor(1024)).toBe(65_536);
    expect(maxFragmentsFor(64 * 1024 * 1024)).toBe(1_048_576);
  });

  for (const [count, size] of [
    [65_536, 64],
    [16_384, 256],
  ] as const) {
    it(`echoes a 4 MiB message sent in ${count} fragments of ${size} B`, async () => {
      const message = Buffer.allocUnsafe(count * size);
      for (let i = 0; i < message.length; i++) message[i] = (i * 131 + 7) & 0xff;
      const { socket, rest } = await rawClient(`${server.url}/`);
      socket.write(fragmented(message, count));
      const echoed = await readFrame(socket, rest);
      expect(echoed.opcode).toBe(2);
      expect(echoed.payload.length).toBe(message.length);
      expect(echoed.payload.equals(message)).toBe(true);
      socket.destroy();
    });
  }

  it('a fragment does not keep the socket read it came in: control frames between fragments', async () => {
    const { socket, rest } = await rawClient(`${server.url}/`);
    // The pongs and, at the end, the echo of the message.
    const echoed = readMessage(socket, rest);
    const pings = Buffer.concat(
      Array.from({ length: 500 }, () => frame(9, true, new Uint8Array(125))),
    );
    const base = process.memoryUsage();
    let peak = 0;
    const sample = (): void => {
      const now = process.memoryUsage();
      peak = Math.max(peak, now.heapUsed + now.arrayBuffers - (base.heapUsed + base.arrayBuffers));
    };
    const sampler = setInterval(sample, 20);
    const count = 2000;
    const message = Buffer.from(Array.from({ length: count }, (_, i) => (i * 7) & 0xff));
    // Each 1-byte fragment in a write of its own, filled up with 64 KB of pings.
    for (let i = 0; i < count; i++) {
      const fragment = frame(i === 0 ? 2 : 0, false, message.subarray(i, i + 1));
      if (!socket.write(Buffer.concat([fragment, pings]))) {
        await new Promise((resolve) => socket.once('drain', resolve));
      }
      if (i % 16 === 15) await new Promise((resolve) => setTimeout(resolve, 1));
    }
    socket.write(frame(0, true, new Uint8Array(0)));
    const { opcode, payload } = await echoed;
    sample();
    clearInterval(sampler);
    expect(opcode).toBe(2);
    expect(payload.equals(message)).toBe(true);
    // Each fragment held its 64 KB read before: about 120 MB for these 2,000.
    expect(peak).toBeLessThan(32 * 1024 * 1024);
    socket.destroy();
  });

  for (const [what, payload] of [
    ['1-byte', new Uint8Array([42])],
    ['empty', new Uint8Array(0)],
  ] as const) {
    it(`closes a peer that sends ${what} fragments without end, memory bounded, others served`, async () => {
      const { socket, rest } = await rawClient(`${server.url}/`);
      const closed = readUntilClose(socket, rest, 20_000);
      let open = true;
      socket.on('close', () => {
        open = false;
      });
      closed.catch(() => undefined);
      // The server's memory while the attack runs (the server is this process).
      const base = process.memoryUsage();
      let peak = 0;
      const sample = (): void => {
        const now = process.memoryUsage();
        peak = Math.max(
          peak,
          now.heapUsed + now.arrayBuffers - (base.heapUsed + base.arrayBuffers),
        );
      };
      const sampler = setInterval(sample, 20);
      // Up to 3 million fragments, 10,000 per write, each write waiting for the socket.
      const continuation = frame(0, false, payload);
      const batch = Buffer.concat(Array.from({ length: 10_000 }, () => continuation));
      socket.write(frame(2, false, payload));
      let sent = 1;
      const deadline = Date.now() + 20_000;
      while (open && sent < 3_000_000 && Date.now() < deadline) {
        const more = socket.write(batch);
        sent += 10_000;
        if (!more) {
          await new Promise<void>((resolve) => {
            socket.once('drain', resolve);
            socket.once('close', resolve);
          });
        }
        if (sent === 30_001) {
          // Others are served while the attack's message is under way.
          await expectEcho(`${server.url}/`, `during ${what}`);
        }
      }
      sample();
      clearInterval(sampler);
      // Policy violation once the message passes 65,536 fragments (empty ones count).
      expect(await closed).toBe(1008);
      expect(sent).toBeGreaterThan(65_536);
      // 65,536 fragment entries and the reads they came in: a few MB, far from 64 MB.
      expect(peak).toBeLessThan(64 * 1024 * 1024);
      socket.destroy();
      await expectEcho(`${server.url}/`, `after ${what}`);
    });
  }
});
