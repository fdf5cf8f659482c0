// The Worker of `pnpm bench:workers`, bundled from source and run in workerd (Miniflare).
// The same two rooms twice: with @anyws/workers `WebSocketRoom` and a hooks handler as its
// README writes them, and as hand-written Durable Objects on the raw Hibernation API, each as
// lean as it can be (one class per job, so no per-message dispatch); the raw ones once more as
// identical twins (the control). Paths:
// /<impl>-<job>/<room>/<role>: impl `anyws`, `raw` or `twin`; job `echo` (every message back to its
// sender) or `bcast`, where role `sub` subscribes to the room's one topic and every message
// sent on another role goes to all subscribers.
import { DurableObject } from 'cloudflare:workers';
import { WebSocketRoom } from '../../packages/workers/src/index.ts';
import { BINDINGS } from './bindings.mjs';

const TOPIC = 'bench';

export class AnywsEcho extends WebSocketRoom {
  handler = { message: (conn, msg) => conn.send(msg.data) };
}

export class AnywsBcast extends WebSocketRoom {
  handler = {
    // Subscribed in open: the topic becomes the socket's tag.
    open: (conn) => {
      if (conn.url.endsWith('/sub')) conn.subscribe(TOPIC);
    },
    message: (conn, msg) => {
      conn.publish(TOPIC, msg.data);
    },
  };
}

function accept(ctx, tags) {
  const pair = new WebSocketPair();
  ctx.acceptWebSocket(pair[1], tags);
  return new Response(null, { status: 101, webSocket: pair[0] });
}

/** The close handshake, as the Hibernation API leaves it to the object. */
function answerClose(ws, code) {
  try {
    ws.close(code === 1005 || code === 1006 ? 1000 : code, '');
  } catch {
    // Already closed.
  }
}

/**
 * The raw echo object. Made by a function so that the bench gets two identical classes: the
 * raw object and its twin, the control that shows how far the method itself moves a ratio.
 */
function rawEcho() {
  return class extends DurableObject {
    fetch() {
      return accept(this.ctx, []);
    }

    webSocketMessage(ws, message) {
      ws.send(message);
    }

    webSocketClose(ws, code) {
      answerClose(ws, code);
    }
  };
}

/** The raw broadcast object (made by a function, as {@link rawEcho}). */
function rawBcast() {
  return class extends DurableObject {
    fetch(request) {
      return accept(this.ctx, new URL(request.url).pathname.endsWith('/sub') ? [TOPIC] : []);
    }

    webSocketMessage(_ws, message) {
      for (const sub of this.ctx.getWebSockets(TOPIC)) {
        try {
          sub.send(message);
        } catch {
          // Closing: its webSocketClose follows.
        }
      }
    }

    webSocketClose(ws, code) {
      answerClose(ws, code);
    }
  };
}

export const RawEcho = rawEcho();
export const RawBcast = rawBcast();
export const TwinEcho = rawEcho();
export const TwinBcast = rawBcast();

export default {
  fetch(request, env) {
    const [, binding, room] = new URL(request.url).pathname.split('/');
    const namespace = BINDINGS[binding] ? env[BINDINGS[binding]] : undefined;
    if (!namespace || !room) return new Response('not found', { status: 404 });
    if (request.headers.get('Upgrade') !== 'websocket')
      return new Response('expected a WebSocket upgrade', { status: 426 });
    return namespace.get(namespace.idFromName(room)).fetch(request);
  },
};
