import { describe, expect, it } from 'vitest';
import {
  CONNECTION_OPTIONS,
  EDGES,
  edgeOf,
  edgeOptions,
  RECONNECTING_OPTIONS,
} from '../src/edges.js';
import { type ConnectionOptions, DEFAULT_OPTIONS } from '../src/options.js';
import type { ReconnectingOptions } from '../src/reconnect/client.js';

type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;

// The root README's table is held against this list by @anyws/node's test/edges.test.ts.
describe('the edges list', () => {
  it('names every ConnectionOptions field, and only those', () => {
    // Type level: `pnpm typecheck` fails when a field is added to or removed from one side only.
    const same: Same<keyof ConnectionOptions, (typeof CONNECTION_OPTIONS)[number]> = true;
    expect(same).toBe(true);
    // Runtime level: every option has a default.
    expect([...CONNECTION_OPTIONS].sort()).toEqual(Object.keys(DEFAULT_OPTIONS).sort());
  });

  it("names every field of the reconnecting client's own options, and only those", () => {
    const same: Same<keyof ReconnectingOptions, (typeof RECONNECTING_OPTIONS)[number]> = true;
    expect(same).toBe(true);
    // Every runtime has the role, under the same name, with its connect's own options.
    for (const runtime of ['node', 'deno', 'workers', 'browser'] as const) {
      expect(edgeOf('reconnect', runtime)?.name).toBe('ReconnectingClient');
      expect(edgeOptions('reconnect', runtime)).toEqual(
        expect.arrayContaining([...edgeOptions('connect', runtime), ...RECONNECTING_OPTIONS]),
      );
    }
  });

  it('gives each runtime the common options minus what it lacks, plus its own', () => {
    expect(edgeOptions('connect', 'browser')).not.toContain('headers');
    expect(edgeOptions('connect', 'node')).toEqual(
      expect.arrayContaining(['headers', 'openTimeout', 'signal', 'protocols', 'coalesce']),
    );
    expect(edgeOf('serve', 'workers')).toBeUndefined();
    expect(edgeOptions('serve', 'browser')).toEqual([]);
    for (const role of Object.keys(EDGES) as (keyof typeof EDGES)[]) {
      for (const runtime of ['node', 'deno', 'workers', 'browser'] as const) {
        const names = edgeOptions(role, runtime);
        expect(new Set(names).size, `${role} on ${runtime}: an option listed twice`).toBe(
          names.length,
        );
      }
    }
  });
});
