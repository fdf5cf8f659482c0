/**
 * The Node client takes the server's fragment bound (`maxFragmentsFor`), not ws's client
 * default of 16,384: a message within `maxMessageSize` arrives whole however a server
 * fragments it.
 */
import { afterEach, expect, it } from 'vitest';
import { connect } from '../src/index.js';
import { handshakingServer } from './raw.js';

let close: (() => Promise<void>) | undefined;
afterEach(async () => {
  await close?.();
  close = undefined;
});

/** An unmasked server frame of at most 125 bytes. */
function serverFrame(opcode: number, fin: boolean, payload: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from([(fin ? 0x80 : 0) | opcode, payload.byteLength]), payload]);
}

it('a text message in 20,000 fragments of 8 bytes arrives whole', async () => {
  const fragments = 20_000;
  const piece = new TextEncoder().encode('abcdefgh');
  const server = await handshakingServer((socket) => {
    const frames: Buffer[] = [];
    for (let i = 0; i < fragments; i++) {
      frames.push(serverFrame(i === 0 ? 0x1 : 0x0, i === fragments - 1, piece));
    }
    socket.write(Buffer.concat(frames));
  });
  close = server.close;
  const conn = await connect(server.url, { receiveTimeout: 10_000 });
  const text = await conn.receiveText();
  expect(text.length).toBe(fragments * piece.byteLength);
  expect(text.slice(0, 16)).toBe('abcdefghabcdefgh');
  conn.terminate();
});
