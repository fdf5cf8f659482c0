/** Recording a channel in the Redis channels tests (their messages: the contract's `chatMessages`). */
import type { Channel, Publication } from '@anyws/core/channels';
import type { ChatMessages as Messages } from '@anyws/core/contract';

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
