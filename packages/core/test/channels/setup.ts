/** Shared setup of the channels tests: one definition, a server, clients over createPair. */
import * as v from 'valibot';
import {
  ChannelClient,
  type ChannelClientOptions,
  ChannelError,
  type ChannelHistory,
  ChannelServer,
  type ChannelServerOptions,
  defineMessages,
  type HistoryRead,
  MemoryHistory,
  type StreamPosition,
} from '../../src/channels/index.js';
import { createPair, type MemoryTransport } from '../../src/testing.js';

/** The contract's record of a channel's publications (a bounded wait for a count of them). */
export { recordPublications as record } from '../../src/contract/channels.js';

export const messages = defineMessages({
  chat: { data: v.object({ text: v.string() }) },
  add: { data: v.object({ a: v.number(), b: v.number() }), reply: v.number() },
  hang: { data: v.null(), reply: v.null() },
  whoami: { data: v.null(), reply: v.object({ name: v.string() }) },
  typing: { data: v.boolean() },
  // Transforms on receive: the reply is a string on the wire, a Date after validation.
  when: {
    data: v.null(),
    reply: v.pipe(
      v.string(),
      v.isoTimestamp(),
      v.transform((s) => new Date(s)),
    ),
  },
});
export type Messages = typeof messages;

export type ServerOptions = Partial<ChannelServerOptions<Messages, { name: string }>>;

export function makeServer(options: ServerOptions = {}) {
  return new ChannelServer<Messages, { name: string }>({
    messages,
    authorize: () => true,
    history: new MemoryHistory({ epoch: () => 'e1' }),
    ...options,
  });
}

/** A client connected to `server` over a new in-memory pair. */
export function connectTo(
  server: ChannelServer<Messages, { name: string }>,
  clientOptions: Partial<ChannelClientOptions<Messages>> = {},
  context = { name: 'ada' },
) {
  return link(server, new ChannelClient({ messages, ...clientOptions }), context);
}

/** Moves `client` to a new connection to `server` (the old one is dropped), as a reconnect does. */
export function reconnect(
  server: ChannelServer<Messages, { name: string }>,
  client: ChannelClient<Messages>,
  old: { conn: { terminate(): void } },
) {
  old.conn.terminate();
  return link(server, client, { name: 'ada' });
}

function link(
  server: ChannelServer<Messages, { name: string }>,
  client: ChannelClient<Messages>,
  context: { name: string },
) {
  const pair = createPair();
  pair.server.context = context;
  const peer = server.serve(pair.server as Parameters<typeof server.serve>[0]);
  client.attach(pair.client);
  return {
    conn: pair.client,
    serverConn: pair.server,
    serverTransport: pair.serverTransport,
    peer,
    client,
  };
}

/**
 * The offsets of the `pub` frames a server sent on one connection, as they went on the wire: a
 * duplicate or a gap shows here even where the client would hide it.
 */
export function wireOffsets(transport: MemoryTransport): number[] {
  const out: number[] = [];
  for (const frame of transport.sent) {
    if (frame.kind !== 'text' || !frame.data.startsWith('{"v":1,"t":"pub"')) continue;
    out.push((JSON.parse(frame.data) as { offset: number }).offset);
  }
  return out;
}

/**
 * A history whose reads the test releases by hand. `snapshot: 'early'` reads the inner history
 * when asked and answers on release (publications made meanwhile are not in the answer);
 * `'late'` reads on release (they are).
 */
export class GatedHistory implements ChannelHistory {
  readonly inner = new MemoryHistory({ epoch: () => 'e1' });
  readonly #gates: (() => void)[] = [];
  reads = 0;
  /** False: reads answer at once (the gate is open for good). */
  gated = true;
  constructor(readonly snapshot: 'early' | 'late') {}
  append(channel: string, kind: string, data: unknown): Promise<StreamPosition> {
    return this.inner.append(channel, kind, data);
  }
  async read(channel: string, since?: StreamPosition): Promise<HistoryRead> {
    this.reads++;
    if (!this.gated) return this.inner.read(channel, since);
    const early = this.snapshot === 'early' ? await this.inner.read(channel, since) : null;
    if (this.gated) await new Promise<void>((resolve) => this.#gates.push(resolve));
    return early ?? this.inner.read(channel, since);
  }
  /** Reads waiting for release. */
  get waiting(): number {
    return this.#gates.length;
  }
  /** Opens the gate for good. */
  open(): void {
    this.gated = false;
    this.release();
  }
  release(): void {
    for (const open of this.#gates.splice(0)) open();
  }
}

/** The ChannelError `promise` rejects with; fails the test when it resolves or rejects otherwise. */
export async function refusal(promise: Promise<unknown>): Promise<ChannelError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof ChannelError) return error;
    throw error;
  }
  throw new Error('expected a ChannelError, the promise resolved');
}

/** Lets microtasks and the memory transport's deliveries run until `done()` or a bound. */
export async function until(done: () => boolean, rounds = 2000): Promise<void> {
  for (let i = 0; i < rounds && !done(); i++) await Promise.resolve();
  if (!done()) throw new Error('condition not reached');
}
