// A client of the chat for tests, on any connection: channels' own client, and what it
// received, read in order with bounded waits.
import { type WebSocketConnection, WSMsgType } from '@anyws/core';
import {
  type AnyMessage,
  ChannelClient,
  decodeFrame,
  type KindOf,
  type Publication,
} from '@anyws/core/channels';
import { type ChatMessages, chatMessages, roomChannel } from '../src/messages.js';

type Message = AnyMessage<ChatMessages>;
type Of<K extends KindOf<ChatMessages>> = Extract<Message, { kind: K }>;

/** A client of the chat: its channels client, and what it received, read in order. */
export class Probe {
  readonly channels: ChannelClient<ChatMessages>;
  readonly #messages: Message[] = [];
  readonly #publications: Publication<ChatMessages>[] = [];
  #wake: (() => void) | null = null;
  readonly #early: Promise<void>;

  constructor(
    readonly conn: WebSocketConnection,
    /** How long a wait for one message may take, in ms. */
    readonly timeout = 10_000,
  ) {
    this.channels = new ChannelClient({ messages: chatMessages }, conn);
    this.channels.onMessage((message) => this.#push(this.#messages, message));
    this.channels.on('error', () => undefined);
    this.#early = this.#drain();
  }

  /**
   * What the server sent before the client listened (`connect` resolves after messages that
   * came with the handshake's answer) waits in the connection's queue, for `receive()`: the
   * one-way messages among it are read first (a channel client only hears what comes later).
   */
  async #drain(): Promise<void> {
    const early: Message[] = [];
    for (let i = 0; i < 100; i++) {
      const message = await this.conn.receive({ timeout: 1 }).catch(() => null);
      if (message === null) break;
      if (message.type !== WSMsgType.TEXT) continue;
      const frame = decodeFrame(message.data, 'client');
      if (frame && 't' in frame && frame.t === 'msg') early.push(frame as Message);
    }
    this.#messages.unshift(...early);
  }

  /** Joins the room's channel; publications are collected from then on. */
  async join(room = 'general') {
    const channel = this.channels.channel(roomChannel(room));
    channel.on('publication', (p) => this.#push(this.#publications, p));
    return channel.join();
  }

  #push<T>(list: T[], item: T): void {
    list.push(item);
    this.#wake?.();
  }

  async #take<T>(list: T[], match: (item: T) => boolean): Promise<T> {
    await this.#early;
    const deadline = Date.now() + this.timeout;
    for (;;) {
      const index = list.findIndex(match);
      if (index >= 0) return list.splice(0, index + 1)[index]!;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`the awaited message did not come within ${this.timeout} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  /** The next one-way message of `kind` that `match`es (those before it are skipped). */
  until<K extends KindOf<ChatMessages>>(
    kind: K,
    match: (message: Of<K>) => boolean = () => true,
  ): Promise<Of<K>> {
    return this.#take(this.#messages, (m) => m.kind === kind && match(m as Of<K>)) as Promise<
      Of<K>
    >;
  }

  /** The next publication. */
  publication(): Promise<Publication<ChatMessages>> {
    return this.#take(this.#publications, () => true);
  }
}
