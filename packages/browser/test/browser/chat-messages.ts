/** The message kinds of the channels test, shared by the page and the Node side's server. */
import { defineMessages, type StandardSchemaV1 } from '@anyws/core/channels';

/** A hand-written Standard Schema (no validator dependency here). */
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
export const messages = defineMessages({ chat: { data: chatText } });
