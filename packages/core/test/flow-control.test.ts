import { describe, expect, it } from 'vitest';
import { createPair } from '../src/testing.js';
import { flush, scripted } from './helpers.js';

describe('inbound flow control (receiveHighWaterMark)', () => {
  it('asks the transport to stop reading once the unread messages pass the mark', () => {
    const { t } = scripted({ receiveHighWaterMark: 10 });
    t.sink.text('x'.repeat(10));
    expect(t.ops()).toEqual([]); // at the mark: still reading
    t.sink.binary(new Uint8Array(1));
    expect(t.ops()).toEqual(['pause']);
    t.sink.text('more'); // a runtime may deliver a little more: no second pause
    expect(t.ops()).toEqual(['pause']);
  });
  it('resumes once the reader brought them down to half the mark', async () => {
    const { conn, t } = scripted({ receiveHighWaterMark: 10 });
    for (let i = 0; i < 4; i++) t.sink.text('xxxx'); // 16 bytes queued
    expect(t.ops()).toEqual(['pause']);
    await conn.receive(); // 12 left
    await conn.receive(); // 8 left: over 5
    expect(t.ops()).toEqual(['pause']);
    await conn.receive(); // 4 left: at or under 5
    expect(t.ops()).toEqual(['pause', 'resume']);
  });
  it('messages handed straight to a waiting reader do not count', () => {
    const { conn, t } = scripted({ receiveHighWaterMark: 10 });
    void conn.receive();
    t.sink.text('x'.repeat(100));
    expect(t.ops()).toEqual([]);
  });
  it('a transport that cannot pause is never asked to: past the mark the connection fails (1008)', () => {
    const { t } = scripted({ receiveHighWaterMark: 1 }, { pauseReading: false });
    t.sink.text('x'.repeat(100));
    expect(t.ops()).toEqual(['close']);
  });
  it('createPair: the peer sees its sends buffered while this end does not read, and everything arrives in order', async () => {
    const { client, server } = createPair({ server: { receiveHighWaterMark: 100 } });
    for (let i = 0; i < 10; i++) void client.sendText(`${String(i)}`.padEnd(50, '.'));
    await flush();
    // Three messages were read (150 > 100), then the server transport stopped reading.
    expect(client.bufferedAmount).toBe(7 * 50);
    for (let i = 0; i < 10; i++)
      expect((await server.receiveText()).startsWith(String(i))).toBe(true);
    await flush();
    expect(client.bufferedAmount).toBe(0);
  });
  it('default 1 MiB', () => {
    const { t } = scripted();
    t.sink.binary(new Uint8Array(1024 * 1024));
    expect(t.ops()).toEqual([]);
    t.sink.binary(new Uint8Array(1));
    expect(t.ops()).toEqual(['pause']);
  });
});
