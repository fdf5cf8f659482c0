// A flood (issue 12): one client writes 100,000 small messages as fast as its socket takes
// them at a session that reads slowly. The server must hold a bounded amount: core asks ws to
// stop reading once the unread messages pass `receiveHighWaterMark` (or its message count
// bound), and what one read from the socket brought is still parsed. So, in bytes read from
// the socket and not yet taken by the session (kernel buffers are not the server's memory):
//
//   held ≤ (messages up to the mark + 1) × frame size + 128 KiB (two socket reads)
//
// where the messages up to the mark are the fewer of receiveHighWaterMark / payload and the
// message count bound (receiveHighWaterMark / 64, at least 1,024). Measured on the
// server's own socket: bytesRead minus what the session has taken.
import type { Socket } from 'node:net';
import { type WebSocketConnection, type WebSocketHandler, WSMsgType } from '@anyws/core';
import { describe, expect, it } from 'vitest';
import { attach, serve } from '../src/index.js';
import { expectEcho } from './helpers.js';
import { clientFrame, rawClient } from './raw.js';

const TOTAL = 100_000;
/**
 * What the socket had read when reading paused: the read ws is parsing (its messages are still
 * delivered) and one more held in the socket's stream buffer. Node reads 64 KiB at a time.
 */
const SOCKET_READS = 2 * 64 * 1024;
const HWM = 64 * 1024;

/** Messages core lets queue before it asks the runtime to stop reading. */
function messagesToMark(payload: number): number {
  const byCount = Math.max(1024, Math.floor(HWM / 64));
  return payload === 0 ? byCount : Math.min(byCount, Math.floor(HWM / payload));
}

/** Polls `condition` (every 5 ms, at most ~10 s); false if it never held. */
async function until(condition: () => boolean): Promise<boolean> {
  for (let i = 0; i < 2000; i++) {
    if (condition()) return true;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return condition();
}

const echo: WebSocketHandler = {
  message(conn, message) {
    if (message.type === WSMsgType.TEXT) conn.sendText(message.data).catch(() => undefined);
  },
};

describe('a flood at a slow reader', () => {
  it.each([
    [16, 'small'],
    [1, 'one-byte'],
    [0, 'empty'],
  ])(
    '%i-byte (%s) messages: the server holds at most the mark plus two socket reads, and reads them all',
    async (payload) => {
      const frameSize = clientFrame(1, new Uint8Array(payload)).length;
      let session: WebSocketConnection<unknown> | undefined;
      let openGate!: () => void;
      const gate = new Promise<void>((resolve) => {
        openGate = resolve;
      });
      let read = 0;
      let maxHeld = 0;
      let serverSocket: Socket | undefined;
      let base = 0;
      const held = (): number => (serverSocket?.bytesRead ?? 0) - base - read * frameSize;
      const slow: WebSocketHandler = {
        options: { receiveHighWaterMark: HWM },
        async session(conn) {
          session = conn;
          await gate;
          while (read < TOTAL) {
            const message = await conn.receive({ timeout: 10_000 });
            if (message.type !== WSMsgType.TEXT) throw new Error(`got ${String(message.type)}`);
            read++;
            maxHeld = Math.max(maxHeld, held());
            // Slow: a turn of the event loop every 100 messages lets the socket be read meanwhile.
            if (read % 100 === 0) await new Promise((resolve) => setImmediate(resolve));
          }
        },
      };
      const server = await serve({ hostname: '127.0.0.1', port: 0, handler: slow });
      attach(server.server, { path: '/echo', handler: echo });
      const sockets: Socket[] = [];
      server.server.on('connection', (socket: Socket) => sockets.push(socket));
      const { socket: client } = await rawClient(`${server.url}/flood`);
      try {
        expect(await until(() => session !== undefined && sockets.length === 1)).toBe(true);
        serverSocket = sockets[0];
        base = serverSocket!.bytesRead;

        // The flood: 100,000 frames, 1,000 to a write, waiting for 'drain' only when told to.
        const batch = Buffer.concat(
          Array.from({ length: 1000 }, () => clientFrame(1, new Uint8Array(payload).fill(0x61))),
        );
        let written = 0;
        const flooding = (async () => {
          while (written < TOTAL) {
            written += 1000;
            if (!client.write(batch)) {
              await new Promise<void>((resolve, reject) => {
                client.once('drain', resolve);
                client.once('close', () => reject(new Error('the server closed the flood')));
              });
            }
          }
        })();
        flooding.catch(() => undefined);

        // The server stops reading while the client has more for it: in its own buffer, or
        // all written (loopback's kernel buffers take megabytes).
        let wroteAll = false;
        void flooding.then(() => {
          wroteAll = true;
        });
        const stalled = await until(
          () => serverSocket!.isPaused() && (client.writableLength > 0 || wroteAll),
        );
        expect(stalled, `stalled (read ${String(serverSocket!.bytesRead - base)} bytes)`).toBe(
          true,
        );
        const bound = (messagesToMark(payload) + 1) * frameSize + SOCKET_READS;
        const stalledAt = held();
        expect(stalledAt).toBeGreaterThan(0);
        expect(stalledAt).toBeLessThanOrEqual(bound);

        // Now the session reads, slowly; the server reads on as the queue goes down.
        openGate();
        await flooding;
        expect(await until(() => read === TOTAL)).toBe(true);
        expect(maxHeld).toBeLessThanOrEqual(bound);
        // Nothing failed the connection: the session ended it (its end closes it) after reading all.
        expect(session!.exception()).toBeNull();
        // The server still serves the others.
        await expectEcho(`${server.url}/echo`);
      } finally {
        client.destroy();
        await server.close();
      }
    },
    60_000,
  );
});
