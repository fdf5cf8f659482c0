/** The contract suite against the test Worker in workerd, with @anyws/node as the client. */

import {
  type ContractCapabilities,
  type ContractTarget,
  registerContractSuite,
} from '@anyws/core/contract';
import { connect, WS_CAPABILITIES } from '@anyws/node';
import { afterAll, beforeAll, it } from 'vitest';
// The same hand-written handshake as @anyws/node's contract target (a Node TCP client).
import { rawHandshakeHead } from '../../../node/test/raw.js';
import { WORKERD_CAPABILITIES } from '../../src/transport.js';
import { openSilentClient, startSilentServer } from './raw.js';
import { startWorkerd, type Workerd } from './workerd.js';

const register = (name: string, run: () => Promise<void>, skip: string | null) =>
  skip ? it.skip(name, run) : it(name, run, 20_000);

const capabilities: ContractCapabilities = {
  server: WORKERD_CAPABILITIES,
  // A client of @anyws/node's connect() (maxPayload = maxMessageSize: enforced by ws).
  client: WS_CAPABILITIES,
  handshakeStatus: true,
  // A raw TCP server in this process: workerd cannot be silent, it answers protocol pings.
  silentServer: true,
  // A raw TCP client that completes the handshake with workerd, then never reads.
  silentClient: true,
  // It offers the heartbeat token, so the Worker's heartbeat runs against it.
  silentClientOffersHeartbeat: true,
  rawHandshake: true,
  // workerd's HTTP layer fails a POST with upgrade headers with 500 before the Worker runs.
  runtimeRefusesNonGetUpgrade: true,
};

/** Registers every case against the routes served under `path` (e.g. `/plain`, `/room/contract`). */
export function registerWorkerdContract(
  path: string,
  extra: Partial<ContractCapabilities> = {},
): void {
  let workerd: Workerd;
  let silent: Awaited<ReturnType<typeof startSilentServer>>;
  let target: ContractTarget;
  beforeAll(async () => {
    [workerd, silent] = await Promise.all([startWorkerd(), startSilentServer()]);
    target = {
      baseUrl: `${workerd.ws}${path}`,
      connect: (url, options) => connect(url, options),
      silentServerUrl: silent.url,
      openSilentClient,
      handshake: rawHandshakeHead,
    };
  });
  afterAll(async () => {
    await Promise.all([workerd?.dispose(), silent?.close()]);
  });
  registerContractSuite(register, { ...capabilities, ...extra }, () => target);
}
