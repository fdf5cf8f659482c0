/**
 * `reply`, or a rejection when it fails or takes longer than `ms`: node-redis's own command
 * timeout ends once a command is written, so a Redis that hangs with the socket open would
 * leave the caller waiting. A command that timed out may still run in Redis later.
 */
export function withDeadline<T>(
  reply: Promise<T>,
  ms: number,
  timedOut: () => Error,
  failed: (error: unknown) => Error,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(timedOut()), ms);
    reply.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(failed(error));
      },
    );
  });
}
