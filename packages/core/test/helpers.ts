/**
 * Test helpers. `ScriptedTransport` is a transport the test drives by hand: it records every
 * call core makes and exposes the sink, so capability branches that `createPair()`'s memory
 * transport does not model (a runtime that answers close frames itself, one without
 * backpressure, a transport that never reports `closed`) can be exercised too.
 */
import { vi } from 'vitest';
import { type ConnectionOptions, WebSocketConnection } from '../src/index.js';
import { MemoryTransport } from '../src/testing.js';
import type { TopicBus } from '../src/topics.js';
import type {
  PreparedMessage,
  Transport,
  TransportCapabilities,
  TransportSink,
} from '../src/transport.js';

export type Call =
  | { op: 'text'; data: string; compress: boolean | undefined }
  | { op: 'bytes'; data: Uint8Array; compress: boolean | undefined }
  | { op: 'prepared'; message: PreparedMessage }
  | { op: 'ping' | 'pong'; data: Uint8Array }
  | { op: 'close'; code: number | undefined; reason: string }
  | { op: 'terminate' | 'pause' | 'resume' };

// The memory transport's capabilities: every semantic left to core, backpressure and pausing real.
const SCRIPTED_CAPABILITIES: TransportCapabilities = new MemoryTransport('', '', {}).capabilities;

/** A transport whose events the test fires through `sink` and whose calls it reads in `calls`. */
export class ScriptedTransport implements Transport {
  readonly capabilities: TransportCapabilities;
  readonly url = 'wss://scripted.example/path?q=1';
  readonly protocol = 'chat.v1';
  readonly extensions = 'permessage-deflate';
  bufferedAmount = 0;
  readonly calls: Call[] = [];
  #sink: TransportSink | undefined;
  starts = 0;
  /** With true, `close()` reports `closed` at once, as a runtime that closes synchronously. */
  closeSynchronously = false;

  constructor(capabilities: Partial<TransportCapabilities> = {}, withPrepared = false) {
    this.capabilities = { ...SCRIPTED_CAPABILITIES, ...capabilities };
    if (withPrepared) {
      this.sendPrepared = (message) => {
        this.calls.push({ op: 'prepared', message });
      };
    }
  }
  get sink(): TransportSink {
    if (!this.#sink) throw new Error('not started');
    return this.#sink;
  }
  start(sink: TransportSink): void {
    this.starts++;
    this.#sink = sink;
  }
  sendText(data: string, compress: boolean | undefined): void {
    this.calls.push({ op: 'text', data, compress });
  }
  sendBytes(data: Uint8Array, compress: boolean | undefined): void {
    this.calls.push({ op: 'bytes', data, compress });
  }
  sendPrepared?: (message: PreparedMessage) => void;
  ping(data: Uint8Array): void {
    this.calls.push({ op: 'ping', data });
  }
  pong(data: Uint8Array): void {
    this.calls.push({ op: 'pong', data });
  }
  close(code: number | undefined, reason: string): void {
    this.calls.push({ op: 'close', code, reason });
    if (this.closeSynchronously) this.sink.closed(code ?? 1005, reason);
  }
  terminate(): void {
    this.calls.push({ op: 'terminate' });
  }
  pause(): void {
    this.calls.push({ op: 'pause' });
  }
  resume(): void {
    this.calls.push({ op: 'resume' });
  }
  /** The calls of one kind, in order. */
  ops(): string[] {
    return this.calls.map((c) => c.op);
  }
}

/** A connection over a `ScriptedTransport`. */
export function scripted(
  options?: ConnectionOptions,
  capabilities?: Partial<TransportCapabilities>,
  extra: {
    side?: 'client' | 'server';
    topics?: TopicBus;
    withPrepared?: boolean;
    appHeartbeat?: boolean;
  } = {},
): { conn: WebSocketConnection<unknown>; t: ScriptedTransport } {
  const t = new ScriptedTransport(capabilities, extra.withPrepared);
  const conn = new WebSocketConnection<unknown>({
    transport: t,
    side: extra.side ?? 'server',
    options,
    topics: extra.topics,
    appHeartbeat: extra.appHeartbeat,
  });
  return { conn, t };
}

/** Lets queued microtasks (the memory transport's deliveries) run. */
export async function flush(rounds = 10): Promise<void> {
  for (let i = 0; i < rounds; i++) await Promise.resolve();
}

/** Real-time sleep, for the few tests that do not use fake timers. */
export const sleep = (ms: number): Promise<void> =>
  new Promise((resolve) => setTimeout(resolve, ms));

/** Fake timers that also fake `performance.now()`, leaving microtasks real. */
export function useFakeClock(): void {
  vi.useFakeTimers({
    toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date', 'performance'],
  });
}

/** Settles a promise's state without awaiting it: 'pending', 'fulfilled' or 'rejected'. */
export async function stateOf(
  promise: Promise<unknown>,
): Promise<'pending' | 'fulfilled' | 'rejected'> {
  let state: 'pending' | 'fulfilled' | 'rejected' = 'pending';
  promise.then(
    () => {
      state = 'fulfilled';
    },
    () => {
      state = 'rejected';
    },
  );
  await flush();
  return state;
}

/** The rejection of `promise`, failing the test when it resolves. */
export async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof Error) return error;
    throw new Error(`rejected with a non-Error: ${String(error)}`);
  }
  throw new Error('expected a rejection');
}
