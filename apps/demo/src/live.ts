/** The open WebSocket connections of one process, so that a shutdown can say goodbye (1001). */
import type { WebSocketConnection, WebSocketHandler } from '@anyws/core';

/** Tracks the connections of the handlers it wraps. */
export class LiveConnections {
  readonly #open = new Set<WebSocketConnection<unknown>>();

  /** How many are open. */
  get size(): number {
    return this.#open.size;
  }

  /** The same handler, with its connections tracked from open to close. */
  track<C>(handler: WebSocketHandler<C>): WebSocketHandler<C> {
    const add = (conn: WebSocketConnection<C>): void => {
      const entry = conn as WebSocketConnection<unknown>;
      this.#open.add(entry);
      void conn.whenClosed.then(() => this.#open.delete(entry));
    };
    const { open, session } = handler;
    if (session) {
      return {
        ...handler,
        session(conn) {
          add(conn);
          return session.call(handler, conn);
        },
      };
    }
    return {
      ...handler,
      open(conn) {
        add(conn);
        return open?.call(handler, conn);
      },
    };
  }

  /** Closes every open connection with `code`; resolves when they are closed or after `timeoutMs`. */
  async closeAll(code = 1001, reason = 'server shutting down', timeoutMs = 3000): Promise<void> {
    const closing = [...this.#open].map((conn) => conn.close(code, reason).catch(() => undefined));
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, timeoutMs);
    });
    await Promise.race([Promise.all(closing), timeout]);
    clearTimeout(timer);
  }
}
