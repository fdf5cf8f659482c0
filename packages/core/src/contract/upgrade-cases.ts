/**
 * Contract cases of the upgrade pipeline, table-driven: the same bad request, or the same bad
 * handler, gets the same HTTP status on every runtime, and nothing is upgraded. They send
 * hand-written requests through the target's {@link ContractTarget.handshake} (a raw HTTP
 * exchange: exact headers, no client library in between), so they run where the target has
 * one (`rawHandshake`); the subprotocol refusal runs through `connect` too, everywhere.
 */
import type { ConnectionOptions } from '../options.js';
// A cycle (suite.ts spreads these cases into its list): only read inside functions here.
import {
  ContractAssertionError,
  type ContractCapabilities,
  type ContractCase,
  type ContractTarget,
} from './suite.js';

/** What {@link ContractTarget.handshake} sends: a method and the whole header list (no Host). */
export interface RawHandshakeRequest {
  method: string;
  headers: Record<string, string>;
}

/** The answer to a {@link RawHandshakeRequest}: its status and headers (names lowercase). */
export interface RawHandshakeResponse {
  status: number;
  headers: Record<string, string>;
}

/** The headers of a valid upgrade request (RFC 6455 §1.3's example key). */
export function validUpgradeHeaders(): Record<string, string> {
  return {
    upgrade: 'websocket',
    connection: 'Upgrade',
    'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
    'sec-websocket-version': '13',
  };
}

interface Row {
  /** What the request or the handler gets wrong (or right). */
  name: string;
  /** The contract route it goes to. */
  route: string;
  method?: string;
  /** Headers changed from a valid upgrade; `null` removes one. */
  headers?: Record<string, string | null>;
  /** The status every runtime answers with. */
  status: number;
  /** Headers the answer must carry (names lowercase). */
  expect?: Record<string, string>;
  /** Why a runtime cannot show this row, or null. */
  skip?: (c: ContractCapabilities) => string | null;
}

/** The table: each row is one request, answered the same everywhere. */
export const UPGRADE_ROWS: readonly Row[] = [
  {
    name: 'method POST',
    route: 'echo',
    method: 'POST',
    status: 405,
    expect: { allow: 'GET' },
    skip: (c) =>
      c.runtimeRefusesNonGetUpgrade === true
        ? 'the runtime answers a non-GET upgrade itself, before anyws sees it'
        : null,
  },
  { name: 'no Upgrade header', route: 'echo', headers: { upgrade: null }, status: 426 },
  { name: 'Upgrade: h2c', route: 'echo', headers: { upgrade: 'h2c' }, status: 426 },
  {
    name: 'Sec-WebSocket-Version 8',
    route: 'echo',
    headers: { 'sec-websocket-version': '8' },
    status: 426,
    expect: { 'sec-websocket-version': '13' },
  },
  {
    name: 'malformed Sec-WebSocket-Key',
    route: 'echo',
    headers: { 'sec-websocket-key': 'not-a-key' },
    status: 400,
  },
  {
    name: 'a subprotocol offer the server cannot match',
    route: 'protocols',
    headers: { 'sec-websocket-protocol': 'chat.v9, other' },
    status: 400,
  },
  {
    name: 'a subprotocol offer without spaces (aiohttp): upgraded with the preferred one',
    route: 'protocols',
    headers: { 'sec-websocket-protocol': 'chat.v1,chat.v2' },
    status: 101,
    expect: { 'sec-websocket-protocol': 'chat.v2' },
  },
  {
    name: 'bad handler options: 500 before the upgrade hook (which would answer 418)',
    route: 'bad-options',
    status: 500,
  },
  { name: 'the upgrade hook refuses', route: 'refuse', status: 403 },
  {
    name: 'a forbidden Origin',
    route: 'origins',
    headers: { origin: 'https://evil.example' },
    status: 403,
  },
  {
    name: 'an allowed Origin',
    route: 'origins',
    headers: { origin: 'https://allowed.example' },
    status: 101,
  },
  { name: 'no Origin (a non-browser client)', route: 'origins', status: 101 },
];

function request(row: Row): RawHandshakeRequest {
  const headers: Record<string, string> = validUpgradeHeaders();
  for (const [name, value] of Object.entries(row.headers ?? {})) {
    if (value === null) delete headers[name];
    else headers[name] = value;
  }
  return { method: row.method ?? 'GET', headers };
}

function check(condition: unknown, message: string): asserts condition {
  if (!condition) throw new ContractAssertionError(message);
}

async function runRow(target: ContractTarget, row: Row): Promise<void> {
  check(target.handshake, 'the target has no handshake()');
  const answer = await target.handshake(`${target.baseUrl}/${row.route}`, request(row));
  check(
    answer.status === row.status,
    `${row.name}: expected status ${String(row.status)}, got ${String(answer.status)}`,
  );
  const accepted = answer.headers['sec-websocket-accept'] !== undefined;
  check(
    accepted === (row.status === 101),
    `${row.name}: ${row.status === 101 ? 'no' : 'an'} upgrade happened (Sec-WebSocket-Accept ${accepted ? 'present' : 'absent'})`,
  );
  for (const [name, value] of Object.entries(row.expect ?? {})) {
    check(
      answer.headers[name] === value,
      `${row.name}: expected ${name}: ${value}, got ${String(answer.headers[name])}`,
    );
  }
}

const needsRaw = (c: ContractCapabilities): string | null =>
  c.rawHandshake === true ? null : 'the target sends no hand-written requests (rawHandshake)';

/** The pipeline's cases, registered with the rest of the suite. */
export const upgradeCases: ContractCase[] = [
  ...UPGRADE_ROWS.map(
    (row): ContractCase => ({
      name: `upgrade pipeline: ${row.name} → ${String(row.status)}`,
      skip: (c) => needsRaw(c) ?? row.skip?.(c) ?? null,
      run: (t) => runRow(t, row),
    }),
  ),
  {
    name: 'upgrade pipeline: an unmatched subprotocol offer fails connect with HandshakeError (400 where visible)',
    skip: () => null,
    async run(t) {
      const options: ConnectionOptions = { protocols: ['chat.v9'] };
      let error: unknown;
      try {
        const conn = await t.connect(`${t.baseUrl}/protocols`, options);
        await conn.close();
      } catch (e) {
        error = e;
      }
      check(error instanceof Error, 'connect was refused');
      check(error.name === 'HandshakeError', `HandshakeError, got ${error.name}`);
      const status = (error as { status?: number }).status;
      check(status === undefined || status === 400, `status 400, got ${String(status)}`);
    },
  },
];
