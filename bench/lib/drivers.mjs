// How the load generator talks to each kind of server. The scenarios (loadgen.mjs) are the
// same for all; a driver only opens connections and moves messages.
import { frame, frameBatch, OP_BINARY, OP_TEXT, open, openMany } from './wsclient.mjs';

const OPEN_CONCURRENCY = 100;

function payloadOf(size, binary) {
  if (!binary) return Buffer.alloc(size, 'x');
  const bytes = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) bytes[i] = (i * 31 + 7) & 0xff;
  return bytes;
}

const batches = new Map();

/**
 * `inflight` masked frames of one message, built once per generator and shared by every
 * server's connections: the same bytes for each, and 32 MiB of 1 MiB frames masked once.
 */
function batchOf(op, size, binary, inflight) {
  const key = `${op}:${size}:${inflight}`;
  let batch = batches.get(key);
  if (!batch) {
    batch = frameBatch(op, payloadOf(size, binary), inflight);
    batches.set(key, batch);
  }
  return batch;
}

/**
 * Sequential round trips: `send()` one message, `reply()` when it is back, the next at once.
 * Samples (µs) after `warmup` trips, until `count` samples or `maxMs`.
 */
function roundTrips(send, { warmup, count, maxMs }) {
  const samples = [];
  let sent = 0;
  let start = 0n;
  let deadline = 0;
  let finish;
  let abort;
  const done = new Promise((resolve, reject) => {
    finish = resolve;
    abort = reject;
  });
  const next = () => {
    sent++;
    start = process.hrtime.bigint();
    send();
  };
  return {
    reply() {
      const elapsed = process.hrtime.bigint() - start;
      if (sent > warmup) samples.push(Number(elapsed) / 1000);
      if (samples.length >= count || performance.now() > deadline) finish(samples);
      else next();
    },
    fail: (error) => abort(error),
    run() {
      deadline = performance.now() + maxMs;
      next();
      return done;
    },
  };
}

const IDLE_TRIPS = { reply() {}, fail() {} };

/**
 * One connection for latency runs, run again and again (servers take turns in blocks).
 * `wire(trips)` hooks the connection's replies to `trips()`, the run in progress.
 */
function pingerOver(wire) {
  let current = IDLE_TRIPS;
  const { send, close } = wire(() => current);
  return {
    async run(limits) {
      current = roundTrips(send, limits);
      try {
        return await current.run();
      } finally {
        current = IDLE_TRIPS;
      }
    },
    close,
  };
}

/**
 * What a pump shares between its connections: replies counted, and whether they are answered.
 * A pump is started and stopped again and again (servers take turns): `stop()` stops answering
 * and resolves once every message in flight is back, so the next server's window starts with
 * this one idle; `primed()` resolves once a full load of in-flight messages has come back since
 * the start, so a window never measures the pipeline filling. `received(n)` counts `n` replies
 * and says how many new messages to send for them (0 when stopped).
 */
function pumpFlow(inFlight) {
  let total = 0;
  let outstanding = 0;
  let running = false;
  let sinceStart = 0;
  let waiters = [];
  const settle = () => {
    waiters = waiters.filter((w) => !w());
  };
  return {
    received(n) {
      total += n;
      sinceStart += n;
      if (running) {
        if (waiters.length > 0 && sinceStart >= inFlight) settle();
        return n;
      }
      outstanding -= n;
      if (outstanding === 0) settle();
      return 0;
    },
    control(sendAll) {
      const until = (done, ms, what) =>
        new Promise((resolve, reject) => {
          if (done()) return resolve();
          const timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
          waiters.push(() => {
            if (!done()) return false;
            clearTimeout(timer);
            resolve();
            return true;
          });
        });
      return {
        count: () => total,
        start() {
          running = true;
          sinceStart = 0;
          outstanding = inFlight;
          sendAll();
        },
        primed: (ms) => until(() => sinceStart >= inFlight, ms, 'a full load of replies'),
        stop(ms) {
          running = false;
          return until(() => outstanding === 0, ms, 'the messages in flight');
        },
      };
    },
  };
}

/**
 * Our own client over `net`: a WebSocket server, or (`raw`) the TCP echo ceiling, which is
 * spoken to without a handshake and whose echo of our masked frames is parsed as replies.
 */
export function wsDriver(port, raw) {
  return {
    async pump({ conns, inflight, size, binary }) {
      const op = binary ? OP_BINARY : OP_TEXT;
      const batch = batchOf(op, size, binary, inflight);
      const frameLength = batch.length / inflight;
      const list = await openMany(conns, OPEN_CONCURRENCY, { port, raw });
      const flow = pumpFlow(conns * inflight);
      let wrong = 0;
      for (const conn of list) {
        let got = 0;
        conn.onMessage = (opcode, length) => {
          if (opcode !== op || length !== size) wrong++;
          got++;
        };
        // Every reply is answered by one new message; the answers to one read leave in one write.
        conn.onChunk = () => {
          if (got === 0) return;
          let left = flow.received(got);
          got = 0;
          while (left > 0) {
            const n = Math.min(left, inflight);
            conn.write(n === inflight ? batch : batch.subarray(0, n * frameLength));
            left -= n;
          }
        };
      }
      return {
        ...flow.control(() => {
          for (const conn of list) conn.write(batch);
        }),
        check: () => (wrong === 0 ? null : `${wrong} replies of the wrong type or size`),
        close: () => {
          for (const conn of list) conn.destroy();
        },
      };
    },

    async pinger({ size }) {
      const conn = await open({ port, raw });
      const message = frame(OP_TEXT, payloadOf(size, false));
      return pingerOver((trips) => {
        conn.onMessage = (opcode, length) => {
          if (opcode !== OP_TEXT || length !== size)
            trips().fail(new Error('echo of the wrong type or size'));
          else trips().reply();
        };
        conn.onClose = () => trips().fail(new Error('closed during the latency run'));
        return {
          send: () => conn.write(message),
          close: () => {
            conn.onClose = null;
            conn.destroy();
          },
        };
      });
    },

    async subscribers({ count, compress }) {
      const list = await openMany(count, OPEN_CONCURRENCY, {
        port,
        raw,
        path: '/sub',
        deflate: compress,
      });
      let deliver = () => {};
      for (const conn of list) conn.onMessage = (_op, _len, compressed) => deliver(compressed);
      return {
        negotiated: raw ? false : list.every((c) => c.extensions.startsWith('permessage-deflate')),
        onDeliver(fn) {
          deliver = fn;
        },
        close: () => {
          for (const conn of list) conn.destroy();
        },
      };
    },

    async publisher() {
      const conn = await open({ port, raw, path: '/pub' });
      // The ceiling relays whatever its publisher sends: it gets a finished server frame.
      if (raw) conn.write(Buffer.from('BCAST\n'));
      return {
        publish: (text) =>
          conn.write(frame(OP_TEXT, Buffer.from(text), raw ? { masked: false } : undefined)),
        close: () => conn.destroy(),
      };
    },

    async openIdle(count) {
      const list = await openMany(count, OPEN_CONCURRENCY, { port, raw });
      return () => {
        for (const conn of list) conn.destroy();
      };
    },

    async openClose() {
      const conn = await open({ port, raw });
      if (raw) {
        // A TCP connect completes in the kernel before the server accepts it: unpaced, the
        // generator fills the accept queue and stalls on dropped SYNs. One byte echoed back
        // paces it by the server, as a WebSocket handshake's response does.
        await new Promise((resolve, reject) => {
          conn.onChunk = resolve;
          conn.onClose = () => reject(new Error('closed before the echo'));
          conn.write(PACE);
        });
        conn.onClose = null;
      }
      conn.destroy();
    },
  };
}

const PACE = Buffer.from('x');

/** socket.io with its own client (websocket transport only), as its users run it. */
export async function sioDriver(port) {
  const { io } = await import('socket.io-client');
  const url = `http://127.0.0.1:${port}`;
  const connectOne = (query, options = {}) =>
    new Promise((resolve, reject) => {
      const socket = io(url, {
        transports: ['websocket'],
        forceNew: true,
        reconnection: false,
        timeout: 30_000,
        query,
        ...options,
      });
      socket.once('connect', () => resolve(socket));
      socket.once('connect_error', (error) => {
        socket.close();
        reject(error);
      });
    });
  const connectMany = async (count, query, options) => {
    const list = new Array(count);
    let next = 0;
    const worker = async () => {
      while (next < count) {
        const index = next++;
        list[index] = await connectOne(query, options);
      }
    };
    const workers = [];
    for (let w = 0; w < Math.min(OPEN_CONCURRENCY, count); w++) workers.push(worker());
    await Promise.all(workers);
    return list;
  };
  const closeAll = (list) => {
    for (const socket of list) socket.close();
  };
  return {
    async pump({ conns, inflight, size, binary }) {
      const payload = binary ? payloadOf(size, true) : payloadOf(size, false).toString();
      const list = await connectMany(conns, { role: 'echo' });
      const flow = pumpFlow(conns * inflight);
      let wrong = 0;
      for (const socket of list) {
        socket.on('echo', (data) => {
          const length = typeof data === 'string' ? data.length : data.byteLength;
          if (length !== size || (typeof data === 'string') === binary) wrong++;
          if (flow.received(1) === 1) socket.emit('echo', payload);
        });
      }
      return {
        ...flow.control(() => {
          for (const socket of list)
            for (let i = 0; i < inflight; i++) socket.emit('echo', payload);
        }),
        check: () => (wrong === 0 ? null : `${wrong} replies of the wrong type or size`),
        close: () => closeAll(list),
      };
    },

    async pinger({ size }) {
      const [socket] = await connectMany(1, { role: 'echo' });
      const payload = payloadOf(size, false).toString();
      return pingerOver((trips) => {
        socket.on('echo', () => trips().reply());
        socket.on('disconnect', () => trips().fail(new Error('closed during the latency run')));
        return {
          send: () => socket.emit('echo', payload),
          close: () => {
            socket.removeAllListeners('disconnect');
            socket.close();
          },
        };
      });
    },

    async subscribers({ count, compress }) {
      const list = await connectMany(
        count,
        { role: 'sub' },
        compress ? { perMessageDeflate: { threshold: 0 } } : {},
      );
      let deliver = () => {};
      // socket.io-client hides the frame: whether deflate was agreed is read off its `ws`.
      const extensionsOf = (socket) => socket.io.engine?.transport?.ws?.extensions ?? '';
      for (const socket of list) socket.on('b', () => deliver(null));
      return {
        negotiated: list.every((s) => String(extensionsOf(s)).startsWith('permessage-deflate')),
        onDeliver(fn) {
          deliver = fn;
        },
        close: () => closeAll(list),
      };
    },

    async publisher() {
      const [socket] = await connectMany(1, { role: 'pub' });
      return {
        publish: (text) => socket.emit('pub', text),
        close: () => socket.close(),
      };
    },

    async openIdle(count) {
      const list = await connectMany(count, { role: 'idle' });
      return () => closeAll(list);
    },

    async openClose() {
      const socket = await connectOne({ role: 'idle' });
      socket.close();
    },
  };
}
