import { WebSocketError } from '../errors.js';
import type { WireIssue } from './schema.js';

/**
 * The codes of channel errors. Those marked "wire" travel in `error` frames; the others are
 * raised locally.
 *
 * - `bad_frame` (wire): a text that starts like an envelope (`{"v":`) but is not a valid one.
 * - `unsupported_version` (wire): an envelope of a version this end does not speak.
 * - `unknown_kind` (wire): a message kind the definition does not have.
 * - `invalid_data` (wire): the data (or a reply) failed its schema; `issues` say why.
 * - `forbidden` (wire): the server's `authorize` hook refused the join or publish.
 * - `not_joined` (local): the channel was left while its join waited.
 * - `no_handler` (wire): a request of a kind the other side has no handler (or no reply schema) for.
 * - `handler_error` (wire): the request handler threw something other than a `ChannelError`.
 * - `too_many_channels` (wire): a join past the server's `maxChannels` per connection.
 * - `not_envelope` (wire): a message that is not an envelope, where the server takes none.
 * - `history_unavailable` (wire): the channel's history could not be read or written.
 * - `timeout` (local): a request got no reply in time ({@link RequestTimeoutError}).
 * - `disconnected` (local): the connection ended while a request or join waited.
 */
export type ChannelErrorCode =
  | 'bad_frame'
  | 'unsupported_version'
  | 'unknown_kind'
  | 'invalid_data'
  | 'forbidden'
  | 'not_joined'
  | 'no_handler'
  | 'handler_error'
  | 'too_many_channels'
  | 'not_envelope'
  | 'history_unavailable'
  | 'timeout'
  | 'disconnected';

const WIRE_CODES: ReadonlySet<string> = new Set<ChannelErrorCode>([
  'bad_frame',
  'unsupported_version',
  'unknown_kind',
  'invalid_data',
  'forbidden',
  'no_handler',
  'handler_error',
  'too_many_channels',
  'not_envelope',
  'history_unavailable',
]);

/** Whether `code` is one that may travel in an `error` frame. */
export function isWireCode(code: unknown): code is ChannelErrorCode {
  return typeof code === 'string' && WIRE_CODES.has(code);
}

/**
 * A channel error: raised locally, or received from the peer in an `error` frame. A request
 * handler may throw one to answer with its code and message (other throws are answered with
 * `handler_error` and a generic message, so that internals do not leak).
 */
export class ChannelError extends WebSocketError {
  /** `'ChannelError'`. */
  override name = 'ChannelError';
  constructor(
    /** What went wrong, see {@link ChannelErrorCode}. */
    readonly code: ChannelErrorCode,
    message: string,
    /** Validation issues, with `invalid_data`. */
    readonly issues?: readonly WireIssue[],
    /** The channel concerned, if any. */
    readonly channel?: string,
  ) {
    super(message);
  }
}

/** A request got no reply within its timeout. The connection stays open; a late reply is dropped. */
export class RequestTimeoutError extends ChannelError {
  /** `'RequestTimeoutError'`. */
  override name = 'RequestTimeoutError';
  constructor(
    /** The kind requested. */
    readonly kind: string,
    /** The timeout that ran out, in ms. */
    readonly timeout: number,
  ) {
    super('timeout', `no reply to '${kind}' within ${String(timeout)} ms`);
  }
}
