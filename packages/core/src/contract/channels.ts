/**
 * The one message definition the adapters' channels tests share: a `chat` kind carrying
 * `{ text: string }`. It sits in the contract entry because every runtime's test bundle (the
 * browser page, the workerd fixtures, Deno) already imports that entry.
 */
import { defineMessages, type StandardSchemaV1 } from '../channels/index.js';

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
