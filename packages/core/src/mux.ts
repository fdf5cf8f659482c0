import { readerHooks, type WebSocketConnection } from './connection.js';
import type { WebSocketHandler } from './handler.js';
import type { ControlMessage, DataMessage, WSMessage } from './message.js';
import { INTERNAL_ERROR, WSMsgType } from './protocol.js';

/**
 * One async stream of `[conn, message]` pairs from several connections. Each connection's
 * messages come in order; across connections, in the order they were ready while the stream
 * waited, so that a busy connection does not starve the others. It ends when the first of them
 * closes (after what arrived before the close).
 *
 * While the stream reads, it is each connection's one reader (`receive()` on one of them is a
 * `ConcurrentReceiveError`). When it ends, or the loop is left early, every connection is
 * released and a message it took but did not yield goes back to its connection.
 */
export async function* mux<C>(
  ...conns: WebSocketConnection<C>[]
): AsyncGenerator<
  [WebSocketConnection<C>, DataMessage | ControlMessage | WSMessage],
  void,
  undefined
> {
  if (conns.length === 0) return;
  type Conn = WebSocketConnection<C>;
  /** Delivered by a connection, not yet yielded: at most one per connection. */
  const ready: [Conn, WSMessage][] = [];
  const withdraw = new Map<Conn, () => void>();
  let wake: (() => void) | undefined;
  const listen = (conn: Conn): void => {
    let delivered = false;
    const cancel = readerHooks.listen(conn as WebSocketConnection<unknown>, (message) => {
      delivered = true;
      withdraw.delete(conn);
      ready.push([conn, message]);
      wake?.();
    });
    if (!delivered) withdraw.set(conn, cancel);
  };
  try {
    for (const conn of new Set(conns)) listen(conn);
    for (;;) {
      while (ready.length === 0) {
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
      }
      wake = undefined;
      const item = ready.shift()!;
      const type = item[1].type;
      if (type === WSMsgType.CLOSE || type === WSMsgType.CLOSING || type === WSMsgType.CLOSED)
        return;
      yield item;
      listen(item[0]);
    }
  } finally {
    for (const cancel of withdraw.values()) cancel();
    for (const [conn, message] of ready)
      readerHooks.unshift(conn as WebSocketConnection<unknown>, message);
  }
}

/** Options of {@link aggregate}. */
export interface AggregateOptions<C> {
  /** Handler for each connection until its group is complete (e.g. its `upgrade` hook and options). */
  base?: Omit<WebSocketHandler<C>, 'session' | 'open' | 'message'>;
}

/**
 * A handler that holds connections until `n` are there, then hands the group to `group`.
 * A connection that closes while waiting is dropped from the group. Messages that arrive
 * while waiting stay queued for the group's reader.
 */
export function aggregate<C>(
  n: number,
  group: (conns: WebSocketConnection<C>[]) => void | Promise<void>,
  options?: AggregateOptions<C>,
): WebSocketHandler<C> {
  if (!Number.isInteger(n) || n < 1)
    throw new RangeError('aggregate() needs a group size of at least 1');
  let waiting: WebSocketConnection<C>[] = [];
  return {
    ...options?.base,
    session: async (conn) => {
      waiting.push(conn);
      const members = waiting;
      void conn.whenClosed.then(() => {
        const i = members.indexOf(conn);
        if (i >= 0 && members === waiting) members.splice(i, 1);
      });
      if (waiting.length < n) {
        await conn.whenClosed;
        return;
      }
      waiting = [];
      try {
        await group(members);
      } catch (error) {
        // The group function is every member's session: its failure ends them all with 1011
        // (runHandler does it for this one and calls the error hook).
        for (const member of members) {
          if (member !== conn && !member.closed) {
            member.close(INTERNAL_ERROR, 'internal error').catch(() => undefined);
          }
        }
        throw error;
      }
      await Promise.all(members.map((member) => member.whenClosed));
    },
  };
}
