/**
 * Reconnection scenarios, run inside Chromium. Each returns what it saw as plain data and the
 * Node side asserts on it; `control(command)` asks the Node side to act on the server.
 */
import { WSMsgType } from '@anyws/core';
import {
  type ClientOptions,
  type ClientState,
  connect,
  ReconnectingClient,
} from '../../src/index.js';

declare const control: (command: string, argument?: unknown) => Promise<unknown>;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export interface Trace {
  states: ClientState[];
  closes: { code: number; reason: string; retryIn: number | null; at: number }[];
  opens: number[];
  errors: string[];
}

/** A client with every event recorded, times relative to its creation. */
function traced(
  url: string,
  options: ClientOptions,
): { client: ReconnectingClient; trace: Trace; now(): number } {
  const start = performance.now();
  const now = (): number => performance.now() - start;
  const client = new ReconnectingClient(url, options);
  const trace: Trace = { states: [client.state], closes: [], opens: [], errors: [] };
  client.on('state', (state) => trace.states.push(state));
  client.on('close', (code, reason, retryIn) =>
    trace.closes.push({ code, reason, retryIn, at: now() }),
  );
  client.on('open', () => trace.opens.push(now()));
  client.on('error', (error) => trace.errors.push(error.name));
  return { client, trace, now };
}

/** Resolves when the client reaches `state`; bounded. */
function until(client: ReconnectingClient, state: ClientState, timeout = 10_000): Promise<void> {
  if (client.state === state) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(
        new Error(`state ${state} not reached within ${String(timeout)} ms (now ${client.state})`),
      );
    }, timeout);
    const off = client.on('state', (s) => {
      if (s !== state) return;
      clearTimeout(timer);
      off();
      resolve();
    });
  });
}

/** How each send promise settled: 'ok' or the error's name. */
function settle(promises: Promise<unknown>[]): Promise<string[]> {
  return Promise.all(
    promises.map((p) =>
      p.then(
        () => 'ok',
        (error: Error) => error.name,
      ),
    ),
  );
}

export const scenarios = {
  /**
   * The server stops and comes back: messages sent meanwhile are queued and arrive once, in order.
   */
  async restart(arg: { url: string; minDelay: number; maxDelay: number; count: number }) {
    const { client, trace, now } = traced(arg.url, {
      heartbeat: null,
      reconnect: { minDelay: arg.minDelay, maxDelay: arg.maxDelay },
    });
    await until(client, 'connected');
    await client.sendText('before');
    const before = await client.receiveText({ timeout: 5000 });
    // A reader already waiting on the first connection when it goes: it waits across the reconnect.
    const reading = (async () => {
      const seen: string[] = [];
      for (let i = 0; i < arg.count; i++) seen.push(await client.receiveText({ timeout: 10_000 }));
      return seen;
    })();
    await control('stop');
    await until(client, 'reconnecting');
    const sends = Array.from({ length: arg.count }, (_, i) => client.sendText(`m${String(i)}`));
    const queued = client.queued;
    // Let a few attempts fail against the closed port.
    await sleep(arg.maxDelay * 2);
    const failedAttempts = trace.closes.length - 1;
    await control('start');
    const restartedAt = now();
    await until(client, 'connected');
    const reconnectedAfter = now() - restartedAt;
    const settled = await settle(sends);
    const echoes = await reading;
    await client.sendText('end');
    const last = await client.receiveText({ timeout: 5000 });
    await client.close();
    const after = await client.receive();
    return {
      before,
      queued,
      failedAttempts,
      reconnectedAfter,
      settled,
      echoes,
      last,
      after: after.type,
      trace,
    };
  },

  /** The server closes with `code`: what the client does next, observed for `watch` ms. */
  async serverCloses(arg: {
    url: string;
    code: number;
    watch: number;
    restartDelay?: { min: number; max: number };
  }) {
    const { client, trace, now } = traced(arg.url, {
      heartbeat: null,
      reconnect: {
        minDelay: 50,
        maxDelay: 100,
        ...(arg.restartDelay ? { restartDelay: arg.restartDelay } : {}),
      },
    });
    await until(client, 'connected');
    await client.sendText(`close ${String(arg.code)} by request`);
    const closedAt = await new Promise<number>((resolve) => {
      const off = client.on('close', () => {
        off();
        resolve(now());
      });
    });
    await sleep(arg.watch);
    const stateAfter = client.state;
    let received: { type: number; data: unknown }[] = [];
    let sendAfter = 'ok';
    if (stateAfter === 'closed') {
      received = [await client.receive(), await client.receive()].map((m) => ({
        type: m.type,
        data: m.data,
      }));
      sendAfter = await client.sendText('late').then(
        () => 'ok',
        (error: Error) => error.name,
      );
    } else {
      await until(client, 'connected');
      await client.sendText('after the reconnect');
      received = [{ type: WSMsgType.TEXT, data: await client.receiveText({ timeout: 5000 }) }];
      await client.close();
    }
    return { closedAt, stateAfter, received, sendAfter, trace };
  },

  /** A server that completes the handshake and then never answers: the heartbeat finds it dead. */
  async deadServer(arg: { url: string; interval: number; timeout: number }) {
    const { client, trace } = traced(arg.url, {
      heartbeat: { interval: arg.interval, timeout: arg.timeout },
      closeTimeout: 200,
      reconnect: { minDelay: 60_000 },
    });
    await until(client, 'reconnecting', 10_000);
    // Both taken inside the events: the connection (and its heartbeat) began just before `open`.
    const detectedAfter = (trace.closes[0]?.at ?? 0) - (trace.opens[0] ?? 0);
    await client.close();
    return { detectedAfter, state: client.state, trace };
  },

  /**
   * A server that is not anyws and stays quiet (no hello): over `quiet` ms, several heartbeat
   * periods, the client sends nothing of its own and keeps the connection; then a marker.
   */
  async quietForeignServer(arg: { url: string; interval: number; timeout: number; quiet: number }) {
    const { client, trace } = traced(arg.url, {
      heartbeat: { interval: arg.interval, timeout: arg.timeout },
      reconnect: { minDelay: 60_000 },
    });
    await until(client, 'connected');
    await new Promise((resolve) => setTimeout(resolve, arg.quiet));
    const state = client.state;
    const agreed = client.connection?.appHeartbeat ?? null;
    await client.sendText('marker');
    return { state, agreed, errors: trace.errors, closes: trace.closes.length };
  },

  /** Sends while disconnected: bounded in messages and bytes, rejected (not dropped) when full or closed. */
  async queueBounds(arg: { url: string }) {
    const { client, trace } = traced(arg.url, {
      maxQueuedMessages: 3,
      maxQueuedBytes: 10,
      reconnect: { minDelay: 60_000 },
    });
    await until(client, 'reconnecting');
    const first = [client.sendText('aaaa'), client.sendBytes(new Uint8Array(4))];
    const tooBig = client.sendText('xxxxx'); // 8 + 5 > 10 bytes
    const fits = client.sendText('é'); // 2 bytes of UTF-8: 10 in all
    const fourth = client.sendText(''); // a fourth message
    const typeError = client.sendText(42 as unknown as string);
    const queued = client.queued;
    const early = await settle([tooBig, fourth, typeError]);
    await client.close();
    const late = await settle([...first, fits]);
    const afterClose = await settle([client.sendText('after')]);
    return { queued, early, late, afterClose, state: client.state, trace };
  },

  /** `offline` pauses the retries; `online` retries at once, whatever the backoff. */
  async offlineOnline(arg: { url: string }) {
    // A backoff far longer than the test: only `online` can bring the client back in time.
    const { client, trace, now } = traced(arg.url, {
      heartbeat: null,
      reconnect: { minDelay: 20_000, maxDelay: 20_000 },
    });
    await until(client, 'connected');
    await control('stop');
    await until(client, 'reconnecting');
    await control('offline');
    await until(client, 'offline', 5000);
    const attemptsBefore = trace.closes.length;
    await control('start');
    await sleep(1000);
    const attemptsWhileOffline = trace.closes.length - attemptsBefore;
    const stateWhileOffline = client.state;
    const onlineAt = now();
    await control('online');
    await until(client, 'connected');
    const reconnectedAfter = now() - onlineAt;
    await client.close();
    return { attemptsWhileOffline, stateWhileOffline, reconnectedAfter, trace };
  },

  /** A tab that comes back checks the link at once: a dead one is found within `checkTimeout`. */
  async visibleAgain(arg: { url: string; checkTimeout: number }) {
    const { client, trace, now } = traced(arg.url, {
      heartbeat: { interval: 60_000, timeout: 60_000 },
      checkTimeout: arg.checkTimeout,
      closeTimeout: 200,
      reconnect: { minDelay: 60_000 },
    });
    await until(client, 'connected');
    await control('hide');
    let shownAt = Number.NaN;
    // Runs in the same dispatch as the client's own listener, which was added first.
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'visible') shownAt = now();
    });
    await control('show');
    await until(client, 'reconnecting', 5000);
    const detectedAfter = (trace.closes[0]?.at ?? 0) - shownAt;
    await client.close();
    return { detectedAfter, trace };
  },

  /** Push listeners keep hearing messages across a reconnect; removing the last one gives them back to receive(). */
  async pushAcrossReconnect(arg: { url: string }) {
    const { client } = traced(arg.url, {
      heartbeat: null,
      reconnect: { minDelay: 50, maxDelay: 100 },
    });
    const heard: string[] = [];
    const off = client.on('message', (message) => heard.push(String(message.data)));
    await until(client, 'connected');
    await client.sendText('one');
    await client.sendText('close 1001 going');
    await until(client, 'reconnecting');
    await until(client, 'connected');
    await client.sendText('two');
    for (let i = 0; i < 100 && heard.length < 2; i++) await sleep(10);
    off();
    await client.sendText('three');
    const pulled = await client.receiveText({ timeout: 5000 });
    await client.close();
    return { heard, pulled };
  },

  /** Retries exhausted: the client ends, the reader gets CLOSED, queued sends reject. */
  async giveUp(arg: { url: string; maxRetries: number }) {
    const { client, trace } = traced(arg.url, {
      reconnect: { minDelay: 10, maxDelay: 20, maxRetries: arg.maxRetries },
    });
    const queued = client.sendText('never sent');
    const reader = client.receive({ timeout: 10_000 });
    await until(client, 'closed');
    const [settled] = await settle([queued]);
    return { settled, read: (await reader).type, trace };
  },

  /** A URL the browser refuses outright is not retried. */
  async badUrl(arg: { url: string }) {
    const { client, trace } = traced(arg.url, {});
    await until(client, 'closed');
    return { trace };
  },

  /** The browser has no drain event: a send with `highWaterMark: 0` resolves once bufferedAmount is 0. */
  async drain(arg: { url: string; size: number }) {
    const conn = await connect(arg.url, { highWaterMark: 0 });
    const data = new Uint8Array(arg.size);
    await conn.sendBytes(data);
    const bufferedAfterSend = conn.bufferedAmount;
    const echoed = await conn.receiveBytes({ timeout: 10_000 });
    await conn.close();
    return { bufferedAfterSend, echoed: echoed.byteLength };
  },

  /** What one connection's reader sees to the end, and how the connection ended. */
  async readToEnd(arg: { url: string }) {
    const conn = await connect(arg.url);
    const types: number[] = [];
    for (let i = 0; i < 10; i++) {
      const message = await conn.receive({ timeout: 5000 });
      types.push(message.type);
      if (message.type === WSMsgType.CLOSED) break;
    }
    return { types, closeCode: conn.closeCode, error: conn.exception()?.message ?? null };
  },

  /**
   * The opening on every runtime's terms: `openTimeout` and `signal` against a server that never
   * answers the handshake (HandshakeError, the signal's reason as cause); `http:` URLs (`conn.url`
   * is ws:) to a server that selects as anyws does and to one that selects nothing.
   */
  async opening(arg: { muteUrl: string; url: string }) {
    const failure = async (
      options: Parameters<typeof connect>[1],
    ): Promise<{ name: string; message: string; cause: string | null }> => {
      const error = (await connect(arg.muteUrl, options).then(
        () => new Error('it opened'),
        (e: unknown) => e,
      )) as Error;
      const cause = error.cause === undefined ? null : String(error.cause);
      return { name: error.name, message: error.message, cause };
    };
    const timedOut = await failure({ openTimeout: 200 });
    const controller = new AbortController();
    const aborting = failure({ signal: controller.signal });
    controller.abort('stop');
    const aborted = await aborting;
    const early = await failure({ signal: controller.signal });
    const badUrl = await connect('ftp://127.0.0.1/').then(
      () => 'it opened',
      (e: unknown) => (e as Error).name,
    );
    const opened: { url: string; protocol: string }[] = [];
    const open = async (path: string, options: Parameters<typeof connect>[1]): Promise<void> => {
      const conn = await connect(`${arg.url.replace(/^ws/, 'http')}${path}`, options);
      opened.push({ url: conn.url, protocol: conn.protocol });
      await conn.close();
    };
    await open('/anyws', { protocols: ['chat.v1'] });
    await open('/anyws', {});
    await open('/plain', { offerHeartbeat: false });
    const refused = await open('/plain', {}).then(
      () => 'it opened',
      (e: unknown) => (e as Error).name,
    );
    return { timedOut, aborted, early, badUrl, opened, refused };
  },

  /** A ReconnectingClient whose signal aborted during an attempt ends instead of retrying. */
  async abortedClient(arg: { muteUrl: string }) {
    const controller = new AbortController();
    const { client, trace } = traced(arg.muteUrl, { signal: controller.signal });
    controller.abort('leaving');
    await until(client, 'closed', 5000);
    return { trace };
  },

  /** A close code browsers may not send (1001) leaves as a close frame without a body; nothing throws. */
  async unsendableClose(arg: { base: string }) {
    const observer = await connect(`${arg.base}/observe`);
    const ready = await observer.receiveText({ timeout: 5000 });
    const conn = await connect(`${arg.base}/close-watch`);
    await conn.close(1001, 'going away');
    const report = JSON.parse(await observer.receiveText({ timeout: 5000 })) as { code: number };
    await observer.close();
    return { ready, closeCode: conn.closeCode, serverSaw: report.code };
  },
};
