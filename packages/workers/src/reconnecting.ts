/** The reconnecting client on workerd (a Worker or a Durable Object): core's `ReconnectingClient` over this package's `connect`. */
import { ReconnectingClient as Client, type ReconnectingOptions } from '@anyws/core';
import { type ConnectOptions, connect } from './connect.js';

/**
 * Options of a {@link ReconnectingClient}: `connect`'s for every connection it opens
 * (`openTimeout` bounds each attempt; once `signal` has aborted the client ends), and its own
 * (`reconnect`, `maxQueuedMessages`, `maxQueuedBytes`, `checkTimeout`), as on every runtime.
 */
export interface ReconnectingClientOptions extends ConnectOptions, ReconnectingOptions {}

/**
 * A client that reconnects by itself (core's `ReconnectingClient`, where its behaviour is
 * documented): backoff with full jitter, close-code rules, sends queued while disconnected,
 * reading across reconnects, and with `new ChannelClient(options, client)` channels that join
 * again from their last position. workerd has no ping frames: the heartbeat (default 25 s +
 * 10 s) runs where the server agreed to the application-level one (an anyws server). A socket
 * belongs to the I/O context that opened it: keep the client inside the Durable Object (or the
 * request) that uses it.
 */
export class ReconnectingClient extends Client<ReconnectingClientOptions> {
  constructor(url: string | URL, options: ReconnectingClientOptions = {}) {
    super(url, options, { connect });
  }
}
