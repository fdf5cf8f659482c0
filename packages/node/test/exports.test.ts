/**
 * @anyws/node against the edges list in core (`@anyws/core/edges`): its exports play the roles
 * the list says, its options types have exactly the names the list gives (type-checked by
 * vitest within `pnpm test`, and by `pnpm typecheck`), and the root README's table is the one
 * rendered from the list.
 */
import { readFileSync } from 'node:fs';
import {
  EDGES,
  type EdgeOptionName,
  edgeOf,
  edgesTable,
  type OptionsMatch,
  type Role,
} from '@anyws/core/edges';
import { describe, expect, it } from 'vitest';
import type * as Hono from '../src/hono.js';
import * as hono from '../src/hono.js';
import type * as Main from '../src/index.js';
import * as main from '../src/index.js';

/** Type level: each role's options type has exactly the names of the list. */
const optionNames: Record<Role, 'same'> = {
  serve: 'same' satisfies OptionsMatch<keyof Main.ServeOptions, EdgeOptionName<'serve', 'node'>>,
  upgrade: 'same' satisfies OptionsMatch<
    keyof Main.AttachOptions,
    EdgeOptionName<'upgrade', 'node'>
  >,
  hono: 'same' satisfies OptionsMatch<
    keyof Hono.HonoUpgradeOptions,
    EdgeOptionName<'hono', 'node'>
  >,
  connect: 'same' satisfies OptionsMatch<
    keyof Main.ConnectOptions,
    EdgeOptionName<'connect', 'node'>
  >,
  reconnect: 'same' satisfies OptionsMatch<
    keyof Main.ReconnectingClientOptions,
    EdgeOptionName<'reconnect', 'node'>
  >,
};

const modules: Record<string, Record<string, unknown>> = { '.': main, './hono': hono };

describe('@anyws/node against the edges list', () => {
  it('exports every role the list gives it, from the entry point it names', () => {
    for (const role of Object.keys(EDGES) as Role[]) {
      const edge = edgeOf(role, 'node');
      if (!edge) continue;
      const module = modules[edge.module];
      expect(module, `${role}: no entry point ${edge.module}`).toBeDefined();
      for (const name of [edge.name, ...(edge.also ?? [])]) {
        expect(typeof module?.[name], `${role}: ${edge.module} exports no ${name}`).toBe(
          'function',
        );
      }
    }
    expect(Object.values(optionNames)).toEqual(['same', 'same', 'same', 'same', 'same']);
  });

  it("is what the root README's table says", () => {
    const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
    const table = /<!-- edges:start -->\n([\s\S]*?)\n<!-- edges:end -->/.exec(readme)?.[1];
    expect(table, 'README.md has no <!-- edges:start --> … <!-- edges:end --> block').toBeDefined();
    expect(table).toBe(edgesTable());
  });
});
