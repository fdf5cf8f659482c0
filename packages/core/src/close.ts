/**
 * The rules of the closing handshake, as the connection applies them: which close codes from
 * the peer are a protocol error, how this end's code goes on the wire, and which code and
 * reason a closed connection reports. Package-internal.
 *
 * ## closeCode and closeReason
 *
 * - The peer closed, or answered this end's close: the peer's code and reason (1005 when its
 *   frame had no body).
 * - This end failed the connection (anyws found a fault: 1002, 1007, 1008, 1009; a handler
 *   failed: 1011; or the application closed first with one of these codes): this end's code
 *   and reason, whatever the peer answers or if it does not. A peer's echo says nothing about
 *   why the connection ended, and runtimes differ in what they let the answer carry. Where
 *   the runtime failed the connection itself (ws, Deno) and sent its frame without a reason,
 *   the reason is the fault's standard one ({@link failureReason}), the same on every runtime.
 * - No close frame came and this end gave up (`terminate()`, the close timeout, a dead peer):
 *   1006 and ''.
 */
import { ProtocolError } from './errors.js';
import {
  INTERNAL_ERROR,
  INVALID_TEXT,
  isValidReceivedCloseCode,
  MESSAGE_TOO_BIG,
  NO_STATUS,
  OK,
  POLICY_VIOLATION,
  PROTOCOL_ERROR,
} from './protocol.js';
import type { TransportCapabilities } from './transport.js';

/** A close code with its reason. */
export interface CloseEnd {
  readonly code: number;
  readonly reason: string;
}

/** The codes by which an end fails a connection, rather than ends it normally. */
export function isFailureCode(code: number): boolean {
  return (
    code === PROTOCOL_ERROR ||
    code === INVALID_TEXT ||
    code === POLICY_VIOLATION ||
    code === MESSAGE_TOO_BIG ||
    code === INTERNAL_ERROR
  );
}

/** The reason anyws gives for failing a connection with `code`, on every runtime. */
export function failureReason(code: number): string {
  switch (code) {
    case PROTOCOL_ERROR:
      return 'protocol error';
    case INVALID_TEXT:
      return 'invalid payload data';
    case POLICY_VIOLATION:
      return 'policy violation';
    case MESSAGE_TOO_BIG:
      return 'message too big';
    case INTERNAL_ERROR:
      return 'internal error';
    default:
      return '';
  }
}

/** True when the peer's close `code` needs no 1002 from this end (the runtime checked it, or it is valid). */
export function acceptableCloseCode(capabilities: TransportCapabilities, code: number): boolean {
  return capabilities.validatesCloseCodes || isValidReceivedCloseCode(code);
}

/** The error a peer's invalid close code is reported with. */
export function invalidCloseError(code: number): ProtocolError {
  return new ProtocolError(PROTOCOL_ERROR, `the peer sent an invalid close code ${code}`);
}

/**
 * How this end's close goes on the wire: the code to hand the transport (undefined: a frame
 * without a body), and, when that is not `code`, the code the peer's echo will carry instead
 * (1005), which the connection reports as `code`.
 */
export function wireClose(
  capabilities: TransportCapabilities,
  code: number,
): [wire: number | undefined, echo: number | null] {
  if (code === NO_STATUS) return [undefined, null];
  if (capabilities.restrictedCloseCodes && code !== OK && (code < 3000 || code > 4999)) {
    // The runtime cannot send this code (browsers): the frame goes without a body.
    return [undefined, NO_STATUS];
  }
  return [code, null];
}
