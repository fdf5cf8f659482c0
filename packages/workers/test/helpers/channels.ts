/** What the channels tests in workerd share: waiting for a condition, and reading the wire. */
import type { WebSocketConnection } from '@anyws/core';

/** Checks `condition` every 10 ms until it holds; fails after `ms`. */
export async function until(
  condition: () => boolean | Promise<boolean>,
  what: string,
  ms = 10_000,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Offsets of the `pub` frames a connection received, as they came on the wire. */
export function wireOffsets(conn: WebSocketConnection<unknown>): number[] {
  const offsets: number[] = [];
  conn.on('message', (message) => {
    if (message.type === 0x1 && message.data.startsWith('{"v":1,"t":"pub"'))
      offsets.push((JSON.parse(message.data) as { offset: number }).offset);
  });
  return offsets;
}

/** The integers `from` to `to`. */
export const range = (from: number, to: number): number[] =>
  Array.from({ length: to - from + 1 }, (_, i) => from + i);
