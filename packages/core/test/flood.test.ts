// A flood of small messages at a reader that is behind (issue 12): the unread queue is held to
// `receiveHighWaterMark` bytes and `receiveMessageLimit(mark)` messages (a queued message costs
// more than its payload; empty ones cost nothing by bytes). Where the runtime can pause, it is
// asked to stop reading; where it cannot, the connection fails with 1008 (ReceiveOverflowError).
import { describe, expect, it } from 'vitest';
import { DEFAULT_OPTIONS, ReceiveOverflowError, WSCloseCode, WSMsgType } from '../src/index.js';
import { receiveMessageLimit } from '../src/reader.js';
import { createPair } from '../src/testing.js';
import { flush, scripted } from './helpers.js';

const TOTAL = 100_000;

describe('the unread queue under a flood', () => {
  it('one message per 64 bytes of the mark, 1,024 at least', () => {
    expect(receiveMessageLimit(DEFAULT_OPTIONS.receiveHighWaterMark)).toBe(16_384);
    expect(receiveMessageLimit(64 * 1024)).toBe(1024);
    expect(receiveMessageLimit(10)).toBe(1024);
  });

  it.each([
    ['empty', ''],
    ['one-byte', 'x'],
  ])(
    '%s messages: reading pauses at the message limit, and resumes at half of it',
    async (_, text) => {
      const { conn, t } = scripted();
      const limit = receiveMessageLimit(DEFAULT_OPTIONS.receiveHighWaterMark);
      for (let i = 0; i < TOTAL; i++) {
        t.sink.text(text);
        if (t.ops().includes('pause')) break;
        expect(i, 'still reading past the limit').toBeLessThanOrEqual(limit);
      }
      expect(t.ops()).toEqual(['pause']);
      let read = 0;
      while (!t.ops().includes('resume')) {
        expect((await conn.receive()).type).toBe(WSMsgType.TEXT);
        read++;
        expect(read, 'never resumed').toBeLessThanOrEqual(limit + 1);
      }
      // Resumed once no more than half the limit was left.
      expect(limit + 1 - read).toBeLessThanOrEqual(limit / 2);
    },
  );

  it('createPair: a client floods 40,000 one-byte messages; the slow server queues at most the limit, and gets them all in order', async () => {
    const { client, server } = createPair();
    const limit = receiveMessageLimit(DEFAULT_OPTIONS.receiveHighWaterMark);
    // The memory transport's queue is an array (shift per frame): 40,000, past the limit of
    // 16,384, keeps this quick; the real runtimes take 100,000 (node/test/flood.test.ts).
    const total = 40_000;
    const sends: Promise<void>[] = [];
    // As fast as it can: every send at once, none awaited.
    for (let i = 0; i < total; i++) sends.push(client.sendText(String(i % 10)));
    await flush();
    let read = 0;
    let maxQueued = 0;
    while (read < total) {
      // What the server's connection holds: sent, minus read, minus still in the transport
      // (one byte each, as the memory transport counts them in the client's bufferedAmount).
      maxQueued = Math.max(maxQueued, total - read - client.bufferedAmount);
      const text = await server.receiveText();
      expect(text).toBe(String(read % 10));
      read++;
    }
    expect(maxQueued).toBeGreaterThan(0);
    expect(maxQueued).toBeLessThanOrEqual(limit + 1);
    await Promise.all(sends);
  });

  it('where the runtime cannot stop reading: past the mark the connection fails with 1008, once', async () => {
    const { conn, t } = scripted({}, { pauseReading: false });
    const limit = receiveMessageLimit(DEFAULT_OPTIONS.receiveHighWaterMark);
    for (let i = 0; i <= limit; i++) t.sink.text('');
    expect(t.ops()).toEqual(['close']);
    expect(t.calls[0]).toEqual({
      op: 'close',
      code: WSCloseCode.POLICY_VIOLATION,
      reason: 'slow reader: receive queue full',
    });
    expect(conn.exception()).toBeInstanceOf(ReceiveOverflowError);
    // More keeps arriving while closing: reported once, one close frame.
    for (let i = 0; i < 1000; i++) t.sink.text('');
    expect(t.ops()).toEqual(['close']);
    // The reader gets what was queued, then the ERROR, in order.
    for (let i = 0; i <= limit; i++) expect((await conn.receive()).type).toBe(WSMsgType.TEXT);
    expect((await conn.receive()).type).toBe(WSMsgType.ERROR);
    t.sink.closed(WSCloseCode.POLICY_VIOLATION, '');
    await flush();
    expect(conn.closeCode).toBe(WSCloseCode.POLICY_VIOLATION);
  });

  it('where the runtime cannot stop reading: by bytes too', () => {
    const { conn, t } = scripted({}, { pauseReading: false });
    t.sink.binary(new Uint8Array(DEFAULT_OPTIONS.receiveHighWaterMark));
    expect(t.ops()).toEqual([]);
    t.sink.binary(new Uint8Array(1));
    expect(t.ops()).toEqual(['close']);
    expect(conn.exception()).toBeInstanceOf(ReceiveOverflowError);
  });

  it('a reader that keeps up is never cut off, whatever the flood', async () => {
    const { conn, t } = scripted({}, { pauseReading: false });
    for (let i = 0; i < 20_000; i++) {
      const next = conn.receive();
      t.sink.text('x');
      expect((await next).type).toBe(WSMsgType.TEXT);
    }
    expect(t.ops()).toEqual([]);
  });
});
