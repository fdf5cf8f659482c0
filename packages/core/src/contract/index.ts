/**
 * The contract suite, for adapters: serve {@link contractRoutes} (see {@link contractRoute})
 * in the runtime, then run {@link registerContractSuite} with a client of the runtime.
 * @packageDocumentation
 */
export {
  type ChatMessages,
  chatMessages,
  type PublicationRecord,
  recordPublications,
  wireOffsets,
} from './channels.js';
export { memoryTarget } from './memory.js';
export { contractRoute, contractRoutes, REPORT_TOPIC } from './routes.js';
export {
  ContractAssertionError,
  type ContractCapabilities,
  type ContractCase,
  type ContractTarget,
  contractCases,
  type RegisterTest,
  registerContractSuite,
} from './suite.js';
export {
  type RawHandshakeRequest,
  type RawHandshakeResponse,
  UPGRADE_ROWS,
  validUpgradeHeaders,
} from './upgrade-cases.js';
export { settle, until } from './wait.js';
