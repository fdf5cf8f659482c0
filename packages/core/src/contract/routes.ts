/**
 * The server side of the contract suite: handlers by route name. Every adapter serves them
 * at `${baseUrl}/${name}` with one topic bus shared by all routes (reports travel on it).
 */
import type { WebSocketConnection } from '../connection.js';
import { BufferOverflowError } from '../errors.js';
import type { WebSocketHandler } from '../handler.js';
import { aggregate, mux } from '../mux.js';
import { WSMsgType } from '../protocol.js';

/** The topic on which report routes publish what they saw, as JSON. */
export const REPORT_TOPIC = 'contract:reports';

type Handler = WebSocketHandler<unknown>;
type Conn = WebSocketConnection<unknown>;

function report(conn: Conn, value: Record<string, unknown>): void {
  conn.publish(REPORT_TOPIC, JSON.stringify(value));
}

const echo: Handler = {
  message(conn, message) {
    if (message.type === WSMsgType.TEXT || message.type === WSMsgType.BINARY) {
      conn.send(message.data).catch(() => undefined);
    }
  },
};

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Route name → handler. */
export const contractRoutes: Record<string, Handler> = {
  echo,

  /** Pull-style echo: the same behaviour through `for await`. */
  'echo-pull': {
    async session(conn) {
      for await (const message of conn) {
        if (message.type === WSMsgType.TEXT || message.type === WSMsgType.BINARY)
          await conn.send(message.data);
      }
    },
  },

  /** Subscribes to the reports and says `ready`. */
  observe: {
    open(conn) {
      conn.subscribe(REPORT_TOPIC);
      conn.sendText('ready').catch(() => undefined);
    },
  },

  /** Reports the close code and reason it saw. */
  'close-watch': {
    close(conn, code, reason) {
      report(conn, { route: 'close-watch', code, reason });
    },
  },

  /** `close <code> <reason>` makes the server close; anything else is echoed. */
  'server-close': {
    message(conn, message) {
      if (message.type !== WSMsgType.TEXT) return;
      const match = /^close (\d+) ?(.*)$/.exec(message.data);
      if (match) conn.close(Number(match[1]), match[2] ?? '').catch(() => undefined);
      else conn.sendText(message.data).catch(() => undefined);
    },
  },

  /** Pings the client on `ping` and answers `rtt:<ms>`. */
  'server-ping': {
    message(conn, message) {
      if (message.type === WSMsgType.TEXT && message.data === 'ping') {
        conn
          .ping()
          .then(
            (rtt) => conn.sendText(`rtt:${String(rtt)}`),
            (error: unknown) => conn.sendText(`ping-failed:${String(error)}`),
          )
          .catch(() => undefined);
      }
    },
  },

  /** Server-side receive timeout: answers `timeout-ok`, then echoes (the connection stayed usable). */
  'receive-timeout': {
    async session(conn) {
      try {
        await conn.receive({ timeout: 100 });
        await conn.sendText('unexpected-message');
      } catch (error) {
        await conn.sendText(
          error instanceof Error && error.name === 'ReceiveTimeoutError'
            ? 'timeout-ok'
            : `wrong:${String(error)}`,
        );
      }
      for await (const message of conn) {
        if (message.type === WSMsgType.TEXT) await conn.sendText(message.data);
      }
    },
  },

  /** maxMessageSize of 1 KiB. */
  small: { ...echo, options: { maxMessageSize: 1024 } },

  /** Offers two subprotocols in this order of preference and says which was chosen. */
  protocols: {
    options: { protocols: ['chat.v2', 'chat.v1'] },
    open(conn) {
      conn.sendText(`protocol:${conn.protocol}`).catch(() => undefined);
    },
  },

  /** Options that no runtime accepts, and a hook that would answer 418: the options check answers 500 first. */
  'bad-options': {
    options: { maxMessageSize: -1 },
    upgrade() {
      return new Response('the hook ran', { status: 418 });
    },
    open(conn) {
      conn.sendText('should not open').catch(() => undefined);
    },
  },

  /** Only `https://allowed.example` (or no Origin); an echo. */
  origins: { ...echo, allowedOrigins: ['https://allowed.example'] },

  /** Refuses every upgrade with 403. */
  refuse: {
    upgrade() {
      return new Response('forbidden', { status: 403 });
    },
  },

  /** `?token=NAME` is required (401 otherwise); the name becomes the context. */
  auth: {
    upgrade(request) {
      const token = new URL(request.url).searchParams.get('token');
      if (!token) return new Response('missing token', { status: 401 });
      return { context: { user: token } };
    },
    open(conn) {
      const context = conn.context as { user: string };
      conn.sendText(`hello ${context.user}`).catch(() => undefined);
    },
  },

  /** Everyone subscribes to `room`; a message is published to the others, then the sender gets `ack`. */
  room: {
    open(conn) {
      conn.subscribe('room');
      conn.sendText('joined').catch(() => undefined);
    },
    async message(conn, message) {
      if (message.type !== WSMsgType.TEXT) return;
      // A bus that spans processes answers with a promise.
      const count = await conn.publish('room', message.data, { exclude: conn });
      conn.sendText(`ack:${String(count)}`).catch(() => undefined);
    },
  },

  /** Pairs connections two by two; within a pair each message goes to the other one (mux). */
  pair: aggregate(
    2,
    async (group) => {
      for (const conn of group) await conn.sendText(`paired:${String(group.length)}`);
      for await (const [from, message] of mux(...group)) {
        if (message.type !== WSMsgType.TEXT) continue;
        for (const conn of group) if (conn !== from) await conn.sendText(message.data);
      }
      for (const conn of group) if (conn.state === 'open') await conn.close(4000, 'pair ended');
    },
    {
      base: {
        close(conn, code) {
          report(conn, { route: 'pair-left', code });
        },
      },
    },
  ),

  /**
   * On a text `<n>`, sends n bytes of text and closes with 1000 at once: a client with a smaller
   * `maxMessageSize` fails the connection with 1009 while this close crosses its own.
   */
  'big-then-close': {
    message(conn, message) {
      if (message.type !== WSMsgType.TEXT) return;
      conn.sendText('x'.repeat(Number(message.data))).catch(() => undefined);
      conn.close(1000, 'bye').catch(() => undefined);
    },
  },

  /**
   * `autoclose: false`: the session reads the client's CLOSE, then CLOSING while it is
   * unanswered, and answers by hand with its own code (4004), which the client then reports.
   */
  'manual-close': {
    options: { autoclose: false },
    async session(conn) {
      const message = await conn.receive();
      if (message.type !== WSMsgType.CLOSE) return;
      const unanswered = await conn.receive();
      const seen = unanswered.type === WSMsgType.CLOSING ? 'answered by hand' : 'not closing';
      await conn.close(4004, seen);
    },
  },

  /** Terminates the connection on any message: no closing handshake from this end. */
  terminate: {
    message(conn) {
      conn.terminate();
    },
  },

  /** Agrees to the heartbeat (when offered) and then answers nothing: autoping off, nobody reads. */
  mute: {
    options: { autoping: false },
  },

  /** Closes at once with a 200 ms close timeout and reports how it ended (for a silent client). */
  'close-timeout': {
    options: { closeTimeout: 200 },
    async session(conn) {
      const start = performance.now();
      await conn.close(4001, 'going');
      report(conn, {
        route: 'close-timeout',
        code: conn.closeCode,
        elapsed: performance.now() - start,
      });
    },
  },

  /** Heartbeat of 100 ms + 100 ms; reports how the connection ended (for a silent client). */
  heartbeat: {
    options: { heartbeat: { interval: 100, timeout: 100 } },
    async session(conn) {
      const start = performance.now();
      const message = await conn
        .receive({ timeout: 5000 })
        .catch((error: unknown) => ({ type: -1, data: error }));
      await conn.whenClosed;
      report(conn, {
        route: 'heartbeat',
        type: message.type,
        error: message.data instanceof Error ? message.data.name : null,
        code: conn.closeCode,
        elapsed: performance.now() - start,
      });
    },
  },

  /**
   * Sends 64 KiB messages to a client that never reads, until the bound stops it, and reports
   * the most bytes it ever held buffered. Bounded: 4,096 sends or 10 s.
   */
  flood: {
    options: { maxBufferedAmount: 256 * 1024, closeTimeout: 200 },
    async session(conn) {
      const chunk = new Uint8Array(64 * 1024);
      let maxBuffered = 0;
      let sent = 0;
      let error: unknown = null;
      const deadline = performance.now() + 10_000;
      // Ignores backpressure on purpose: the bound must hold even for a careless sender.
      while (sent < 4096 && conn.state === 'open' && performance.now() < deadline) {
        conn.send(chunk).catch((e: unknown) => {
          error ??= e;
        });
        sent++;
        // Measured while open: after the policy closes, the close frame queues behind the data.
        if (conn.state === 'open') maxBuffered = Math.max(maxBuffered, conn.bufferedAmount);
        if (sent % 16 === 0) await sleep(1);
      }
      await conn.whenClosed;
      report(conn, {
        route: 'flood',
        sent,
        maxBuffered,
        limit: conn.options.maxBufferedAmount,
        error: error instanceof BufferOverflowError ? error.name : String(error),
        code: conn.closeCode,
      });
    },
  },
};

/** The handler for a request path such as `/echo`, or undefined. */
export function contractRoute(pathname: string): Handler | undefined {
  const name = pathname.replace(/^\/+/, '').split('/').pop() ?? '';
  return Object.hasOwn(contractRoutes, name) ? contractRoutes[name] : undefined;
}
