/** `/ws/echo`: every text and binary message goes back unchanged, for conformance tools and smoke tests. */
import { defineHandler, WSMsgType } from '@anyws/core';

/** The echo handler. Pull style, so awaiting each send applies backpressure to a fast sender. */
export const echoHandler = defineHandler({
  options: { maxMessageSize: 16 * 1024 * 1024 },
  async session(conn) {
    for await (const message of conn) {
      if (message.type === WSMsgType.TEXT) await conn.sendText(message.data);
      else if (message.type === WSMsgType.BINARY) await conn.sendBytes(message.data);
    }
  },
});
