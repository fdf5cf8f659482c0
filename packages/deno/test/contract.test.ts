/**
 * The whole contract suite inside the real deno binary: @anyws/deno on the server side
 * (`serve`), @anyws/deno on the client side (`connect`). Every skip comes from a declared
 * capability (DENO_SERVER_CAPABILITIES, DENO_CLIENT_CAPABILITIES).
 */
import { registerContractSuite } from '@anyws/core/contract';
import { options } from './assert.ts';
import { capabilities, startContractHarness } from './harness.ts';

const harness = await startContractHarness();

registerContractSuite(
  (name, run, skip) =>
    Deno.test({
      name,
      ignore: skip !== null,
      fn: run,
      // One server serves every case; its sockets outlive single cases by design.
      ...options,
    }),
  capabilities,
  () => harness.target,
);
