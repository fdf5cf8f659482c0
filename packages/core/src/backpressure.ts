/**
 * Send admission and backpressure: whether a send may go (the bound on buffered outgoing
 * bytes, `maxBufferedAmount`), and whether its promise resolves at once or waits for the
 * runtime to drain below `highWaterMark`. Awaiting sends is how an application slows down to
 * its peer's pace. Package-internal.
 *
 * Where the runtime reports no buffered amount (workerd) there is nothing to bound nor to wait
 * for: sends resolve at once, and `assertSupported` refuses a `maxBufferedAmount` there.
 */
import { BufferOverflowError } from './errors.js';
import type { ResolvedOptions } from './options.js';
import { utf8ByteLength } from './protocol.js';
import type { Transport } from './transport.js';

/** `admit`'s answer for a transport without backpressure. */
export const NO_BACKPRESSURE = -1;
/** The longest header of a frame: 2 bytes, 8 of extended length, 4 of mask. */
const MAX_FRAME_HEADER = 14;

/** A send that waits for the buffer to drain. */
export interface DrainWaiter {
  resolve: () => void;
  reject: (error: Error) => void;
}

/**
 * May a send of `size` bytes (`text` when it is text: `size` is then its length in UTF-16
 * units) go? Returns the buffered amount before the send, `NO_BACKPRESSURE`, or the
 * `BufferOverflowError` when the send would take the buffer past `maxBufferedAmount`.
 */
export function admit(
  t: Transport,
  options: ResolvedOptions,
  size: number,
  text: string | undefined,
): number | BufferOverflowError {
  if (!t.capabilities.backpressure) return NO_BACKPRESSURE;
  const buffered = t.bufferedAmount;
  const limit = options.maxBufferedAmount;
  // Runtimes buffer text as UTF-8 (up to 3 bytes a unit): counted exactly only near the bound.
  const bytes = text !== undefined && buffered + size * 3 > limit ? utf8ByteLength(text) : size;
  if (buffered + bytes <= limit) return buffered;
  return new BufferOverflowError(buffered + bytes, limit);
}

/**
 * Whether the send's promise must wait for a drain: the buffer is above `highWaterMark` after
 * the send. `before` is `admit`'s answer, `maxBytes` the most the payload can add.
 */
export function mustWait(
  t: Transport,
  options: ResolvedOptions,
  before: number,
  maxBytes: number,
): boolean {
  if (before === NO_BACKPRESSURE) return false;
  const mark = options.highWaterMark;
  // Clearly under the mark even with the frame's header, the buffer is not read again (a sum of
  // queues on ws, a runtime call on Deno).
  return before + maxBytes + MAX_FRAME_HEADER > mark && t.bufferedAmount > mark;
}

/**
 * The runtime drained: resolves every waiting send once the buffer is at or below
 * `highWaterMark`. Returns the waiters still waiting (the same list, or a fresh empty one).
 */
export function releaseDrained(
  waiters: DrainWaiter[] | null,
  t: Transport,
  options: ResolvedOptions,
): DrainWaiter[] | null {
  if (waiters === null || waiters.length === 0 || t.bufferedAmount > options.highWaterMark) {
    return waiters;
  }
  for (const waiter of waiters) waiter.resolve();
  return [];
}
