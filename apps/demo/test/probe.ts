// A client of the chat for tests, on any connection: channels' own client, and what it
// received, read in order with bounded waits.
import type { WebSocketConnection } from '@anyws/core';
import {
  type AnyMessage,
  ChannelClient,
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

  constructor(
    readonly conn: WebSocketConnection,
    /** How long a wait for one message may take, in ms. */
    readonly timeout = 10_000,
  ) {
    this.channels = new ChannelClient({ messages: chatMessages }, conn);
    this.channels.onMessage((message) => this.#push(this.#messages, message));
    // What came with the opening, before this listened, is handed to the channel client by the
    // connection (messages queued before the first listener go to it first).
    this.channels.on('error', () => undefined);
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
