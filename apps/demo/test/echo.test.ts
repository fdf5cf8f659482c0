// Step one of the demo: the Node entry point, started as `pnpm demo` starts it (PORT=0 here),
// echoes text and binary through a real client. No browser needed.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defineEchoTests } from './echo.js';
import { type DemoServer, startDemo } from './harness.js';

describe('node demo', () => {
  let server: DemoServer;
  beforeAll(async () => {
    server = await startDemo('node');
  }, 30_000);
  afterAll(() => server?.stop());

  it('announces where it listens', () => {
    expect(server.port).toBeGreaterThan(0);
    expect(server.output()).toMatch(/JWT_SECRET is set/);
  });

  defineEchoTests(() => server);
});
