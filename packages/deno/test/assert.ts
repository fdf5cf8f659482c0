/**
 * Assertions for the Deno tests (no jsr: std here), the test options they share, and a bounded
 * wait for a condition.
 */

/** Servers and sockets outlive single tests by design: Deno's sanitizers are off. */
export const options = { sanitizeOps: false, sanitizeResources: false };

export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(message);
}

export function assertEquals(actual: unknown, expected: unknown, what: string): void {
  if (!Object.is(actual, expected)) {
    throw new Error(`${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
  }
}

/** Checks `condition` every 5 ms until it holds; fails after `ms`. */
export async function until(condition: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
