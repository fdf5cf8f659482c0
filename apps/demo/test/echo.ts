// `/ws/echo` through a real client (ws), on whichever runtime serves it.
import { describe, expect, it } from 'vitest';
import WsClient from 'ws';
import type { DemoServer } from './harness.js';

/** A `ws` client, open. */
export function open(url: string): Promise<WsClient> {
  return new Promise((resolve, reject) => {
    const ws = new WsClient(url);
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

function nextMessage(ws: WsClient): Promise<{ data: Buffer; isBinary: boolean }> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no echo within 5 s')), 5000);
    ws.once('message', (data: Buffer, isBinary: boolean) => {
      clearTimeout(timer);
      resolve({ data, isBinary });
    });
  });
}

/** The echo cases, against the server `current()` returns when they run. */
export function defineEchoTests(current: () => DemoServer): void {
  describe('/ws/echo', () => {
    it('serves the page and answers 404 for an unknown path', async () => {
      const server = current();
      const response = await fetch(`${server.url}/`);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toMatch(/^text\/html/);
      expect(await response.text()).toContain('<title>anyws chat</title>');
      expect((await fetch(`${server.url}/nope`)).status).toBe(404);
    });

    it('sends text back unchanged', async () => {
      const ws = await open(`ws://127.0.0.1:${current().port}/ws/echo`);
      for (const text of ['hello', '', 'äöü ✓ 🎉', 'x'.repeat(70_000)]) {
        const reply = nextMessage(ws);
        ws.send(text);
        const { data, isBinary } = await reply;
        expect(isBinary).toBe(false);
        expect(data.toString('utf8')).toBe(text);
      }
      ws.close(1000);
    });

    it('sends binary back unchanged', async () => {
      const ws = await open(`ws://127.0.0.1:${current().port}/ws/echo`);
      const payloads = [
        new Uint8Array([0, 1, 2, 255]),
        new Uint8Array(0),
        new Uint8Array(1 << 20).map((_, i) => i % 251),
      ];
      for (const payload of payloads) {
        const reply = nextMessage(ws);
        ws.send(payload);
        const { data, isBinary } = await reply;
        expect(isBinary).toBe(true);
        // Buffer.equals: a deep toEqual over a MiB of elements takes seconds.
        expect(data.byteLength).toBe(payload.byteLength);
        expect(Buffer.from(payload).equals(data)).toBe(true);
      }
      const closed = new Promise<number>((resolve) =>
        ws.once('close', (code: number) => resolve(code)),
      );
      ws.close(1000, 'done');
      expect(await closed).toBe(1000);
    });
  });
}
