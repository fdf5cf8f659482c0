/** Assertions for the Deno tests (no jsr: std here), and the test options they share. */

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
