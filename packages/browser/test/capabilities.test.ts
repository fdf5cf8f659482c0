/**
 * Probes of what Chromium's WebSocket does by itself, against a raw TCP server: the evidence
 * behind BROWSER_CAPABILITIES. If a Chromium release changes one, this fails and the
 * declaration (and so core's gap filling and the contract's skips) must follow.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BROWSER_CAPABILITIES } from '../src/transport.js';
import {
  type ClientFrame,
  frame,
  inPage,
  openTestPage,
  rawServer,
  requireChromium,
  type TestBrowser,
} from './harness.js';

requireChromium();

let browser: TestBrowser;

beforeAll(async () => {
  browser = await openTestPage();
});
afterAll(async () => {
  await browser?.close();
});

/** Opens a plain WebSocket in the page, lets the server act, and returns what the page saw. */
async function probe(
  act: (socket: import('node:net').Socket) => void,
  pageAction: 'none' | 'close1009' = 'none',
): Promise<{ events: string[]; frames: ClientFrame[] }> {
  const server = await rawServer(act, true);
  try {
    const events = await browser.page.evaluate(
      ([url, action]) =>
        new Promise<string[]>((resolve) => {
          const events: string[] = [];
          const ws = new WebSocket(url);
          ws.onopen = () => {
            events.push('open');
            if (action === 'close1009') {
              try {
                ws.close(1009);
              } catch (error) {
                events.push(`throws ${(error as Error).name}`);
                ws.close(4000, 'done');
              }
            }
          };
          ws.onmessage = (event) => events.push(`message ${String(event.data)}`);
          ws.onclose = (event) => {
            events.push(`close ${String(event.code)} ${event.reason}`);
            resolve(events);
          };
          setTimeout(() => resolve(events), 3000);
        }),
      [server.url, pageAction] as const,
    );
    for (let i = 0; i < 50 && server.frames.length === 0; i++)
      await new Promise((r) => setTimeout(r, 10));
    return { events, frames: [...server.frames] };
  } finally {
    await server.close();
  }
}

const CLOSE = 0x8;
const PING = 0x9;
const PONG = 0xa;
const closeBody = (code: number, reason = ''): Buffer =>
  Buffer.concat([Buffer.from([code >> 8, code & 0xff]), Buffer.from(reason)]);

describe('Chromium WebSocket, as BROWSER_CAPABILITIES declares it', () => {
  it('answers ping frames itself and never shows them to the page (pingFrames false, forcedAutoPong true)', async () => {
    const { events, frames } = await probe((socket) => {
      socket.write(frame(PING, Buffer.from('probe')));
      setTimeout(() => socket.write(frame(CLOSE, closeBody(1000))), 100);
    });
    expect(BROWSER_CAPABILITIES.pingFrames).toBe(false);
    expect(BROWSER_CAPABILITIES.forcedAutoPong).toBe(true);
    expect(frames[0]).toEqual({ opcode: PONG, payload: Buffer.from('probe') });
    expect(events).toEqual(['open', 'close 1000 ']);
  });

  it('answers a close frame itself, echoing code and reason (forcedCloseReply true)', async () => {
    const { events, frames } = await probe((socket) =>
      socket.write(frame(CLOSE, closeBody(4321, 'bye'))),
    );
    expect(BROWSER_CAPABILITIES.forcedCloseReply).toBe(true);
    expect(frames[0]?.opcode).toBe(CLOSE);
    expect(frames[0]?.payload.readUInt16BE(0)).toBe(4321);
    expect(events).toEqual(['open', 'close 4321 bye']);
  });

  it('echoes an invalid close code (1004) instead of answering 1002 (validatesCloseCodes false)', async () => {
    const { events, frames } = await probe((socket) => socket.write(frame(CLOSE, closeBody(1004))));
    expect(BROWSER_CAPABILITIES.validatesCloseCodes).toBe(false);
    expect(frames[0]?.payload.readUInt16BE(0)).toBe(1004);
    expect(events).toEqual(['open', 'close 1004 ']);
  });

  it('core over that echo: the reader gets an ERROR and closeCode is 1002, as if core had answered', async () => {
    const server = await rawServer((socket) => socket.write(frame(CLOSE, closeBody(1004))), true);
    try {
      const r = await inPage(
        browser.page,
        (api, url) => api.scenarios.readToEnd({ url }),
        server.url,
      );
      expect(r.types).toEqual([0x102, 0x101]); // ERROR, CLOSED
      expect(r.error).toMatch(/invalid close code 1004/);
      expect(r.closeCode).toBe(1002);
    } finally {
      await server.close();
    }
  });

  it('refuses to send close codes other than 1000 and 3000–4999 (restrictedCloseCodes true: core sends those without a body)', async () => {
    const { events } = await probe((socket) => {
      socket.on('data', () => socket.end(frame(CLOSE, closeBody(4000))));
    }, 'close1009');
    expect(BROWSER_CAPABILITIES.restrictedCloseCodes).toBe(true);
    expect(events.slice(0, 2)).toEqual(['open', 'throws InvalidAccessError']);
  });
});
