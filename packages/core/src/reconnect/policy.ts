/**
 * When to reconnect, as a pure function of the close and the attempt count, so that its
 * numbers can be tested without a clock or a socket.
 */

/** How the reconnecting client waits between attempts. Every field has a default. */
export interface ReconnectPolicy {
  /**
   * Ceiling of the first wait, in ms. The wait before attempt `n` (0-based) is uniform in
   * `[0, min(maxDelay, minDelay · factorⁿ))`: exponential backoff with full jitter. Default 1,000.
   */
  minDelay: number;
  /** Largest ceiling, in ms. Default 30,000. */
  maxDelay: number;
  /** Growth of the ceiling per failed attempt. Default 2. */
  factor: number;
  /** Failed attempts in a row after which the client gives up. Default Infinity. */
  maxRetries: number;
  /** After 1012 (SERVICE_RESTART) the wait is uniform in `[min, max]` ms. Default 5,000–30,000. */
  restartDelay: { min: number; max: number };
  /**
   * Whether to reconnect after the server closed with an application code (3000–4999).
   * Default: never; those codes are the application's own decisions.
   */
  shouldReconnect(code: number, reason: string): boolean;
}

/** The default policy. */
export const DEFAULT_RECONNECT: Readonly<ReconnectPolicy> = Object.freeze({
  minDelay: 1000,
  maxDelay: 30_000,
  factor: 2,
  maxRetries: Number.POSITIVE_INFINITY,
  restartDelay: Object.freeze({ min: 5000, max: 30_000 }),
  shouldReconnect: () => false,
});

/**
 * Close codes after which the client does not reconnect on its own: 1003 (UNSUPPORTED_DATA)
 * and 1008 (POLICY_VIOLATION) would only happen again, and 1013 (TRY_AGAIN_LATER) leaves
 * the "later" to the application.
 */
export const NO_RECONNECT_CODES: readonly number[] = Object.freeze([1003, 1008, 1013]);

/**
 * The wait in ms before the next attempt, or null to give up.
 *
 * @param code the close code of the connection that ended (1006 for a failed attempt)
 * @param attempt failed attempts in a row since the last open connection (0 after a drop)
 * @param random a source of numbers in [0, 1)
 */
export function reconnectDelay(
  code: number,
  reason: string,
  attempt: number,
  policy: ReconnectPolicy = DEFAULT_RECONNECT,
  random: () => number = Math.random,
): number | null {
  if (attempt >= policy.maxRetries || NO_RECONNECT_CODES.includes(code)) return null;
  if (code >= 3000 && code <= 4999 && !policy.shouldReconnect(code, reason)) return null;
  if (code === 1012) {
    const { min, max } = policy.restartDelay;
    return min + random() * (max - min);
  }
  return random() * Math.min(policy.maxDelay, policy.minDelay * policy.factor ** attempt);
}
