import { describe, expect, it } from 'vitest';
import {
  DEFAULT_RECONNECT,
  NO_RECONNECT_CODES,
  type ReconnectPolicy,
  reconnectDelay,
} from '../src/reconnect/policy.js';

const never = (): number => 0;
const almostOne = (): number => 1 - Number.EPSILON;
const half = (): number => 0.5;

describe('reconnectDelay: the default policy', () => {
  it('has the documented numbers', () => {
    expect(DEFAULT_RECONNECT.minDelay).toBe(1000);
    expect(DEFAULT_RECONNECT.maxDelay).toBe(30_000);
    expect(DEFAULT_RECONNECT.factor).toBe(2);
    expect(DEFAULT_RECONNECT.maxRetries).toBe(Number.POSITIVE_INFINITY);
    expect(DEFAULT_RECONNECT.restartDelay).toEqual({ min: 5000, max: 30_000 });
    expect([...NO_RECONNECT_CODES].sort()).toEqual([1003, 1008, 1013]);
  });

  it('full jitter: attempt n waits in [0, min(30 s, 1 s · 2ⁿ))', () => {
    const ceilings = [1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000];
    ceilings.forEach((ceiling, attempt) => {
      expect(reconnectDelay(1006, '', attempt, DEFAULT_RECONNECT, never)).toBe(0);
      expect(reconnectDelay(1006, '', attempt, DEFAULT_RECONNECT, half)).toBe(ceiling / 2);
      const top = reconnectDelay(1006, '', attempt, DEFAULT_RECONNECT, almostOne) ?? Number.NaN;
      expect(top).toBeLessThan(ceiling);
      expect(top).toBeGreaterThan(ceiling - 1);
    });
    expect(reconnectDelay(1006, '', 1000, DEFAULT_RECONNECT, almostOne)).toBeLessThan(30_000);
  });

  it('with Math.random, 1,000 draws stay inside the bounds and spread over them', () => {
    const draws = Array.from({ length: 1000 }, () => reconnectDelay(1001, '', 3) as number);
    expect(Math.min(...draws)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...draws)).toBeLessThan(8000);
    expect(Math.min(...draws)).toBeLessThan(2000);
    expect(Math.max(...draws)).toBeGreaterThan(6000);
  });

  it('1012 SERVICE_RESTART waits a random 5–30 s, whatever the attempt', () => {
    expect(reconnectDelay(1012, '', 0, DEFAULT_RECONNECT, never)).toBe(5000);
    expect(reconnectDelay(1012, '', 0, DEFAULT_RECONNECT, half)).toBe(17_500);
    expect(reconnectDelay(1012, '', 0, DEFAULT_RECONNECT, almostOne)).toBeLessThanOrEqual(30_000);
    expect(reconnectDelay(1012, '', 0, DEFAULT_RECONNECT, almostOne)).toBeGreaterThan(29_999);
    for (let i = 0; i < 200; i++) {
      const delay = reconnectDelay(1012, 'restart', i % 5) as number;
      expect(delay).toBeGreaterThanOrEqual(5000);
      expect(delay).toBeLessThanOrEqual(30_000);
    }
  });

  it('1003, 1008 and 1013 do not reconnect', () => {
    for (const code of [1003, 1008, 1013])
      expect(reconnectDelay(code, '', 0, DEFAULT_RECONNECT, half)).toBeNull();
  });

  it('the other protocol codes reconnect with backoff', () => {
    for (const code of [1000, 1001, 1002, 1005, 1006, 1007, 1009, 1010, 1011, 1014, 1015]) {
      expect(reconnectDelay(code, '', 0, DEFAULT_RECONNECT, half)).toBe(500);
    }
  });

  it('application codes 3000–4999: no reconnect unless the policy says so', () => {
    for (const code of [3000, 3999, 4000, 4500, 4999])
      expect(reconnectDelay(code, 'x', 0, DEFAULT_RECONNECT, half)).toBeNull();
    const seen: [number, string][] = [];
    const policy: ReconnectPolicy = {
      ...DEFAULT_RECONNECT,
      shouldReconnect(code, reason) {
        seen.push([code, reason]);
        return code === 4001;
      },
    };
    expect(reconnectDelay(4001, 'moved', 0, policy, half)).toBe(500);
    expect(reconnectDelay(4002, 'banned', 0, policy, half)).toBeNull();
    expect(seen).toEqual([
      [4001, 'moved'],
      [4002, 'banned'],
    ]);
  });

  it('gives up after maxRetries failed attempts in a row', () => {
    const policy = { ...DEFAULT_RECONNECT, maxRetries: 3 };
    expect(reconnectDelay(1006, '', 2, policy, half)).toBe(2000);
    expect(reconnectDelay(1006, '', 3, policy, half)).toBeNull();
    expect(reconnectDelay(1012, '', 3, policy, half)).toBeNull();
    expect(reconnectDelay(1006, '', 0, { ...DEFAULT_RECONNECT, maxRetries: 0 }, half)).toBeNull();
  });

  it('minDelay, maxDelay and factor shape the ceiling', () => {
    const policy = { ...DEFAULT_RECONNECT, minDelay: 100, maxDelay: 1000, factor: 3 };
    expect([0, 1, 2, 3, 4].map((n) => reconnectDelay(1006, '', n, policy, half))).toEqual([
      50, 150, 450, 500, 500,
    ]);
    const short = { ...DEFAULT_RECONNECT, restartDelay: { min: 300, max: 400 } };
    expect(reconnectDelay(1012, '', 0, short, half)).toBe(350);
  });
});
