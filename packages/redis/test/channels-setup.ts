/** Recording a channel in the Redis channels tests (their messages: the contract's `chatMessages`). */
import type { Channel } from '@anyws/core/channels';
import { type ChatMessages, recordPublications } from '@anyws/core/contract';

/** The contract's record of a channel's publications, plus their texts. */
export function record(channel: Channel<ChatMessages>) {
  const recorded = recordPublications(channel);
  return { ...recorded, texts: () => recorded.items.map((p) => p.data.text) };
}
