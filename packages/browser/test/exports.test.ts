/**
 * @anyws/browser against the edges list in core (`@anyws/core/edges`): its exports play the
 * client role the list says (the only role a page has), and `connect`'s options type has
 * exactly the names the list gives (type-checked by vitest within `pnpm test`, and by
 * `pnpm typecheck`).
 */
import {
  EDGES,
  type EdgeOptionName,
  edgeOf,
  type OptionsMatch,
  type Role,
} from '@anyws/core/edges';
import { describe, expect, it } from 'vitest';
import type * as Main from '../src/index.js';
import * as main from '../src/index.js';

/** Type level: the clients' options have exactly the names of the list (no `headers` in a page). */
const optionNames: Record<'connect' | 'reconnect', 'same'> = {
  connect: 'same' satisfies OptionsMatch<
    keyof Main.ConnectOptions,
    EdgeOptionName<'connect', 'browser'>
  >,
  reconnect: 'same' satisfies OptionsMatch<
    keyof Main.ReconnectingClientOptions,
    EdgeOptionName<'reconnect', 'browser'>
  >,
};

describe('@anyws/browser against the edges list', () => {
  it('exports the client roles, and no other role exists in a page', () => {
    const module: Record<string, unknown> = main;
    for (const role of Object.keys(EDGES) as Role[]) {
      const edge = edgeOf(role, 'browser');
      if (role !== 'connect' && role !== 'reconnect') {
        expect(edge, `${role} in a page`).toBeUndefined();
        continue;
      }
      for (const name of [edge?.name ?? '', ...(edge?.also ?? [])]) {
        expect(typeof module[name], `${role}: exports ${name}`).toBe('function');
      }
    }
    expect(Object.values(optionNames)).toEqual(['same', 'same']);
  });
});
