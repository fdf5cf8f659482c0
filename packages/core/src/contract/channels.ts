/**
 * What the channels tests share: one message definition (a `chat` kind carrying
 * `{ text: string }`), a record of a channel's publications and a reading of the wire. It sits in the contract entry because every
 * runtime's test bundle (the browser page, the workerd fixtures, Deno) already imports that entry.
 */
import {
  type Channel,
  defineMessages,
  type MessageDefs,
  type Publication,
  type StandardSchemaV1,
} from '../channels/index.js';
import type { WebSocketConnection } from '../connection.js';
import { WSMsgType } from '../protocol.js';

/**
 * A Standard Schema for `{ text: string }`, written out so that no package's tests need a
 * validator dependency to use it.
 */
const chatText: StandardSchemaV1<{ text: string }> = {
  '~standard': {
    version: 1,
    vendor: 'anyws-test',
    validate: (value) =>
      typeof (value as { text?: unknown } | null)?.text === 'string'
        ? { value: value as { text: string } }
        : { issues: [{ message: 'expected { text: string }', path: ['text'] }] },
  },
};

/** The channels tests' messages: one `chat` kind with `{ text: string }` data. */
export const chatMessages = defineMessages({ chat: { data: chatText } });

/** The type of {@link chatMessages}, for a test's `Channel<ChatMessages>` and the like. */
export type ChatMessages = typeof chatMessages;

/**
 * The offsets of the `pub` frames `conn` receives from now on, as they come on the wire: a
 * duplicate or a gap shows here even where a `ChannelClient` would hide it.
 */
export function wireOffsets(conn: WebSocketConnection<unknown>): number[] {
  const offsets: number[] = [];
  conn.on('message', (message) => {
    if (message.type === WSMsgType.TEXT && message.data.startsWith('{"v":1,"t":"pub"'))
      offsets.push((JSON.parse(message.data) as { offset: number }).offset);
  });
  return offsets;
}

/** What {@link recordPublications} keeps of a channel. */
export interface PublicationRecord<M extends MessageDefs> {
  /** The publications, in the order they arrived. */
  readonly items: Publication<M>[];
  /** Their offsets, in that order. */
  offsets(): number[];
  /** Resolves once `n` publications have arrived; rejects after `ms` (default 10 s) without. */
  count(n: number, ms?: number): Promise<void>;
}

/** Records the publications of `channel` as they arrive, with a bounded wait for a count of them. */
export function recordPublications<M extends MessageDefs>(
  channel: Channel<M>,
): PublicationRecord<M> {
  const items: Publication<M>[] = [];
  let wake: (() => void) | null = null;
  channel.on('publication', (p) => {
    items.push(p);
    wake?.();
  });
  return {
    items,
    offsets: () => items.map((p) => p.offset),
    async count(n: number, ms = 10_000): Promise<void> {
      const deadline = Date.now() + ms;
      while (items.length < n) {
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`got ${String(items.length)} of ${String(n)} publications`);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, left);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
    },
  };
}
