/**
 * The contract suite: one list of cases that every adapter runs in its own real runtime.
 * Framework-free: a runner maps each case to its test function (vitest `it`, `Deno.test`, …)
 * and skips, visibly, the cases whose declared capabilities the runtime lacks.
 */
import type { WebSocketConnection } from '../connection.js';
import { HandshakeError } from '../errors.js';
import { APP_PING, APP_PONG, HEARTBEAT_PROTOCOL } from '../heartbeat.js';
import type { WSMessage } from '../message.js';
import type { ConnectionOptions } from '../options.js';
import { WSMsgType } from '../protocol.js';
import type { TransportCapabilities } from '../transport.js';
import { REPORT_TOPIC } from './routes.js';
import {
  type RawHandshakeRequest,
  type RawHandshakeResponse,
  upgradeCases,
} from './upgrade-cases.js';

/** What a runtime can do, as the suite needs to know it. */
export interface ContractCapabilities {
  /** Capabilities of the server's transport. */
  server: TransportCapabilities;
  /** Capabilities of the client's transport. */
  client: TransportCapabilities;
  /** A failed handshake's HTTP status reaches the client (browsers hide it). */
  handshakeStatus: boolean;
  /** The target offers `silentServerUrl` (a server that completes the handshake, then never reads). */
  silentServer: boolean;
  /** The target offers `openSilentClient` (a client that completes the handshake, then never reads). */
  silentClient: boolean;
  /**
   * The server answers the heartbeat's ping text for every client by the runtime's
   * auto-response, before anyws sees it (a Durable Object). Optional: left out means false.
   */
  autoResponse?: boolean;
  /**
   * The silent client offers `HEARTBEAT_PROTOCOL`, as a client without ping frames does, so a
   * server without ping frames runs its heartbeat against it. Optional: left out means false.
   */
  silentClientOffersHeartbeat?: boolean;
  /**
   * The silent server says the heartbeat's hello first (an anyws server that then stops), so
   * a client without ping frames runs its heartbeat against it. Optional: left out means false.
   */
  silentServerAgreesHeartbeat?: boolean;
  /** The target offers `handshake` (hand-written upgrade requests). Optional: left out means false. */
  rawHandshake?: boolean;
  /**
   * The runtime answers an upgrade request whose method is not GET by itself, before anyws
   * sees it (workerd: 500, "WebSocket must be initiated with a GET request"). Optional: false.
   */
  runtimeRefusesNonGetUpgrade?: boolean;
}

/** A running server with `contractRoutes` and the client of one runtime. */
export interface ContractTarget {
  /** `ws://host:port` (or a prefix path) under which route `name` is served at `/${name}`. */
  baseUrl: string;
  /** Opens a client connection with the runtime's client. Rejects with `HandshakeError` on refusal. */
  connect(url: string, options?: ConnectionOptions): Promise<WebSocketConnection<unknown>>;
  /** A server that completes the handshake, then never reads nor answers. */
  silentServerUrl?: string;
  /** Opens a client that completes the handshake at `url`, then never reads nor answers. */
  openSilentClient?(url: string): Promise<{ close(): void }>;
  /**
   * Sends `request` (method and exactly these headers, plus Host) to `url` over raw HTTP/1.1
   * and resolves with the answer's status and headers, closing the socket after the head.
   */
  handshake?(url: string, request: RawHandshakeRequest): Promise<RawHandshakeResponse>;
}

/** One case of the suite. */
export interface ContractCase {
  /** What it proves; the test's name. */
  name: string;
  /** Why the case cannot run with these capabilities, or null when it can. */
  skip(capabilities: ContractCapabilities): string | null;
  /** Runs the case against a target; throws `ContractAssertionError` when it fails. */
  run(target: ContractTarget): Promise<void>;
}

/** A test registration function, as a runner provides it. */
export type RegisterTest = (
  name: string,
  run: () => Promise<void>,
  skipReason: string | null,
) => void;

/** Registers every case with `register`; skipped ones carry their reason in the name. */
export function registerContractSuite(
  register: RegisterTest,
  capabilities: ContractCapabilities,
  target: () => ContractTarget,
): void {
  for (const c of contractCases) {
    const reason = c.skip(capabilities);
    register(reason ? `${c.name} [skipped: ${reason}]` : c.name, () => c.run(target()), reason);
  }
}

// ---- assertions (no dependency: core runs everywhere) ----------------------------------

/** The error a failed contract assertion throws. */
export class ContractAssertionError extends Error {
  /** `'ContractAssertionError'`. */
  override name = 'ContractAssertionError';
}

function fail(message: string): never {
  throw new ContractAssertionError(message);
}
function ok(condition: unknown, message: string): asserts condition {
  if (!condition) fail(message);
}
function show(value: unknown): string {
  if (value instanceof Uint8Array) return `Uint8Array(${String(value.byteLength)})`;
  if (typeof value === 'string' && value.length > 80) return `string(${String(value.length)})`;
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
function equal(actual: unknown, expected: unknown, what: string): void {
  if (actual instanceof Uint8Array && expected instanceof Uint8Array) {
    ok(
      actual.byteLength === expected.byteLength && actual.every((b, i) => b === expected[i]),
      `${what}: bytes differ (${show(actual)} vs ${show(expected)})`,
    );
    return;
  }
  if (!Object.is(actual, expected))
    fail(`${what}: expected ${show(expected)}, got ${show(actual)}`);
}
async function rejects(promise: Promise<unknown>, errorName: string, what: string): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    ok(error instanceof Error, `${what}: rejected with a non-Error ${show(error)}`);
    equal(error.name, errorName, `${what}: error name`);
    return error;
  }
  return fail(`${what}: expected a rejection with ${errorName}`);
}
function throws(fn: () => unknown, errorName: string, what: string): void {
  try {
    fn();
  } catch (error) {
    ok(error instanceof Error, `${what}: threw a non-Error`);
    equal(error.name, errorName, `${what}: error name`);
    return;
  }
  fail(`${what}: expected ${errorName} to be thrown`);
}

// ---- helpers ---------------------------------------------------------------------------

const TIMEOUT = 5000;

async function open(target: ContractTarget, route: string, options?: ConnectionOptions) {
  return target.connect(`${target.baseUrl}/${route}`, options);
}
async function next(conn: WebSocketConnection<unknown>, timeout = TIMEOUT): Promise<WSMessage> {
  return conn.receive({ timeout });
}
async function nextText(conn: WebSocketConnection<unknown>, timeout = TIMEOUT): Promise<string> {
  return conn.receiveText({ timeout });
}
/** Sends and expects the same back, of the same type. */
async function roundTrip(
  conn: WebSocketConnection<unknown>,
  data: string | Uint8Array,
): Promise<void> {
  await conn.send(data);
  const message = await next(conn);
  equal(message.type, typeof data === 'string' ? WSMsgType.TEXT : WSMsgType.BINARY, 'echoed type');
  equal(message.data, data, 'echoed data');
}
/** An observer connection: reports from the report routes arrive on it. */
async function observer(target: ContractTarget) {
  const conn = await open(target, 'observe');
  equal(await nextText(conn), 'ready', 'observer ready');
  return {
    async report(route: string, timeout = TIMEOUT): Promise<Record<string, unknown>> {
      for (;;) {
        const value = JSON.parse(await nextText(conn, timeout)) as Record<string, unknown>;
        if (value.route === route) return value;
      }
    },
    close: () => conn.close(),
  };
}
async function closeAll(...conns: WebSocketConnection<unknown>[]): Promise<void> {
  await Promise.all(conns.map((c) => (c.state === 'open' ? c.close() : c.whenClosed)));
}

function bytes(length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (i * 31 + 7) & 0xff;
  return out;
}

const always = (): null => null;
/** A server without ping frames pings only a client that offered the heartbeat token. */
const serverCanPing = (c: ContractCapabilities): boolean =>
  c.server.pingFrames || !c.client.pingFrames;
const SERVER_CANNOT_PING =
  'the server has no ping frames and this client (it has them) does not offer the heartbeat token';
const needs =
  (...checks: [boolean | ((c: ContractCapabilities) => boolean), string][]) =>
  (c: ContractCapabilities): string | null => {
    for (const [check, reason] of checks) {
      if (!(typeof check === 'function' ? check(c) : check)) return reason;
    }
    return null;
  };

// ---- the cases -------------------------------------------------------------------------

/** Every case of the contract, in order. */
export const contractCases: ContractCase[] = [
  {
    name: 'text echo: empty, 1 byte, non-ASCII, 1 MiB',
    skip: always,
    async run(t) {
      const conn = await open(t, 'echo');
      for (const text of ['', 'a', 'héllo wörld ✓ 日本語 🎉', 'x'.repeat(1024 * 1024)])
        await roundTrip(conn, text);
      await conn.close();
      equal(conn.closeCode, 1000, 'closeCode');
    },
  },
  {
    name: 'binary echo: empty, 1 byte, 1 MiB',
    skip: always,
    async run(t) {
      const conn = await open(t, 'echo');
      for (const data of [new Uint8Array(0), new Uint8Array([0xff]), bytes(1024 * 1024)])
        await roundTrip(conn, data);
      await conn.close();
    },
  },
  {
    name: 'JSON: sendJson and receiveJson, custom (de)serialisers',
    skip: always,
    async run(t) {
      const conn = await open(t, 'echo');
      const value = { a: 1, b: ['x', null, true], c: { d: 'é' } };
      await conn.sendJson(value);
      equal(
        JSON.stringify(await conn.receiveJson({ timeout: TIMEOUT })),
        JSON.stringify(value),
        'json echo',
      );
      await conn.sendJson(5n, { stringify: (v) => `{"big":"${String(v)}"}` });
      const parsed = await conn.receiveJson<{ big: string; tag: boolean }>({
        timeout: TIMEOUT,
        parse: (text) => ({ ...(JSON.parse(text) as object), tag: true }),
      });
      equal(parsed.big, '5', 'custom stringify');
      equal(parsed.tag, true, 'custom parse');
      await rejects(conn.sendJson(undefined), 'TypeError', 'sendJson(undefined)');
      await rejects(conn.sendText(42 as unknown as string), 'TypeError', 'sendText(number)');
      await rejects(conn.sendBytes('x' as unknown as Uint8Array), 'TypeError', 'sendBytes(string)');
      await conn.close();
    },
  },
  {
    name: 'receiveJson on invalid JSON: a typed error, the connection stays usable',
    skip: always,
    async run(t) {
      const conn = await open(t, 'echo');
      await conn.sendText('{not json');
      const error = await rejects(
        conn.receiveJson({ timeout: TIMEOUT }),
        'JsonParseError',
        'receiveJson',
      );
      equal((error as Error & { text: string }).text, '{not json', 'error keeps the text');
      await conn.sendBytes(new Uint8Array([1, 2]));
      await rejects(
        conn.receiveText({ timeout: TIMEOUT }),
        'UnexpectedMessageError',
        'receiveText on binary',
      );
      equal(conn.state, 'open', 'state');
      await roundTrip(conn, 'still here');
      await conn.close();
    },
  },
  {
    name: 'pull-style session: for await echoes, ends at close',
    skip: always,
    async run(t) {
      const conn = await open(t, 'echo-pull');
      for (let i = 0; i < 20; i++) await conn.sendText(`m${String(i)}`);
      for (let i = 0; i < 20; i++) equal(await nextText(conn), `m${String(i)}`, 'order');
      await conn.close(4010, 'done');
      equal(conn.closeCode, 4010, 'server echoes the close code');
    },
  },
  {
    name: 'many writers keep their order; one reader at a time',
    skip: always,
    async run(t) {
      const conn = await open(t, 'echo');
      const first = conn.receive({ timeout: TIMEOUT });
      await rejects(conn.receive(), 'ConcurrentReceiveError', 'second receive');
      await Promise.all(Array.from({ length: 100 }, (_, i) => conn.sendText(String(i))));
      equal((await first).data, '0', 'first');
      for (let i = 1; i < 100; i++) equal(await nextText(conn), String(i), 'order');
      await conn.close();
    },
  },
  {
    name: 'ping from the client resolves with the round trip',
    skip: always,
    async run(t) {
      const conn = await open(t, 'echo');
      const rtt = await conn.ping();
      ok(typeof rtt === 'number' && rtt >= 0 && rtt < TIMEOUT, `rtt ${String(rtt)}`);
      await roundTrip(conn, 'after ping');
      await conn.close();
    },
  },
  {
    name: 'ping from the server resolves with the round trip',
    skip: needs([serverCanPing, SERVER_CANNOT_PING]),
    async run(t) {
      const conn = await open(t, 'server-ping');
      await conn.sendText('ping');
      const answer = await nextText(conn);
      ok(/^rtt:\d+(\.\d+)?(e-\d+)?$/.test(answer), `server ping answer ${answer}`);
      await conn.close();
    },
  },
  {
    name: 'autoping false: the server ping reaches receive() as PING',
    skip: needs(
      [
        (c) => !c.server.pingFrames || (c.client.pingFrames && !c.client.forcedAutoPong),
        'client runtime answers ping frames itself and hides them',
      ],
      [serverCanPing, SERVER_CANNOT_PING],
    ),
    async run(t) {
      const conn = await open(t, 'server-ping', { autoping: false });
      await conn.sendText('ping');
      // The server's hello (where the heartbeat is application-level) is a PING as well: every
      // PING is answered by hand until the server reports the round trip of its own.
      let pings = 0;
      for (;;) {
        const message = await next(conn);
        if (message.type === WSMsgType.TEXT) {
          ok(message.data.startsWith('rtt:'), `server got the manual pong (${message.data})`);
          break;
        }
        equal(message.type, WSMsgType.PING, 'message type');
        pings++;
        await conn.pong(message.data as Uint8Array);
      }
      ok(pings >= 1, 'the ping reached receive()');
      await conn.close();
    },
  },
  {
    name: 'close from the client: code and reason reach the server',
    skip: always,
    async run(t) {
      const obs = await observer(t);
      const conn = await open(t, 'close-watch');
      await conn.close(4001, 'bye ✓');
      equal(conn.state, 'closed', 'state');
      equal(conn.closeCode, 4001, 'closeCode (the echo)');
      const seen = await obs.report('close-watch');
      equal(seen.code, 4001, 'server saw code');
      equal(seen.reason, 'bye ✓', 'server saw reason');
      await rejects(conn.sendText('late'), 'ConnectionClosedError', 'send after close');
      equal((await conn.receive()).type, WSMsgType.CLOSED, 'receive after close');
      await obs.close();
    },
  },
  {
    name: 'close(NO_STATUS) sends a close frame without a body: the peer sees 1005',
    skip: always,
    async run(t) {
      const obs = await observer(t);
      const conn = await open(t, 'close-watch');
      await conn.close(1005);
      equal((await obs.report('close-watch')).code, 1005, 'server saw 1005');
      await obs.close();
    },
  },
  {
    name: 'close from the server: receive() gives CLOSE with code and reason, then CLOSED',
    skip: always,
    async run(t) {
      const conn = await open(t, 'server-close');
      await conn.sendText('close 4002 server says bye');
      const message = await next(conn);
      equal(message.type, WSMsgType.CLOSE, 'type');
      equal(message.data, 4002, 'code');
      equal(message.extra, 'server says bye', 'reason');
      await conn.whenClosed;
      equal((await next(conn)).type, WSMsgType.CLOSED, 'then CLOSED');
      equal(conn.closeCode, 4002, 'closeCode');
      equal(conn.closeReason, 'server says bye', 'closeReason');
    },
  },
  {
    name: 'async iteration ends at the close',
    skip: always,
    async run(t) {
      const conn = await open(t, 'server-close');
      await conn.sendText('one');
      await conn.sendText('close 1000');
      const seen: unknown[] = [];
      for await (const message of conn) seen.push(message.data);
      equal(seen.join(','), 'one', 'messages before the close');
      await conn.whenClosed;
      equal(conn.closeCode, 1000, 'closeCode');
    },
  },
  {
    name: 'autoclose false: CLOSE is returned and the application answers',
    skip: needs([
      (c) => !c.client.forcedCloseReply,
      'client runtime answers close frames itself: the option is refused (next case)',
    ]),
    async run(t) {
      const conn = await open(t, 'server-close', { autoclose: false });
      await conn.sendText('close 4003 manual');
      const message = await next(conn);
      equal(message.type, WSMsgType.CLOSE, 'type');
      equal(conn.state, 'closing', 'state before answering');
      equal((await next(conn)).type, WSMsgType.CLOSING, 'CLOSING while unanswered');
      await conn.close(4003);
      equal(conn.state, 'closed', 'state after answering');
      equal(conn.closeCode, 4003, 'closeCode');
    },
  },
  {
    name: 'autoclose false where the runtime answers close frames itself: refused at connect',
    skip: needs([
      (c) => c.client.forcedCloseReply,
      'client runtime lets core answer close frames: the option works (previous case)',
    ]),
    async run(t) {
      const error = await rejects(
        open(t, 'echo', { autoclose: false }),
        'UnsupportedOptionError',
        'connect with autoclose: false',
      );
      const refused = error as Error & { option: string; capability: string; runtime: string };
      equal(refused.option, 'autoclose: false', 'option');
      equal(refused.capability, 'forcedCloseReply', 'capability');
      ok(refused.runtime.length > 0, 'names the runtime');
    },
  },
  {
    name: 'autoclose false on the server: the application reads CLOSE and answers with its own code',
    skip: needs([
      (c) => !c.server.forcedCloseReply,
      'server runtime answers close frames itself: the option is refused (next case)',
    ]),
    async run(t) {
      const conn = await open(t, 'manual-close');
      await conn.close(4003, 'please');
      equal(conn.closeCode, 4004, "closeCode: the server's own answer, not an echo");
      equal(conn.closeReason, 'answered by hand', 'the server saw CLOSING while unanswered');
    },
  },
  {
    name: 'autoclose false on a server that answers close frames itself: refused before the upgrade',
    skip: needs([
      (c) => c.server.forcedCloseReply,
      'server runtime lets core answer close frames: the option works (previous case)',
    ]),
    async run(t) {
      const refused = await rejects(open(t, 'manual-close'), 'HandshakeError', 'manual-close');
      const status = (refused as HandshakeError).status;
      ok(status === undefined || status === 500, `refused with 500 (got ${String(status)})`);
    },
  },
  {
    name: 'terminate() from the client: 1006 here; the server sees 1006, or 1005 where the socket cannot be dropped',
    skip: always,
    async run(t) {
      const obs = await observer(t);
      const conn = await open(t, 'close-watch');
      conn.terminate();
      equal(conn.state, 'closed', 'closed at once');
      equal(conn.closeCode, 1006, 'closeCode');
      await rejects(conn.sendText('late'), 'ConnectionClosedError', 'send after terminate');
      const seen = (await obs.report('close-watch')).code;
      ok(seen === 1006 || seen === 1005, `the server saw 1006 or 1005, not ${String(seen)}`);
      await obs.close();
    },
  },
  {
    name: 'terminate() on the server: the client sees 1006, or 1005 where the socket cannot be dropped',
    skip: always,
    async run(t) {
      const conn = await open(t, 'terminate');
      await conn.sendText('now');
      await conn.whenClosed;
      const code = conn.closeCode;
      ok(code === 1006 || code === 1005, `the client saw 1006 or 1005, not ${String(code)}`);
      equal(conn.exception(), null, 'no fault on this end');
    },
  },
  {
    name: 'an invalid close code or reason from the application: RangeError, nothing sent',
    skip: always,
    async run(t) {
      const conn = await open(t, 'echo');
      for (const code of [0, 999, 1004, 1006, 1015, 1016, 2999, 5000, 1000.5]) {
        throws(() => conn.close(code), 'RangeError', `close(${String(code)})`);
      }
      throws(() => conn.close(1000, 'x'.repeat(124)), 'RangeError', 'reason of 124 bytes');
      throws(() => conn.close(1000, 'é'.repeat(62)), 'RangeError', 'reason of 124 bytes of UTF-8');
      throws(() => conn.close(1005, 'reason'), 'RangeError', 'reason with 1005');
      equal(conn.state, 'open', 'state');
      await roundTrip(conn, 'still open');
      await conn.close(1000, 'x'.repeat(123));
      equal(conn.closeCode, 1000, 'a 123-byte reason is fine');
    },
  },
  {
    name: 'receive timeout: a typed error, the connection stays usable (client side)',
    skip: always,
    async run(t) {
      const conn = await open(t, 'echo', { receiveTimeout: 100 });
      const start = performance.now();
      await rejects(conn.receive(), 'ReceiveTimeoutError', 'receive()');
      ok(performance.now() - start >= 90, 'waited the timeout');
      await rejects(conn.receive({ timeout: 50 }), 'ReceiveTimeoutError', 'receive({ timeout })');
      await roundTrip(conn, 'after timeout');
      await conn.close();
    },
  },
  {
    name: 'receive timeout: a typed error, the connection stays usable (server side)',
    skip: always,
    async run(t) {
      const conn = await open(t, 'receive-timeout');
      equal(await nextText(conn), 'timeout-ok', 'server timed out');
      await roundTrip(conn, 'after server timeout');
      await conn.close();
    },
  },
  {
    name: 'maxMessageSize on the server: a larger message closes with 1009, others are served',
    skip: always,
    async run(t) {
      const conn = await open(t, 'small');
      await roundTrip(conn, bytes(1024));
      await conn.sendBytes(bytes(2048)).catch(() => undefined);
      const message = await next(conn);
      equal(message.type, WSMsgType.CLOSE, 'type');
      equal(message.data, 1009, 'close code');
      await conn.whenClosed;
      equal(conn.closeCode, 1009, 'closeCode');
      const other = await open(t, 'small');
      await roundTrip(other, 'still serving');
      await other.close();
    },
  },
  {
    name: 'maxMessageSize on the client: a larger message is an ERROR and a 1009 close',
    skip: always,
    async run(t) {
      const conn = await open(t, 'echo', { maxMessageSize: 1024 });
      await conn.sendText('x'.repeat(2000));
      const message = await next(conn);
      equal(message.type, WSMsgType.ERROR, 'type');
      equal((message.data as Error).name, 'MessageTooBigError', 'error');
      await conn.whenClosed;
      equal(conn.closeCode, 1009, 'closeCode');
    },
  },
  {
    name: 'a failure keeps its own code: 1009 and its reason, though the peer answers 1000',
    skip: always,
    async run(t) {
      const conn = await open(t, 'big-then-close', { maxMessageSize: 1024 });
      // The server sends 4 KiB and closes with 1000 at once: its close crosses our 1009.
      await conn.sendText('4096');
      const message = await next(conn);
      equal(message.type, WSMsgType.ERROR, 'type');
      equal((message.data as Error).name, 'MessageTooBigError', 'error');
      await conn.whenClosed;
      equal((await next(conn)).type, WSMsgType.CLOSED, 'then CLOSED, no CLOSE');
      equal(conn.closeCode, 1009, 'closeCode: this end failed it');
      equal(conn.closeReason, 'message too big', 'closeReason: the same on every runtime');
    },
  },
  {
    name: 'subprotocol negotiation: the server picks by its preference',
    skip: always,
    async run(t) {
      const a = await open(t, 'protocols', { protocols: ['chat.v1', 'chat.v2'] });
      equal(a.protocol, 'chat.v2', 'client sees the choice');
      equal(await nextText(a), 'protocol:chat.v2', 'server sees the choice');
      const b = await open(t, 'protocols', { protocols: ['chat.v1'] });
      equal(b.protocol, 'chat.v1', 'only common protocol');
      const c = await open(t, 'protocols');
      equal(c.protocol, '', 'none offered');
      equal(await nextText(c), 'protocol:', 'server saw none');
      await closeAll(a, b, c);
    },
  },
  {
    name: 'upgrade refused with an HTTP status, before any upgrade',
    skip: always,
    async run(t) {
      const error = await rejects(
        open(t, 'refuse'),
        'HandshakeError',
        'connect to a refusing route',
      );
      ok(error instanceof HandshakeError || error.name === 'HandshakeError', 'HandshakeError');
      return;
    },
  },
  {
    name: 'upgrade refused: the status reaches the client',
    skip: needs([(c) => c.handshakeStatus, 'the client runtime does not expose the HTTP status']),
    async run(t) {
      const refused = await rejects(open(t, 'refuse'), 'HandshakeError', 'refuse');
      equal((refused as HandshakeError).status, 403, 'status');
      const unauthorised = await rejects(open(t, 'auth'), 'HandshakeError', 'auth without token');
      equal((unauthorised as HandshakeError).status, 401, 'status');
    },
  },
  {
    name: 'upgrade hook: per-connection context',
    skip: always,
    async run(t) {
      const conn = await open(t, 'auth?token=ada');
      equal(await nextText(conn), 'hello ada', 'context reached open');
      await conn.close();
    },
  },
  {
    name: 'topics: publish reaches subscribers, exclude leaves the sender out',
    skip: always,
    async run(t) {
      const conns = [await open(t, 'room'), await open(t, 'room'), await open(t, 'room')];
      for (const conn of conns) equal(await nextText(conn), 'joined', 'joined');
      const [a, b, c] = conns as [
        WebSocketConnection<unknown>,
        WebSocketConnection<unknown>,
        WebSocketConnection<unknown>,
      ];
      await a.sendText('hello room');
      equal(await nextText(a), 'ack:2', 'sender: published to two, and not to itself');
      equal(await nextText(b), 'hello room', 'b got it');
      equal(await nextText(c), 'hello room', 'c got it');
      await closeAll(a, b, c);
    },
  },
  {
    name: 'aggregate and mux: pairs relay to each other; one that left while waiting is dropped',
    skip: always,
    async run(t) {
      const obs = await observer(t);
      const leaver = await open(t, 'pair');
      await leaver.close();
      // The server saw the leaver go before the next two come.
      equal((await obs.report('pair-left')).code, 1000, 'the leaver left');
      await obs.close();
      const a = await open(t, 'pair');
      const b = await open(t, 'pair');
      equal(await nextText(a), 'paired:2', 'a paired');
      equal(await nextText(b), 'paired:2', 'b paired');
      await a.sendText('to b');
      equal(await nextText(b), 'to b', 'b got a message');
      await b.sendText('to a');
      equal(await nextText(a), 'to a', 'a got b message');
      await b.close();
      const end = await next(a);
      equal(end.type, WSMsgType.CLOSE, 'mux ended with the first close');
      equal(end.data, 4000, 'close code');
    },
  },
  {
    name: 'heartbeat keeps a live connection open: several periods, every ping answered',
    skip: always,
    async run(t) {
      // autoping false shows the heartbeat's pongs to the reader: each proves a ping went out
      // after an interval of silence and came back in time. Ten of them span at least ten
      // periods (500 ms), past the first dead-peer check at interval + timeout (300 ms). The
      // timeout leaves room for a loaded machine (a Worker's client runs inside Miniflare).
      const conn = await open(t, 'echo', {
        heartbeat: { interval: 50, timeout: 250 },
        autoping: false,
      });
      let pongs = 0;
      while (pongs < 10) {
        const message = await next(conn);
        // The server's hello, where the heartbeat is application-level: nothing to answer.
        if (message.type === WSMsgType.PING) continue;
        equal(message.type, WSMsgType.PONG, 'a pong of the heartbeat');
        pongs++;
      }
      equal(conn.state, 'open', 'state');
      equal(conn.exception(), null, 'no fault');
      await roundTrip(conn, 'alive');
      await conn.close();
    },
  },
  {
    name: 'heartbeat negotiation: a client offering the token gets the hello, its pings are answered',
    skip: always,
    async run(t) {
      // Offered by hand, next to an application protocol (a client with ping frames refuses a
      // 101 that selects none of its offer). An anyws client takes the hello and the answer as
      // PING/PONG (autoping false); one that did not offer the token itself sees them as text.
      const conn = await open(t, 'protocols', {
        protocols: ['chat.v1', HEARTBEAT_PROTOCOL],
        autoping: false,
      });
      equal(conn.protocol, 'chat.v1', 'the token is never selected');
      const hello = await next(conn);
      ok(
        hello.type === WSMsgType.PING || (hello.type === WSMsgType.TEXT && hello.data === APP_PING),
        `the hello comes first (${show(hello)})`,
      );
      equal(await nextText(conn), 'protocol:chat.v1', 'then the route opens');
      await conn.sendText(APP_PING);
      const answer = await next(conn);
      ok(
        answer.type === WSMsgType.PONG ||
          (answer.type === WSMsgType.TEXT && answer.data === APP_PONG),
        `the server answers the application-level ping (${show(answer)})`,
      );
      await conn.close();
    },
  },
  {
    name: 'no heartbeat token: the ping text is application data, echoed back as TEXT',
    skip: needs(
      [
        (c) => c.client.pingFrames,
        'a client without ping frames always offers the heartbeat token',
      ],
      [
        (c) => c.autoResponse !== true,
        "the runtime's auto-response answers the ping text for every client (Durable Object)",
      ],
    ),
    async run(t) {
      const conn = await open(t, 'echo');
      await roundTrip(conn, APP_PING);
      await roundTrip(conn, APP_PONG);
      await conn.close();
    },
  },
  {
    name: 'heartbeat on the client finds a dead server: ERROR, then 1006',
    skip: needs(
      [(c) => c.silentServer, 'no silent server in this target'],
      [
        (c) => c.client.pingFrames || c.silentServerAgreesHeartbeat === true,
        'a client without ping frames pings only a server that agreed, and this silent server did not',
      ],
    ),
    async run(t) {
      ok(t.silentServerUrl, 'silentServerUrl');
      const conn = await t.connect(t.silentServerUrl, {
        heartbeat: { interval: 100, timeout: 100 },
      });
      const message = await next(conn);
      equal(message.type, WSMsgType.ERROR, 'type');
      equal((message.data as Error).name, 'HeartbeatTimeoutError', 'error');
      equal((await next(conn)).type, WSMsgType.CLOSED, 'then CLOSED');
      equal(conn.closeCode, 1006, 'closeCode');
      equal(conn.exception()?.name, 'HeartbeatTimeoutError', 'exception()');
    },
  },
  {
    name: 'heartbeat on the client finds an agreed server that stopped answering: ERROR, then 1006',
    skip: needs([
      (c) => !c.client.pingFrames,
      'a client with ping frames: the runtime under the server answers them (previous case)',
    ]),
    async run(t) {
      // The route agreed (the client offered the token) and then never answers: autoping false
      // and nobody reads.
      const conn = await open(t, 'mute', { heartbeat: { interval: 100, timeout: 100 } });
      let message = await next(conn);
      equal(message.type, WSMsgType.ERROR, 'type');
      equal((message.data as Error).name, 'HeartbeatTimeoutError', 'error');
      message = await next(conn);
      equal(message.type, WSMsgType.CLOSED, 'then CLOSED');
      equal(conn.closeCode, 1006, 'closeCode');
    },
  },
  {
    name: 'heartbeat on the server finds a dead client: 1006',
    skip: needs(
      [(c) => c.silentClient, 'no silent client in this target'],
      [
        (c) => c.server.pingFrames || c.silentClientOffersHeartbeat === true,
        'a server without ping frames pings only a client that offered the heartbeat token, and this silent client does not',
      ],
    ),
    async run(t) {
      ok(t.openSilentClient, 'openSilentClient');
      const obs = await observer(t);
      const silent = await t.openSilentClient(`${t.baseUrl}/heartbeat`);
      const seen = await obs.report('heartbeat');
      equal(seen.type, WSMsgType.ERROR, 'server got ERROR');
      equal(seen.error, 'HeartbeatTimeoutError', 'error');
      equal(seen.code, 1006, 'closeCode');
      // Found at all: a silent client never ends the connection by itself (no upper time bound:
      // the report's own wait bounds the case, and timings are for the bench).
      ok(
        (seen.elapsed as number) >= 100,
        `after at least one interval (${String(seen.elapsed)} ms)`,
      );
      silent.close();
      await obs.close();
    },
  },
  {
    name: 'close timeout on the client: a silent server is terminated (1006)',
    skip: needs([(c) => c.silentServer, 'no silent server in this target']),
    async run(t) {
      ok(t.silentServerUrl, 'silentServerUrl');
      const conn = await t.connect(t.silentServerUrl, { closeTimeout: 200 });
      const start = performance.now();
      await conn.close(1000);
      const elapsed = performance.now() - start;
      ok(elapsed >= 150, `closed after the timeout (${String(elapsed)} ms)`);
      equal(conn.closeCode, 1006, 'closeCode');
    },
  },
  {
    name: 'close timeout on the server: a silent client is terminated (1006)',
    skip: needs([(c) => c.silentClient, 'no silent client in this target']),
    async run(t) {
      ok(t.openSilentClient, 'openSilentClient');
      const obs = await observer(t);
      const silent = await t.openSilentClient(`${t.baseUrl}/close-timeout`);
      const seen = await obs.report('close-timeout');
      equal(seen.code, 1006, 'closeCode');
      ok((seen.elapsed as number) >= 150, `elapsed ${String(seen.elapsed)}`);
      silent.close();
      await obs.close();
    },
  },
  {
    name: 'backpressure bound: a client that never reads is closed by the policy, buffer bounded',
    skip: needs(
      [(c) => c.server.backpressure, 'the server runtime has no send backpressure'],
      [(c) => c.silentClient, 'no silent client in this target'],
    ),
    async run(t) {
      ok(t.openSilentClient, 'openSilentClient');
      const obs = await observer(t);
      const silent = await t.openSilentClient(`${t.baseUrl}/flood`);
      const seen = await obs.report('flood', 15_000);
      equal(seen.error, 'BufferOverflowError', 'the send past the bound was refused');
      ok(
        (seen.maxBuffered as number) <= (seen.limit as number),
        `buffered ${String(seen.maxBuffered)} <= ${String(seen.limit)}`,
      );
      ok((seen.sent as number) < 4096, 'stopped before the loop bound');
      // The close frame stuck behind the data and the connection was terminated: closeCode is
      // still the policy's 1008, as for any failure this end made.
      equal(seen.code, 1008, 'closed by the policy (1008)');
      silent.close();
      // The server still serves everyone else.
      const other = await open(t, 'echo');
      await roundTrip(other, 'after flood');
      await other.close();
      await obs.close();
    },
  },
  // The upgrade pipeline's table (upgrade-cases.ts).
  ...upgradeCases,
];

export { REPORT_TOPIC };
