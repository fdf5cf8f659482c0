/**
 * The one module that reads ws's private state: it recognises the ws it runs on (the newest
 * and the oldest of the package's range, see vitest.config.ts), names what a ws without that
 * state lacks, warns once, and is the only file of src that reads such a field.
 */

import { EventEmitter } from 'node:events';
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import WebSocket, * as wsModule from 'ws';
import { checkWsShape, decideInternals, type WsClasses, wsInternals } from '../src/ws-internals.js';

const require = createRequire(import.meta.url);
/** The ws package this run is on: `ws` (newest of the range) or `ws-oldest`. */
const under = process.env.ANYWS_TEST_WS ?? 'ws';
const real: WsClasses = {
  WebSocket: WebSocket as unknown as WsClasses['WebSocket'],
  Sender: (wsModule as unknown as WsClasses).Sender,
  Receiver: (wsModule as unknown as WsClasses).Receiver,
};

describe('ws internals', () => {
  it(`runs on ${under} and reads its internals`, () => {
    const { version, range } = {
      version: (require(`${under}/package.json`) as { version: string }).version,
      range: (require('../package.json') as { dependencies: Record<string, string> }).dependencies
        .ws,
    };
    // The ws that src imports is the one this project names.
    expect(WebSocket).toBe(require(under));
    if (under === 'ws-oldest') {
      // The oldest version of the range is the one tested here.
      expect(`^${version}`).toBe(range);
    }
    expect(version.startsWith('8.')).toBe(true);
    expect(checkWsShape(real)).toBeUndefined();
    expect(wsInternals).toEqual({ active: true, reason: undefined });
  });

  it('names what a ws without the expected shape lacks, and warns once', () => {
    class Bare extends EventEmitter {}
    expect(checkWsShape({ WebSocket: Bare as unknown as WsClasses['WebSocket'] })).toBe(
      'WebSocket has no _socket',
    );
    expect(checkWsShape({ ...real, Sender: class {} })).toBe('Sender has no _queue or _state');
    expect(checkWsShape({ ...real, Receiver: undefined })).toBe('ws exports no Sender or Receiver');
    const warnings: string[] = [];
    const decided = decideInternals(undefined, { ...real, Sender: class {} }, (message) =>
      warnings.push(message),
    );
    expect(decided).toEqual({ active: false, reason: 'Sender has no _queue or _state' });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain("using ws's public API only");
    // Turned off on purpose: nothing to warn about.
    expect(decideInternals('off', real, (message) => warnings.push(message))).toEqual({
      active: false,
      reason: 'ANYWS_WS_INTERNALS=off',
    });
    expect(decideInternals(undefined, real, (message) => warnings.push(message)).active).toBe(true);
    expect(warnings).toHaveLength(1);
  });

  it('is the only file of src that reads ws private fields', () => {
    const dir = join(import.meta.dirname, '../src');
    const readers = readdirSync(dir).filter((name) =>
      /\._(socket|sender|receiver|extensions)\b/.test(readFileSync(join(dir, name), 'utf8')),
    );
    expect(readers).toEqual(['ws-internals.ts']);
  });
});
