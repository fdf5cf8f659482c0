/**
 * @anyws/workers against the edges list in core (`@anyws/core/edges`): its exports, loaded in
 * real workerd, play the roles the list says, and its options types have exactly the names the
 * list gives (type-checked by vitest within `pnpm test`, and by `pnpm typecheck`).
 */
import {
  EDGES,
  type EdgeOptionName,
  edgeOf,
  type OptionsMatch,
  type Role,
} from '@anyws/core/edges';
import type { Miniflare } from 'miniflare';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type * as Main from '../src/index.js';
import { startClientWorkerd } from './helpers/client-workerd.js';

/** Type level: each role's options type has exactly the names of the list (no `serve` here). */
const optionNames: Record<Exclude<Role, 'serve'>, 'same'> = {
  upgrade: 'same' satisfies OptionsMatch<
    keyof Main.UpgradeOptions,
    EdgeOptionName<'upgrade', 'workers'>
  >,
  // `upgradeWebSocket(handler, options)` takes the same `UpgradeOptions` (its other overload a room route).
  hono: 'same' satisfies OptionsMatch<keyof Main.UpgradeOptions, EdgeOptionName<'hono', 'workers'>>,
  connect: 'same' satisfies OptionsMatch<
    keyof Main.ConnectOptions,
    EdgeOptionName<'connect', 'workers'>
  >,
  reconnect: 'same' satisfies OptionsMatch<
    keyof Main.ReconnectingClientOptions,
    EdgeOptionName<'reconnect', 'workers'>
  >,
};

let mf: Miniflare;
beforeAll(async () => {
  mf = await startClientWorkerd();
});
afterAll(async () => {
  await mf?.dispose();
});

describe('@anyws/workers against the edges list', () => {
  it('exports every role the list gives it, from the entry point it names, in workerd', async () => {
    const exported = (await (await mf.dispatchFetch('http://worker/exports')).json()) as Record<
      string,
      Record<string, string>
    >;
    for (const role of Object.keys(EDGES) as Role[]) {
      const edge = edgeOf(role, 'workers');
      if (!edge) continue;
      for (const name of [edge.name, ...(edge.also ?? [])]) {
        expect(exported[edge.module]?.[name], `${role}: ${edge.module} exports ${name}`).toBe(
          'function',
        );
      }
    }
    expect(edgeOf('serve', 'workers')).toBeUndefined();
    expect(Object.values(optionNames)).toEqual(['same', 'same', 'same', 'same']);
  });
});
