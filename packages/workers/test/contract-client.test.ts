/**
 * The contract suite's client side in workerd: each case runs inside a Worker's request with
 * @anyws/workers' `connect` as the client, against a real @anyws/node server (and a silent raw
 * server) on 127.0.0.1. Skips come only from the declared capabilities, as for the other targets.
 */
import {
  type ContractCapabilities,
  contractRoute,
  registerContractSuite,
} from '@anyws/core/contract';
import { type RunningServer, serve, WS_CAPABILITIES } from '@anyws/node';
import type { Miniflare } from 'miniflare';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WORKERD_CAPABILITIES } from '../src/transport.js';
import { startClientWorkerd } from './helpers/client-workerd.js';
import { startSilentServer } from './helpers/raw.js';

const capabilities: ContractCapabilities = {
  server: WS_CAPABILITIES,
  client: WORKERD_CAPABILITIES,
  // `connect` reads the status of any answer that is not 101.
  handshakeStatus: true,
  silentServer: true,
  // A Worker cannot hold a socket open without reading it.
  silentClient: false,
};

let server: RunningServer;
let silent: Awaited<ReturnType<typeof startSilentServer>>;
let mf: Miniflare;

beforeAll(async () => {
  server = await serve({
    hostname: '127.0.0.1',
    handler: (request) => contractRoute(new URL(request.url).pathname),
  });
  [silent, mf] = await Promise.all([startSilentServer(), startClientWorkerd()]);
});

afterAll(async () => {
  await mf?.dispose();
  await silent?.close();
  await server?.close();
});

describe('contract suite: @anyws/workers connect (in a Worker) against @anyws/node', () => {
  registerContractSuite(
    (name, _run, skip) => {
      const run = async (): Promise<void> => {
        const query = new URLSearchParams({
          name: name.replace(/ \[skipped: .*\]$/, ''),
          base: `ws://127.0.0.1:${String(server.port)}/contract`,
          silent: silent.url,
        });
        const response = await mf.dispatchFetch(`http://worker/contract?${query.toString()}`);
        const report = (await response.json()) as { ok: boolean; error?: string };
        expect(report.error ?? null).toBeNull();
        expect(report.ok).toBe(true);
      };
      if (skip) it.skip(name, run);
      else it(name, run, 20_000);
    },
    capabilities,
    () => {
      throw new Error('the target lives in workerd');
    },
  );
});
