import { type ContractTarget, contractRoute, registerContractSuite } from '@anyws/core/contract';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { connect, type RunningServer, serve, WS_CAPABILITIES } from '../src/index.js';
import { rawHandshakeHead, silentClient, silentServer } from './raw.js';

const register = (name: string, run: () => Promise<void>, skip: string | null) =>
  skip ? it.skip(name, run) : it(name, run, 20_000);

const capabilities = WS_CAPABILITIES;

for (const coalesce of [true, false]) {
  describe(`contract suite: @anyws/node server and client (coalesce: ${String(coalesce)})`, () => {
    let server: RunningServer;
    let silent: Awaited<ReturnType<typeof silentServer>>;
    let target: ContractTarget;

    beforeAll(async () => {
      server = await serve({
        hostname: '127.0.0.1',
        coalesce,
        handler: (request) => contractRoute(new URL(request.url).pathname),
      });
      silent = await silentServer();
      target = {
        baseUrl: server.url,
        connect: (url, options) => connect(url, { ...options, coalesce }),
        silentServerUrl: silent.url,
        openSilentClient: silentClient,
        handshake: rawHandshakeHead,
      };
    });
    afterAll(async () => {
      await server?.close();
      await silent?.close();
    });

    registerContractSuite(
      register,
      {
        server: capabilities,
        client: capabilities,
        handshakeStatus: true,
        silentServer: true,
        silentClient: true,
        rawHandshake: true,
      },
      () => target,
    );
  });
}
