/**
 * @anyws/deno against the edges list in core (`@anyws/core/edges`): its exports play the roles
 * the list says, and its options types have exactly the names the list gives (checked by the
 * type check `deno test` runs).
 */
import {
  EDGES,
  type EdgeOptionName,
  edgeOf,
  type OptionsMatch,
  type Role,
} from '@anyws/core/edges';
import type * as Hono from '../src/hono.ts';
import * as hono from '../src/hono.ts';
import type * as Main from '../src/index.ts';
import * as main from '../src/index.ts';
import { assert, assertEquals, options } from './assert.ts';

/** Type level: each role's options type has exactly the names of the list. */
const optionNames: Record<Role, 'same'> = {
  serve: 'same' satisfies OptionsMatch<keyof Main.ServeOptions, EdgeOptionName<'serve', 'deno'>>,
  upgrade: 'same' satisfies OptionsMatch<
    keyof Main.UpgradeOptions,
    EdgeOptionName<'upgrade', 'deno'>
  >,
  hono: 'same' satisfies OptionsMatch<
    keyof NonNullable<Parameters<typeof Hono.upgradeWebSocket>[1]>,
    EdgeOptionName<'hono', 'deno'>
  >,
  connect: 'same' satisfies OptionsMatch<
    keyof Main.ConnectOptions,
    EdgeOptionName<'connect', 'deno'>
  >,
  reconnect: 'same' satisfies OptionsMatch<
    keyof Main.ReconnectingClientOptions,
    EdgeOptionName<'reconnect', 'deno'>
  >,
};

const modules: Record<string, Record<string, unknown>> = { '.': main, './hono': hono };

Deno.test({
  name: 'exports: every role the edges list gives Deno, from the entry point it names',
  ...options,
  fn() {
    for (const role of Object.keys(EDGES) as Role[]) {
      const edge = edgeOf(role, 'deno');
      if (!edge) continue;
      const module = modules[edge.module];
      assert(module !== undefined, `${role}: no entry point ${edge.module}`);
      for (const name of [edge.name, ...(edge.also ?? [])]) {
        assertEquals(typeof module[name], 'function', `${role}: ${edge.module} exports ${name}`);
      }
    }
    assertEquals(Object.values(optionNames).join(), 'same,same,same,same,same', 'option names');
  },
});
