/** Shared pieces of the channels tests on Redis: one message definition, recording a channel. */
import {
  type Channel,
  defineMessages,
  type Publication,
  type StandardSchemaV1,
} from '@anyws/core/channels';

/** A Standard Schema for `{ text: string }`, written out: the package depends on no validator. */
const chatData: StandardSchemaV1<{ text: string }> = {
  '~standard': {
    version: 1,
    vendor: 'test',
    validate: (value) =>
      typeof (value as { text?: unknown } | null)?.text === 'string'
        ? { value: value as { text: string } }
        : { issues: [{ message: 'expected { text: string }', path: ['text'] }] },
  },
};

export const messages = defineMessages({ chat: { data: chatData } });
export type Messages = typeof messages;

/** Publications of a channel as they arrive, and a bounded wait for a count of them. */
export function record(channel: Channel<Messages>) {
  const items: Publication<Messages>[] = [];
  let wake: (() => void) | null = null;
  channel.on('publication', (p) => {
    items.push(p);
    wake?.();
  });
  return {
    items,
    offsets: () => items.map((p) => p.offset),
    texts: () => items.map((p) => p.data.text),
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
