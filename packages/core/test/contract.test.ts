import { describe, it } from 'vitest';
import { memoryTarget, registerContractSuite } from '../src/contract/index.js';

const register = (name: string, run: () => Promise<void>, skip: string | null) =>
  skip ? it.skip(name, run) : it(name, run, 20_000);

describe('contract suite over in-memory transports (ping frames)', () => {
  const { target, capabilities } = memoryTarget();
  registerContractSuite(register, capabilities, () => target);
});

describe('contract suite over in-memory transports (application-level heartbeat, no backpressure)', () => {
  const { target, capabilities } = memoryTarget({ pingFrames: false, backpressure: false });
  registerContractSuite(register, capabilities, () => target);
});

describe('contract suite over in-memory transports (a runtime that answers pings and close frames itself)', () => {
  const { target, capabilities } = memoryTarget({ forcedAutoPong: true, forcedCloseReply: true });
  registerContractSuite(register, capabilities, () => target);
});

describe('contract suite over in-memory transports (a browser-like client: no ping frames, close codes restricted)', () => {
  const { target, capabilities } = memoryTarget(
    {},
    {
      pingFrames: false,
      forcedAutoPong: true,
      forcedCloseReply: true,
      restrictedCloseCodes: true,
      pauseReading: false,
    },
  );
  registerContractSuite(register, capabilities, () => target);
});
