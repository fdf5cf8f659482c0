/**
 * The contract suite's client side, run in real headless Chromium against a real @anyws/node
 * server on 127.0.0.1. Each case is one vitest test that runs the case inside the page; skips
 * come only from the declared capabilities, and vitest counts them.
 */
import {
  type ContractCapabilities,
  contractRoute,
  registerContractSuite,
} from '@anyws/core/contract';
import { type RunningServer, serve, WS_CAPABILITIES } from '@anyws/node';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { BROWSER_CAPABILITIES } from '../src/transport.js';
import { openTestPage, requireChromium, silentServer, type TestBrowser } from './harness.js';

requireChromium();

const capabilities: ContractCapabilities = {
  server: WS_CAPABILITIES,
  client: BROWSER_CAPABILITIES,
  handshakeStatus: false,
  silentServer: true,
  // It says the heartbeat's hello first: the page's heartbeat runs against it.
  silentServerAgreesHeartbeat: true,
  // A page cannot stop reading an open WebSocket: there is no silent browser client.
  silentClient: false,
};

let server: RunningServer;
let silent: Awaited<ReturnType<typeof silentServer>>;
let browser: TestBrowser;

beforeAll(async () => {
  server = await serve({
    hostname: '127.0.0.1',
    handler: (request) => contractRoute(new URL(request.url).pathname),
  });
  silent = await silentServer();
  browser = await openTestPage();
}, 30_000);

afterAll(async () => {
  await browser?.close();
  await silent?.close();
  await server?.close();
});

describe('contract suite: browser client (Chromium) against @anyws/node', () => {
  registerContractSuite(
    (name, _run, skip) => {
      const run = async (): Promise<void> => {
        const base = `ws://127.0.0.1:${String(server.port)}/contract`;
        await browser.page.evaluate(
          ([n, b, s]) =>
            (
              globalThis as unknown as {
                anywsTest: { runContractCase(n: string, b: string, s: string): Promise<void> };
              }
            ).anywsTest.runContractCase(n, b, s),
          [name.replace(/ \[skipped: .*\]$/, ''), base, silent.url] as const,
        );
      };
      if (skip) it.skip(name, run);
      else it(name, run, 20_000);
    },
    capabilities,
    () => {
      throw new Error('the target lives in the page');
    },
  );
});
