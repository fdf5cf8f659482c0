/** A bounded wait for a condition, for the tests of every package (no fixed sleeps). */

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
