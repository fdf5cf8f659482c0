import type { WebSocketConnection } from './connection.js';
import type { WebSocketHandler } from './handler.js';
import type { ControlMessage, DataMessage, WSMessage } from './message.js';
import { WSMsgType } from './protocol.js';

/**
 * One async stream of `[conn, message]` pairs from several connections, in arrival order.
 * It ends when the first of them closes (after what arrived before the close).
 */
export async function* mux<C>(
  ...conns: WebSocketConnection<C>[]
): AsyncGenerator<[WebSocketConnection<C>, DataMessage | ControlMessage | WSMessage], void, undefined> {
  if (conns.length === 0) return;
  type Item = [WebSocketConnection<C>, WSMessage];
  const pending = new Map<WebSocketConnection<C>, Promise<Item>>();
  const pull = (conn: WebSocketConnection<C>): void => {
    pending.set(
      conn,
      conn.receive({ timeout: null }).then((message): Item => [conn, message]),
    );
  };
  for (const conn of conns) pull(conn);
  try {
    for (;;) {
      const [conn, message] = await Promise.race(pending.values());
      const type = message.type;
      if (type === WSMsgType.CLOSE || type === WSMsgType.CLOSING || type === WSMsgType.CLOSED) return;
      pull(conn);
      yield [conn, message];
    }
  } finally {
    // Readers still waiting on the other connections stay pending; they settle at close.
    for (const promise of pending.values()) promise.catch(() => undefined);
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
  if (!Number.isInteger(n) || n < 1) throw new RangeError('aggregate() needs a group size of at least 1');
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
      await group(members);
      await Promise.all(members.map((member) => member.whenClosed));
    },
  };
}
