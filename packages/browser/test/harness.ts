/**
 * Node side of the browser tests: a real Chromium (Debian's, driven by playwright-core), the
 * test code bundled by esbuild and served from 127.0.0.1, and a raw TCP "silent server".
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { type AddressInfo, createServer as createTcpServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { APP_PING } from '@anyws/core';
import { build } from 'esbuild';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import type { TestApi } from './browser/entry.js';

export const CHROMIUM = '/usr/bin/chromium';
const here = dirname(fileURLToPath(import.meta.url));

/** Fails loudly when Debian's chromium is missing: these tests must never be skipped quietly. */
export function requireChromium(): void {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `${CHROMIUM} not found: the @anyws/browser tests need Debian's chromium ` +
        '(apt-get install -y --no-install-recommends chromium; .ci/run does this)',
    );
  }
}

/** The test code for the page, bundled once per test file. */
export async function bundleTestCode(): Promise<string> {
  const result = await build({
    entryPoints: [join(here, 'browser/entry.ts')],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    write: false,
    sourcemap: 'inline',
    logLevel: 'error',
  });
  return result.outputFiles[0]?.text ?? '';
}

export interface TestBrowser {
  context: BrowserContext;
  page: Page;
  /** Base URL of the page server, `http://127.0.0.1:port`. */
  origin: string;
  close(): Promise<void>;
}

/** Serves the bundle on 127.0.0.1, launches Chromium with a fresh profile and opens the page. */
export async function openTestPage(
  control?: (command: string, argument?: unknown) => unknown,
): Promise<TestBrowser> {
  requireChromium();
  const code = await bundleTestCode();
  const http = createHttpServer((req, res) => {
    if (req.url === '/test.js') {
      res.writeHead(200, { 'content-type': 'text/javascript' });
      res.end(code);
    } else {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end(
        '<!doctype html><title>anyws browser tests</title><script type="module" src="/test.js"></script>',
      );
    }
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${String((http.address() as AddressInfo).port)}`;
  const profile = mkdtempSync(join(tmpdir(), 'anyws-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(error.message));
  if (control) await page.exposeFunction('control', control);
  await page.goto(origin);
  await page
    .waitForFunction(() => 'anywsTest' in globalThis, undefined, { timeout: 10_000 })
    .catch(() => {
      throw new Error(`the test bundle did not load: ${errors.join('; ') || 'no page error'}`);
    });
  return {
    context,
    page,
    origin,
    async close() {
      await context.close();
      await new Promise<void>((resolve) => http.close(() => resolve()));
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Calls `anywsTest` in the page; `fn` is serialised, so it may only use its argument. */
export function inPage<A, R>(
  page: Page,
  fn: (api: TestApi, arg: A) => Promise<R>,
  arg: A,
): Promise<R> {
  return page.evaluate(
    ([source, a]) => {
      // The function arrives as source text: Playwright passes only serialisable values.
      const f = new Function(`return (${source})`)() as (
        api: unknown,
        arg: unknown,
      ) => Promise<unknown>;
      return f((globalThis as unknown as { anywsTest: unknown }).anywsTest, a);
    },
    [fn.toString(), arg] as const,
  ) as Promise<R>;
}

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** A frame a client sent, unmasked (payloads under 126 bytes only: enough for probes). */
export interface ClientFrame {
  opcode: number;
  payload: Buffer;
}

/**
 * A raw TCP WebSocket server: it completes the handshake, then hands the socket to `opened`.
 * With `listen`, it records the frames the client sends; without, it never reads again.
 */
export async function rawServer(
  opened: (socket: Socket) => void,
  listen: boolean,
): Promise<{ url: string; frames: ClientFrame[]; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const frames: ClientFrame[] = [];
  const server = createTcpServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let head = '';
    let buffered = Buffer.alloc(0);
    const onFrames = (chunk: Buffer): void => {
      buffered = Buffer.concat([buffered, chunk]);
      while (buffered.length >= 6 && buffered.length >= 6 + ((buffered[1] ?? 0) & 0x7f)) {
        const length = (buffered[1] ?? 0) & 0x7f;
        const mask = buffered.subarray(2, 6);
        const payload = Buffer.from(buffered.subarray(6, 6 + length));
        for (let i = 0; i < payload.length; i++)
          payload[i] = (payload[i] ?? 0) ^ (mask[i % 4] ?? 0);
        const opcode = (buffered[0] ?? 0) & 0x0f;
        frames.push({ opcode, payload });
        buffered = buffered.subarray(6 + length);
        // The closing handshake is complete once the client answered: the server drops TCP.
        if (opcode === 0x8) socket.end();
      }
    };
    const onHead = (chunk: Buffer): void => {
      head += chunk.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      socket.off('data', onHead);
      if (listen) socket.on('data', onFrames);
      else socket.pause();
      const key = /^sec-websocket-key:\s*(\S+)/im.exec(head)?.[1] ?? '';
      const accept = createHash('sha1')
        .update(key + GUID)
        .digest('base64');
      // As ws does by default (a server that is not anyws): the first offered subprotocol.
      const offered = /^sec-websocket-protocol:\s*([^\r\n]+)/im.exec(head)?.[1];
      const first = offered?.split(',')[0]?.trim();
      const protocol = first ? `Sec-WebSocket-Protocol: ${first}\r\n` : '';
      socket.write(
        `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n${protocol}\r\n`,
      );
      opened(socket);
    };
    socket.on('data', onHead);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `ws://127.0.0.1:${String((server.address() as AddressInfo).port)}/raw`,
    frames,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * A server that completes the WebSocket handshake and then neither reads nor answers: a raw
 * TCP socket, paused, so that heartbeat and close timeouts meet a real unresponsive peer. It
 * says the heartbeat's hello first (as an anyws server does to a client that offered the
 * token), so that a page's heartbeat runs against it: an anyws server that stopped answering.
 */
export function silentServer(): ReturnType<typeof rawServer> {
  return rawServer((socket) => socket.write(frame(0x1, Buffer.from(APP_PING))), false);
}

/** An unmasked server frame with a payload under 126 bytes. */
export function frame(opcode: number, payload: Uint8Array = new Uint8Array(0)): Buffer {
  return Buffer.concat([Buffer.from([0x80 | opcode, payload.byteLength]), payload]);
}
