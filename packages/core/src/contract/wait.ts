/** Bounded waits for the tests of every package: a condition, a value settling (no fixed sleeps). */

/**
 * Resolves once `predicate` holds, polled every `every` ms (default 5); rejects after `ms`
 * (default 10 s) with an error naming `what`.
 */
export async function until(
  predicate: () => boolean | Promise<boolean>,
  what: string,
  ms = 10_000,
  every = 5,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`${what}: not reached in ${String(ms)} ms`);
    await new Promise((resolve) => setTimeout(resolve, every));
  }
}

/**
 * Reads `read()` until it equals `expected` (compared as JSON), every 10 ms for at most ~5 s, and
 * returns the last value read: the caller asserts on it, so a mismatch shows what was there.
 */
export async function settle<T>(read: () => T, expected: T): Promise<T> {
  let value = read();
  for (let i = 0; i < 500 && JSON.stringify(value) !== JSON.stringify(expected); i++) {
    await new Promise((resolve) => setTimeout(resolve, 10));
    value = read();
  }
  return value;
}
