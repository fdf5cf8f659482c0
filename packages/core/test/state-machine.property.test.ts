// Property-based tests of the connection state machine (fast-check): random interleavings of
// sends, receives, closes from either side, terminate, pings, timeouts, peer close frames (valid
// and not), transport errors, paused readers and drains, over two in-memory connections and the
// fake clock. After every step and at the end these must hold:
//   - once a connection is closed, every promise it handed out has settled;
//   - `closeCode` is set once (when the state becomes 'closed') and never changes, and the
//     'close' listener runs exactly once, with that code;
//   - core asks its transport to send nothing after it asked it to send the close frame (or to
//     terminate);
//   - no timer is left once both ends are closed;
//   - no promise rejection goes unhandled.
//
// `pnpm test` runs FC_RUNS (default 200) random runs. `pnpm -F @anyws/core run fuzz` runs 5,000.
// A failure prints fast-check's seed and path; replay exactly that case with
//   FC_SEED=<seed> FC_PATH=<path> pnpm -F @anyws/core exec vitest run test/state-machine.property.test.ts
import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { type ConnectionOptions, WebSocketConnection } from '../src/index.js';
import { MemoryTransport } from '../src/testing.js';
import type { TransportCapabilities, TransportSink } from '../src/transport.js';
import { flush, useFakeClock } from './helpers.js';

type Side = 'client' | 'server';

/** The parts of Node's globals used here (core's tsconfig has no Node types: core runs anywhere). */
const node = globalThis as unknown as {
  process: {
    env: Record<string, string | undefined>;
    on(event: 'unhandledRejection', listener: (reason: unknown) => void): void;
    off(event: 'unhandledRejection', listener: (reason: unknown) => void): void;
  };
  setImmediate(callback: () => void): void;
};

/** What core asked of its transport, in order, for the "nothing after the close frame" rule. */
type CoreCall = 'text' | 'bytes' | 'ping' | 'pong' | 'close' | 'terminate';

/**
 * The memory transport, recording what core asks of it. The test also drives it behind core's
 * back (a hostile or broken peer) while `raw` is set: those calls are not core's and are not
 * recorded.
 */
class ProbeTransport extends MemoryTransport {
  readonly calls: CoreCall[] = [];
  /** The index in `calls` of core's first close or terminate, or -1. */
  endAt = -1;
  raw = false;
  /** Set once the test made it fail (a transport error): it reports its end only once. */
  failed = false;
  sink: TransportSink | undefined;
  /** The next pong is the runtime's own answer to a ping (forcedAutoPong), not core's. */
  #runtimePong = false;
  override start(sink: TransportSink): void {
    this.sink = sink;
    super.start({
      text: (data) => sink.text(data),
      binary: (data) => sink.binary(data),
      ping: (data) => {
        sink.ping(data);
        this.#runtimePong = this.capabilities.forcedAutoPong;
      },
      pong: (data) => sink.pong(data),
      closeFrame: (code, reason) => sink.closeFrame(code, reason),
      closed: (code, reason) => sink.closed(code, reason),
      error: (error, code) => sink.error(error, code),
      drain: () => sink.drain(),
    });
  }
  #record(call: CoreCall): void {
    if (this.raw) return;
    this.calls.push(call);
    if (this.endAt < 0 && (call === 'close' || call === 'terminate')) {
      this.endAt = this.calls.length - 1;
    }
  }
  override sendText(data: string): void {
    this.#record('text');
    super.sendText(data);
  }
  override sendBytes(data: Uint8Array): void {
    this.#record('bytes');
    super.sendBytes(data);
  }
  override ping(data: Uint8Array): void {
    this.#record('ping');
    super.ping(data);
  }
  override pong(data: Uint8Array): void {
    if (this.#runtimePong) this.#runtimePong = false;
    else this.#record('pong');
    super.pong(data);
  }
  override close(code: number | undefined, reason: string): void {
    this.#record('close');
    super.close(code, reason);
  }
  override terminate(): void {
    this.#record('terminate');
    super.terminate();
  }
  /** Runs `action` as the test, not as core. */
  asTest(action: () => void): void {
    this.raw = true;
    try {
      action();
    } finally {
      this.raw = false;
    }
  }
}

// ---- the commands ------------------------------------------------------------------------

const side = fc.constantFrom<Side>('client', 'server');
/** Close codes a peer may put in a frame: valid ones, reserved ones, and out of range. */
const peerCode = fc.constantFrom(
  undefined,
  1000,
  1001,
  1002,
  1003,
  1007,
  1008,
  1009,
  1011,
  3000,
  4999,
  0,
  999,
  1004,
  1005,
  1006,
  1015,
  2999,
  5000,
);
/** Codes the application passes to `close()`, some of which it may not send. */
const appCode = fc.constantFrom(1000, 1001, 1008, 1011, 3000, 4000, 4999, 1005, 999, 1006, 5000);
const delay = fc.constantFrom(0, 1, 5, 20, 50, 100, 250, 1_000);
const timeout = fc.option(fc.constantFrom(1, 10, 50, 200), { nil: null });

type Command =
  | { op: 'sendText'; side: Side; size: number }
  | { op: 'sendBytes'; side: Side; size: number }
  | { op: 'receive'; side: Side; timeout: number | null }
  | { op: 'close'; side: Side; code: number; reason: string }
  | { op: 'terminate'; side: Side }
  | { op: 'ping'; side: Side; timeout: number | null }
  | { op: 'pong'; side: Side }
  | { op: 'tick'; ms: number }
  | { op: 'microtasks' }
  | { op: 'pause' | 'resume'; side: Side }
  | { op: 'peerText'; side: Side; size: number }
  | { op: 'peerClose'; side: Side; code: number | undefined; reason: string }
  | { op: 'peerTerminate'; side: Side }
  | { op: 'transportError'; side: Side; code: number | undefined };

const size = fc.constantFrom(0, 1, 10, 100, 1_000, 5_000);
const command: fc.Arbitrary<Command> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant('sendText'), side, size }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('sendBytes'), side, size }) },
  { weight: 4, arbitrary: fc.record({ op: fc.constant('receive'), side, timeout }) },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('close'),
      side,
      code: appCode,
      reason: fc.constantFrom('', 'bye', 'x'.repeat(124)),
    }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('terminate'), side }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('ping'), side, timeout }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('pong'), side }) },
  { weight: 4, arbitrary: fc.record({ op: fc.constant('tick'), ms: delay }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('microtasks') }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constantFrom('pause', 'resume'), side }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('peerText'), side, size }) },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('peerClose'),
      side,
      code: peerCode,
      reason: fc.constantFrom('', 'gone', 'y'.repeat(123)),
    }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('peerTerminate'), side }) },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('transportError'),
      side,
      code: fc.constantFrom(undefined, 1002, 1007, 1009),
    }),
  },
) as fc.Arbitrary<Command>;

/** An end's options, and whether it reads through a 'message' listener. */
type EndOptions = ConnectionOptions & { push: boolean };
type RunArgs = [Partial<TransportCapabilities>, EndOptions, EndOptions, Command[]];

/** Options of one end: small limits and short timers, so that they are reached. */
const endOptions: fc.Arbitrary<EndOptions> = fc.record({
  autoping: fc.boolean(),
  autoclose: fc.boolean(),
  heartbeat: fc.option(fc.constantFrom(30, 100, 400), { nil: null }),
  receiveTimeout: fc.option(fc.constantFrom(25, 150), { nil: null }),
  closeTimeout: fc.constantFrom(0, 10, 100, 500),
  maxMessageSize: fc.constantFrom(64, 2_000, 1 << 20),
  highWaterMark: fc.constantFrom(0, 50, 4_096),
  maxBufferedAmount: fc.constantFrom(1_000, 20_000, 1 << 20),
  slowConsumer: fc.constantFrom<'close' | 'reject'>('close', 'reject'),
  receiveHighWaterMark: fc.constantFrom(1, 500, 1 << 20),
  // Messages to a 'message' listener instead of to receive().
  push: fc.boolean(),
});

const capabilities: fc.Arbitrary<Partial<TransportCapabilities>> = fc.record({
  pingFrames: fc.boolean(),
  forcedAutoPong: fc.boolean(),
  forcedCloseReply: fc.boolean(),
  restrictedCloseCodes: fc.boolean(),
  // Without it, a reader that falls behind the receive mark fails the connection (1008).
  pauseReading: fc.boolean(),
});

// ---- one run -----------------------------------------------------------------------------

interface End {
  conn: WebSocketConnection<unknown>;
  transport: ProbeTransport;
  /** Every promise the connection handed out, with whether it has settled. */
  promises: { what: string; settled: boolean }[];
  /** The first closeCode seen, and what the 'close' listeners were told. */
  firstCode: number | null;
  closeEvents: number[];
}

function makeEnd(transport: ProbeTransport, which: Side, options: EndOptions): End {
  const { push, ...connectionOptions } = options;
  const conn = new WebSocketConnection({ transport, side: which, options: connectionOptions });
  const end: End = { conn, transport, promises: [], firstCode: null, closeEvents: [] };
  conn.on('close', (code) => {
    end.closeEvents.push(code);
  });
  // An 'error' listener so that reported faults are not thrown at nobody.
  conn.on('error', () => undefined);
  if (push) conn.on('message', () => undefined);
  return end;
}

/** Keeps `promise`, noting when it settles (which also handles a rejection). */
function track(end: End, what: string, make: () => Promise<unknown>): void {
  let promise: Promise<unknown>;
  try {
    promise = make();
  } catch (error) {
    // Only arguments that may not be sent throw at once.
    expect(error, what).toBeInstanceOf(RangeError);
    return;
  }
  const entry = { what, settled: false };
  end.promises.push(entry);
  promise.then(
    () => {
      entry.settled = true;
    },
    () => {
      entry.settled = true;
    },
  );
}

function payload(n: number): string {
  return 'm'.repeat(n);
}

/**
 * The state every step must leave. `drained`: the step let queued microtasks run (a promise
 * settles in a later microtask than the one that closed its connection).
 */
function check(ends: Record<Side, End>, step: string, drained: boolean): void {
  for (const which of ['client', 'server'] as const) {
    const end = ends[which];
    const { conn, transport } = end;
    const code = conn.closeCode;
    if (end.firstCode === null) end.firstCode = code;
    else expect(code, `${which} closeCode changed ${step}`).toBe(end.firstCode);
    if (conn.state === 'closed') {
      expect(code, `${which} closed without a closeCode ${step}`).not.toBeNull();
      expect(end.closeEvents, `${which} 'close' listeners ${step}`).toEqual([code]);
      if (drained) {
        const waiting = end.promises.filter((p) => !p.settled).map((p) => p.what);
        expect(waiting, `${which} promises pending after close ${step}`).toEqual([]);
      }
    } else {
      expect(code, `${which} closeCode before closed ${step}`).toBeNull();
      expect(end.closeEvents, `${which} 'close' before closed ${step}`).toEqual([]);
    }
    if (transport.endAt >= 0) {
      const after = transport.calls.slice(transport.endAt + 1).filter((c) => c !== 'terminate');
      expect(after, `${which} sent after its close frame ${step}`).toEqual([]);
    }
  }
  if (ends.client.conn.state === 'closed' && ends.server.conn.state === 'closed') {
    expect(vi.getTimerCount(), `timers left with both ends closed ${step}`).toBe(0);
  }
}

async function apply(ends: Record<Side, End>, c: Command): Promise<void> {
  const other = (s: Side): End => ends[s === 'client' ? 'server' : 'client'];
  switch (c.op) {
    case 'sendText':
      return track(ends[c.side], c.op, () => ends[c.side].conn.sendText(payload(c.size)));
    case 'sendBytes':
      return track(ends[c.side], c.op, () =>
        ends[c.side].conn.sendBytes(new Uint8Array(c.size).fill(7)),
      );
    case 'receive':
      return track(ends[c.side], c.op, () => ends[c.side].conn.receive({ timeout: c.timeout }));
    case 'close':
      return track(ends[c.side], `close(${c.code})`, () =>
        ends[c.side].conn.close(c.code, c.reason),
      );
    case 'terminate':
      return ends[c.side].conn.terminate();
    case 'ping':
      return track(ends[c.side], c.op, () => ends[c.side].conn.ping('p', { timeout: c.timeout }));
    case 'pong':
      return track(ends[c.side], c.op, () => ends[c.side].conn.pong('q'));
    case 'tick':
      await vi.advanceTimersByTimeAsync(c.ms);
      return;
    case 'microtasks':
      await flush();
      return;
    case 'pause':
      return ends[c.side].transport.asTest(() => ends[c.side].transport.pause());
    case 'resume':
      return ends[c.side].transport.asTest(() => ends[c.side].transport.resume());
    // What a hostile or broken peer does, behind the other connection's back.
    case 'peerText': {
      const peer = other(c.side).transport;
      return peer.asTest(() => peer.sendText(payload(c.size)));
    }
    case 'peerClose': {
      const peer = other(c.side).transport;
      return peer.asTest(() => {
        try {
          peer.close(c.code, c.reason);
        } catch (error) {
          // A transport with restrictedCloseCodes cannot send that code: nothing was sent.
          expect(error).toBeInstanceOf(RangeError);
        }
      });
    }
    case 'peerTerminate': {
      const peer = other(c.side).transport;
      return peer.asTest(() => peer.terminate());
    }
    case 'transportError': {
      // The runtime reports an error (with the code it failed the connection with, as ws
      // does), stops, and reports the end: 'closed' always follows 'error'.
      const { conn, transport } = ends[c.side];
      const sink = transport.sink;
      if (!sink || transport.failed || conn.state === 'closed') return;
      transport.failed = true;
      sink.error(new Error('transport failed'), c.code);
      transport.asTest(() => transport.terminate());
      sink.closed(1006, '');
      return;
    }
  }
}

async function run(
  caps: Partial<TransportCapabilities>,
  clientOptions: EndOptions,
  serverOptions: EndOptions,
  commands: Command[],
): Promise<void> {
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown): void => {
    unhandled.push(reason);
  };
  node.process.on('unhandledRejection', onUnhandled);
  useFakeClock();
  try {
    const clientTransport = new ProbeTransport('ws://memory/', '', caps);
    const serverTransport = new ProbeTransport('ws://memory/', '', caps);
    clientTransport.peer = serverTransport;
    serverTransport.peer = clientTransport;
    const ends: Record<Side, End> = {
      client: makeEnd(clientTransport, 'client', clientOptions),
      server: makeEnd(serverTransport, 'server', serverOptions),
    };
    await flush();
    check(ends, 'at start', true);
    for (const [i, c] of commands.entries()) {
      await apply(ends, c);
      check(ends, `after step ${i} ${JSON.stringify(c)}`, c.op === 'tick' || c.op === 'microtasks');
    }
    // The end of every run: both ends close, readers resume, and time passes until each
    // connection's closeTimeout has surely run out. Then both must be closed and settled.
    for (const which of ['client', 'server'] as const) {
      const { conn, transport } = ends[which];
      transport.asTest(() => transport.resume());
      track(ends[which], 'final close', () => conn.close(1000, 'end'));
    }
    for (let i = 0; i < 4; i++) await vi.advanceTimersByTimeAsync(600);
    await flush();
    check(ends, 'at the end', true);
    for (const which of ['client', 'server'] as const) {
      expect(ends[which].conn.state, `${which} at the end`).toBe('closed');
    }
    expect(vi.getTimerCount(), 'timers at the end').toBe(0);
    // A real turn of the event loop: Node reports unhandled rejections after the microtasks.
    await new Promise<void>((resolve) => node.setImmediate(resolve));
    expect(unhandled, 'unhandled rejections').toEqual([]);
  } finally {
    vi.useRealTimers();
    node.process.off('unhandledRejection', onUnhandled);
  }
}

/** FC_RUNS runs (default 200); FC_SEED and FC_PATH replay a printed failure. */
function parameters(): fc.Parameters<RunArgs> {
  const env = node.process.env;
  return {
    numRuns: Number(env.FC_RUNS ?? 200),
    ...(env.FC_SEED ? { seed: Number(env.FC_SEED) } : {}),
    ...(env.FC_PATH ? { path: env.FC_PATH } : {}),
  };
}

describe('the connection state machine under random interleavings', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('settles every promise, sets closeCode once, sends nothing after close, leaves no timer', async () => {
    await fc.assert(
      fc.asyncProperty(
        capabilities,
        endOptions,
        endOptions,
        fc.array(command, { minLength: 1, maxLength: 40 }),
        run,
      ),
      parameters(),
    );
  }, 120_000);
});
