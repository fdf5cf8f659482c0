/** What the channels tests in workerd share: waiting for a condition, a range of offsets. */
import { until as waitUntil } from '@anyws/core/contract';

/** The contract's `until`, checking every 10 ms (some conditions ask a Worker); fails after `ms`. */
export function until(
  condition: () => boolean | Promise<boolean>,
  what: string,
  ms = 10_000,
): Promise<void> {
  return waitUntil(condition, what, ms, 10);
}

/** The integers `from` to `to`. */
export const range = (from: number, to: number): number[] =>
  Array.from({ length: to - from + 1 }, (_, i) => from + i);
