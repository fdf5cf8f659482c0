/**
 * workerd upgrades requests it should refuse (a `Connection` without `upgrade`, a malformed
 * key, a wrong version): the adapter checks the handshake first, in a plain Worker and on the
 * way to a room. A POST with upgrade headers never reaches the Worker: workerd's HTTP layer
 * fails it with 500 ("WebSocket must be initiated with a GET request").
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawHandshake, rawRequest, upgradeHeaders } from './helpers/raw.js';
import { startWorkerd, type Workerd } from './helpers/workerd.js';

let workerd: Workerd;
beforeAll(async () => {
  workerd = await startWorkerd();
});
afterAll(() => workerd?.dispose());

const refusals: [what: string, change: Record<string, string>, method: string, status: number][] = [
  ['a POST (refused by workerd before the Worker runs)', {}, 'POST', 500],
  ['Connection without upgrade', { connection: 'keep-alive' }, 'GET', 426],
  ['no Upgrade: websocket', { upgrade: 'h2c' }, 'GET', 426],
  ['a version other than 13', { 'sec-websocket-version': '8' }, 'GET', 426],
  ['a malformed key', { 'sec-websocket-key': 'not-a-key' }, 'GET', 400],
];

for (const [form, path] of [
  ['plain Worker', '/plain/echo'],
  ['room', '/room/handshake/echo'],
  ['Hono, plain', '/hono/echo'],
  ['Hono, room', '/hono/room/handshake/echo'],
] as const) {
  describe(`handshake checks: ${form}`, () => {
    for (const [what, change, method, status] of refusals) {
      // Hono lets requests without `Upgrade: websocket` through to its other routes.
      if (form.startsWith('Hono') && change.upgrade) continue;
      it(`${what} → ${String(status)}`, async () => {
        const answer = await rawRequest(
          `${workerd.http}${path}`,
          { ...upgradeHeaders(), ...change },
          method,
        );
        expect(answer.status).toBe(status);
      });
    }
    it('a valid upgrade → 101', async () => {
      const client = await rawHandshake(`${workerd.ws}${path}`);
      client.socket.destroy();
    });
  });
}
