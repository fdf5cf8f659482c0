// The reconnecting clients of the recovery bench, in the runner's process: anyws's
// ChannelClient on @anyws/node's `connect`, and socket.io-client. Each client is in its own
// channel/room and records what it gets there, to check each missed message arrives once, in
// order, and nothing else.
import { ChannelClient, defineMessages } from '@anyws/core/channels';
import { connect } from '@anyws/node';
import { io } from 'socket.io-client';
import { ownRoom } from './common.mjs';

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits (polling, bounded) until `done()`; throws `what` after `ms`. */
export async function until(done, what, ms = 60_000) {
  const deadline = Date.now() + ms;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(2);
  }
}

/** What one client got since `reset()`. */
class Record {
  constructor(room) {
    this.room = room;
    this.reset();
  }
  reset() {
    this.seqs = [];
    this.foreign = 0;
    this.recovered = null;
    this.doneAt = 0;
    this.want = Number.POSITIVE_INFINITY;
  }
  got(data) {
    if (data?.room !== this.room) this.foreign++;
    else this.seqs.push(data.seq);
    if (this.seqs.length === this.want) this.doneAt = performance.now();
  }
  /** Problems with what arrived, expecting exactly `from`..`to` in order; [] when none. */
  check(from, to) {
    const problems = [];
    const expected = to - from + 1;
    if (this.seqs.length !== expected) problems.push(`${this.seqs.length} of ${expected}`);
    for (let k = 0; k < this.seqs.length; k++) {
      if (this.seqs[k] !== from + k) {
        problems.push(`seq ${this.seqs[k]} at position ${k + 1} (expected ${from + k})`);
        break;
      }
    }
    if (this.foreign > 0) problems.push(`${this.foreign} from other rooms`);
    return problems;
  }
}

const passthrough = {
  '~standard': { version: 1, vendor: 'bench', validate: (value) => ({ value }) },
};
const messages = defineMessages({ m: { data: passthrough } });

/** `count` anyws clients, client i in channel `c<i>`, joined. */
export async function anywsClients(port, count) {
  const url = `ws://127.0.0.1:${port}/`;
  const clients = [];
  for (let i = 0; i < count; i++) {
    const record = new Record(ownRoom(i));
    const client = new ChannelClient({ messages });
    client.on('error', () => undefined);
    client.attach(await connect(url));
    const channel = client.channel(record.room);
    channel.on('publication', (p) => record.got(p.data));
    channel.on('joined', (r) => {
      record.recovered = r.recovered;
    });
    await channel.join();
    clients.push({ client, record });
  }
  return {
    records: clients.map((c) => c.record),
    async disconnect() {
      await Promise.all(clients.map(({ client }) => client.connection?.close()));
      await until(() => clients.every(({ client }) => client.connection === null), 'closes');
    },
    // Each client opens a new connection and attaches it: the client joins again with its
    // position, and the server replays what it missed.
    reconnect: () =>
      Promise.all(clients.map(async ({ client }) => client.attach(await connect(url)))),
    close: () => Promise.all(clients.map(({ client }) => client.connection?.close())),
  };
}

/** `count` socket.io clients, client i in room `c<i>` (joined by the server), connected. */
export async function socketioClients(port, count) {
  const url = `http://127.0.0.1:${port}`;
  const clients = [];
  for (let i = 0; i < count; i++) {
    const record = new Record(ownRoom(i));
    // reconnection: false: the bench reconnects them itself, all at once, with socket.connect()
    // (the client keeps its session id and last offset for that).
    const socket = io(url, {
      transports: ['websocket'],
      forceNew: true,
      reconnection: false,
      timeout: 30_000,
      query: { room: record.room },
    });
    socket.on('m', (data) => record.got(data));
    socket.on('connect', () => {
      record.recovered = socket.recovered;
    });
    await new Promise((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('connect_error', reject);
    });
    clients.push({ socket, record });
  }
  return {
    records: clients.map((c) => c.record),
    async disconnect() {
      // The transport closes under the client, as when a network drops: the server sees a
      // "transport close", which is recoverable (an explicit disconnect() is not).
      for (const { socket } of clients) socket.io.engine.close();
      await until(() => clients.every(({ socket }) => !socket.connected), 'disconnects');
    },
    reconnect: () =>
      Promise.all(
        clients.map(
          ({ socket }) =>
            new Promise((resolve, reject) => {
              socket.once('connect', resolve);
              socket.once('connect_error', reject);
              socket.connect();
            }),
        ),
      ),
    close: async () => {
      for (const { socket } of clients) socket.close();
    },
  };
}
