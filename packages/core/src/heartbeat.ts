/**
 * The application-level heartbeat, for runtimes without ping frames (browsers, Deno's
 * client, workerd). Its wire form is two fixed text messages, so that a Durable Object's
 * `setWebSocketAutoResponse` can answer it while the object sleeps:
 *
 * - ping: the text `"\u0000anyws:ping"` (a NUL byte, then `anyws:ping`);
 * - pong: the text `"\u0000anyws:pong"`.
 *
 * Every anyws end answers the ping (with `autoping`) and never hands either one to the
 * application; with `autoping: false` they surface as PING and PONG messages with no data.
 * An application text message equal to one of them is taken for the heartbeat.
 */
/** The subprotocol token by which a client offers the application-level heartbeat. */
export const HEARTBEAT_PROTOCOL = 'anyws.heartbeat';
export const APP_PING = '\u0000anyws:ping';
/** The answer to {@link APP_PING}. */
export const APP_PONG = '\u0000anyws:pong';
