/**
 * The code the tests run inside Chromium, bundled by esbuild: the contract suite's client side
 * and the reconnection scenarios, reachable from Playwright as `window.anywsTest`.
 */
import { contractCases } from '@anyws/core/contract';
import { connect } from '../../src/index.js';
import { channelScenarios } from './channels.js';
import { scenarios } from './scenarios.js';

/** Runs one contract case by name against the server the Node side started. */
async function runContractCase(
  name: string,
  baseUrl: string,
  silentServerUrl: string,
): Promise<void> {
  const found = contractCases.find((c) => c.name === name);
  if (!found) throw new Error(`no contract case named ${name}`);
  await found.run({ baseUrl, connect, silentServerUrl });
}

const api = { runContractCase, scenarios, channelScenarios };
export type TestApi = typeof api;
(globalThis as unknown as { anywsTest: TestApi }).anywsTest = api;
