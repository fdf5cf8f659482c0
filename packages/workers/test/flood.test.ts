/**
 * A flood in real workerd (issue 12): one client sends 100,000 small messages as fast as its
 * socket takes them. workerd cannot stop reading and reports no buffer (no `pauseReading`, no
 * `backpressure`), so the bound a plain Worker's session has is core's: a reader that is behind
 * holds at most `receiveHighWaterMark` bytes and one message per 64 bytes of it (1,024 at
 * least) before the connection fails with 1008; a reader that keeps up gets every message.
 * (A room's hooks take messages as events one at a time, with no queue in anyws: there the
 * bound is workerd's own, the Durable Object's memory limit.)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  clientFrame,
  closeCodeOf,
  rawHandshake,
  readFrames,
  type ServerFrame,
} from './helpers/raw.js';
import { startWorkerd, type Workerd } from './helpers/workerd.js';

const TOTAL = 100_000;

let workerd: Workerd;
beforeAll(async () => {
  workerd = await startWorkerd();
});
afterAll(() => workerd?.dispose());

/** Writes TOTAL 16-byte text frames, 1,000 to a write, waiting only when the socket says so. */
async function flood(socket: import('node:net').Socket): Promise<void> {
  const batch = Buffer.concat(
    Array.from({ length: 1000 }, () => clientFrame(0x1, Buffer.alloc(16, 0x61))),
  );
  for (let sent = 0; sent < TOTAL && !socket.destroyed; sent += 1000) {
    if (!socket.write(batch)) {
      await new Promise<void>((resolve) => {
        socket.once('drain', resolve);
        socket.once('close', resolve);
      });
    }
  }
}

describe('a flood at a plain Worker', () => {
  it('a session that never reads: the connection fails with 1008 at the limit; others are served', async () => {
    const client = await rawHandshake(`${workerd.ws}/flood/idle`);
    client.socket.on('error', () => undefined);
    const closing = readFrames(client, (frame) => frame.opcode === 0x8, 30_000);
    await flood(client.socket);
    const close = (await closing).find((frame: ServerFrame) => frame.opcode === 0x8);
    client.socket.destroy();
    expect(close, 'no close frame').toBeDefined();
    expect(closeCodeOf(close!)).toBe(1008);
    expect(close!.payload.subarray(2).toString('utf8')).toBe('slow reader: receive queue full');
    // The Worker still serves the others.
    const other = await rawHandshake(`${workerd.ws}/flood/count`);
    other.socket.write(clientFrame(0x1, Buffer.from('one')));
    other.socket.write(clientFrame(0x1, Buffer.from('how many?')));
    const frames = await readFrames(other, (frame) => frame.opcode === 0x1);
    other.socket.destroy();
    expect(frames.find((frame) => frame.opcode === 0x1)?.payload.toString()).toBe('1');
  }, 60_000);

  it('a session that keeps up gets all 100,000 messages and stays open', async () => {
    const client = await rawHandshake(`${workerd.ws}/flood/count`);
    await flood(client.socket);
    client.socket.write(clientFrame(0x1, Buffer.from('how many?')));
    const frames = await readFrames(
      client,
      (frame) => frame.opcode === 0x1 || frame.opcode === 0x8,
      30_000,
    );
    client.socket.destroy();
    expect(frames.map((frame) => frame.opcode)).toEqual([0x1]);
    expect(frames[0]!.payload.toString()).toBe(String(TOTAL));
  }, 60_000);
});
