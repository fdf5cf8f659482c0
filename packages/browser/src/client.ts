/**
 * The browser's reconnecting client: core's `ReconnectingClient` over `connect`, plus what only
 * a page has: the `online`/`offline` events, a tab coming back to the foreground, and the
 * socket's own `readyState` (a socket that is closing drops sends while core still sees it open).
 */
import {
  ReconnectingClient as Client,
  type LinkSignals,
  type ReconnectingOptions,
} from '@anyws/core';
import { type ConnectOptions, open } from './transport.js';

export {
  type ClientEvents,
  type ClientState,
  QueueFullError,
  type ReconnectingOptions,
} from '@anyws/core';

/**
 * Options of a {@link ReconnectingClient}: those of every connection it opens (`connect`'s:
 * `openTimeout` bounds each attempt; once `signal` has aborted no further attempt is made and
 * the client ends), and its own (`reconnect`, `maxQueuedMessages`, `maxQueuedBytes`,
 * `checkTimeout`), as on every runtime.
 */
export interface ReconnectingClientOptions extends ConnectOptions, ReconnectingOptions {}
/** The former name of {@link ReconnectingClientOptions}. */
export type ClientOptions = ReconnectingClientOptions;

/** Follows the page's network and visibility events (workers have no document). */
function watch(link: LinkSignals): () => void {
  const visible = (): void => {
    if (document.visibilityState === 'visible') link.check();
  };
  const listen = (method: 'addEventListener' | 'removeEventListener'): void => {
    // Events only: `navigator.onLine` lies in some containers.
    globalThis[method]('online', link.online);
    globalThis[method]('offline', link.offline);
    globalThis.document?.[method]('visibilitychange', visible);
  };
  listen('addEventListener');
  return () => listen('removeEventListener');
}

/**
 * A client that reconnects (core's `ReconnectingClient`, see there): backoff with full jitter,
 * close-code rules, sends queued while disconnected, reading across reconnects. In a page it
 * also follows the network: `online` retries at once; `offline` and a tab coming back to the
 * foreground check the link with a ping. A page has no ping frames, so the heartbeat (default
 * 25 s + 10 s) and those checks run only where the server agreed to the application-level
 * heartbeat (an anyws server, see `HEARTBEAT_PROTOCOL`): against another server nothing is sent
 * and a quiet connection is never taken for dead.
 */
export class ReconnectingClient extends Client<ReconnectingClientOptions> {
  constructor(url: string | URL, options: ReconnectingClientOptions = {}) {
    let socket: WebSocket | undefined;
    super(url, options, {
      connect: (target, o) =>
        open(target, o).then(([conn, ws]) => {
          socket = ws;
          return conn;
        }),
      watch,
      writable: () => socket?.readyState === 1,
    });
  }
}
